"""Size limits: no step makes a tensor, a module or a tree of block instances larger than
torch (or a machine) can hold; each is an error where it is written.
"""

from __future__ import annotations

from nndsl import limits
from nndsl.catalog.core import TensorT
from nndsl.check.frame import MAX_INSTANCES
from nndsl.check.graph import ModuleSlot, Op, SlotKind
from nndsl.check.messages import magnitude
from nndsl.check.values import Abort, static_numel, tensor_types
from nndsl.errors import Span


class SizeLimits:
    """The limits on sizes (a part of `Evaluator`)."""

    def check_sizes(self, op: Op) -> None:
        """A step whose tensor, or whose module's parameters, would hold more elements than an
        int64 counts (limits.MAX_NUMEL) is an error where it is written."""
        for t in tensor_types(op.out):
            if self.too_many_elements(t, op.span, "this step makes"):
                raise Abort
        if op.kind == "module" and isinstance(op.target, ModuleSlot):
            if not self.domain.checks_runtime_sizes:
                # generic classes re-evaluate what the checker accepted: its counts stand (and
                # counting a nested block's parameters again at each level of each re-evaluation
                # made generating a chain of nested blocks cubic in its length)
                return
            blocks = self.expanded_blocks(op.target)
            if blocks > MAX_INSTANCES:
                self.error(
                    f"`{op.target.type_name}` would build {blocks:,} block instances, more "
                    f"than {MAX_INSTANCES:,}",
                    op.span,
                    hint="each use of a block is a module of its own, so blocks that use a "
                    "block twice, nested, double the count at each level: use fewer",
                )
                raise Abort
            n = op.target.total_params()
            if isinstance(n, int) and n > limits.MAX_NUMEL:
                self.error(
                    f"`{op.target.type_name}` would have {magnitude(n)} parameters",
                    op.span,
                    hint=f"a model holds at most {limits.MAX_NUMEL:,} parameters (int64): "
                    "check the sizes",
                )
                raise Abort

    def expanded_blocks(self, slot: ModuleSlot) -> int:
        """How many block instances `slot` is as torch modules: each use of a block counts,
        and everything inside it (counted once per instance, remembered in `self.expanded`)."""
        if slot.kind is SlotKind.SEQUENTIAL:
            return sum(self.expanded_blocks(c) for c in slot.children)
        inst = slot.instance
        if slot.kind is not SlotKind.BLOCK or inst is None:
            return 0
        known = self.expanded.get(id(inst))
        if known is None:
            count = 1 + sum(self.expanded_blocks(m) for m in inst.modules)
            known = self.expanded[id(inst)] = (inst, count)
        return known[1]

    def too_many_elements(self, t: TensorT, span: Span, what: str) -> bool:
        """Whether `t` holds more elements than a tensor can (reported at `span`); symbolic
        dimensions count as at least 1."""
        n = static_numel(t)
        if n <= limits.MAX_NUMEL:
            return False
        self.error(
            f"{what} a tensor {t} of {magnitude(n)} elements, more than a tensor can hold",
            span,
            hint=f"a tensor holds at most {limits.MAX_NUMEL:,} elements (int64)",
        )
        return True
