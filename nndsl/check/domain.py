"""Value domains: what the evaluator's compile-time values are, passed in rather than overridden.

The evaluator (nndsl/check/infer.py) runs the language's rules over block bodies.  Two kinds of
evaluation share them and differ only in their values:

* `ConcreteDomain`, the checker's: every block parameter has a value at each use, and the only
  symbols are the sizes of the models' inputs that are known when the model runs (`B`, `T`).
  Every condition is decided, every count known; dividing a size by a symbol is an error.
* `SymbolicDomain` (nndsl/codegen/generic.py), the code generator's: one declaration evaluated
  once with its parameters as symbols or opaque values, to become ONE class.  A condition on a
  parameter is undecided (an `if` in the class), a repetition by a parameter a comprehension;
  what a class cannot express is refused.

The evaluator asks its domain at the few places where the two differ (`ValueDomain`); a hook
that returns `NotImplemented` lets the evaluator apply the checker's rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from nndsl import ir
    from nndsl.check.graph import BlockInstance, ModuleSlot, Op, TensorV
    from nndsl.check.infer import Evaluator, Frame
    from nndsl.errors import Span


class ValueDomain(Protocol):
    """The hooks through which an evaluation's values differ; `ev` is the evaluator."""

    #: sizes that are symbols are checked as run-time sizes (they cannot size a module)
    checks_runtime_sizes: bool
    #: a size divided by a symbol is an opaque size (`dims.floordiv(..., opaque=True)`)
    opaque_quotients: bool

    def undecided(self, v: Any) -> bool:
        """`v` is only known when the class is instantiated (a condition, a count)."""

    def opaque(self, v: Any) -> bool:
        """`v` is a non-numeric value only known when the class is instantiated."""

    def refuse(self, what: str) -> NoReturn:
        """Stop: this evaluation cannot express `what`."""

    def bound(self, ev: Evaluator, frame: Frame, name: str, value: Any, kind: str) -> Any:
        """The value bound to `name` (a statement `name = value`, a loop variable, ...)."""

    def step(self, op: Op) -> Op:
        """A forward step, as recorded."""

    def module(self, slot: ModuleSlot) -> ModuleSlot:
        """A module created by a layer, as recorded."""

    def compare(self, ev: Evaluator, e: ir.Compare, left: Any, right: Any, frame: Frame) -> Any:
        """`left <op> right` (operands evaluated)."""

    def bool_op(self, op: str, left: Any, right: Any) -> Any:
        """`left and/or right`, where `left` is undecided (both are truth values)."""

    def unary(self, ev: Evaluator, e: ir.UnaryOp, v: Any, frame: Frame) -> Any:
        """`-v`, `+v`, `not v` (operand evaluated)."""

    def scalar_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any) -> Any:
        """Arithmetic on values that are not tensors."""

    def tensor_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        """Arithmetic with a tensor operand, or NotImplemented (the checker's rule)."""

    def if_exp(self, ev: Evaluator, e: ir.IfExp, cond: Any, frame: Frame, stage: bool) -> Any:
        """`a if cond else b` with an undecided `cond`."""

    def apply(
        self,
        ev: Evaluator,
        layer_v: Any,
        value: Any,
        frame: Frame,
        span: Span,
        into: list | None,
        label: str | None,
    ) -> Any:
        """Feed `value` through an unapplied layer, or NotImplemented (the checker's rule)."""

    def builtin(self, ev: Evaluator, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        """`int(...)`, `max(...)`, ..., or NotImplemented (the checker's rule)."""

    def instance(
        self,
        ev: Evaluator,
        decl: ir.BlockDecl,
        params: dict[str, Any],
        inputs: list[TensorV],
        call_span: Span,
    ) -> BlockInstance | None | Any:
        """A block called by the one evaluated, or NotImplemented (the checker's rule)."""

    def check_label(self, ev: Evaluator, e: ir.Labeled, frame: Frame) -> str | None:
        """Before the holes of a label (`layer{i + 1}`) are filled: None, or the label."""

    def check_stage_loop(self, ev: Evaluator, iter_: ir.Expr, frame: Frame) -> None:
        """Before a `for` stage unrolls over `iter_`."""

    def index(self, ev: Evaluator, e: ir.Index, value: Any, frame: Frame) -> Any:
        """`value[...]` where `value` is opaque (a list parameter)."""

    def stage_loop(
        self,
        ev: Evaluator,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span: Span,
        frame: Frame,
        items: list,
    ) -> Any:
        """A `for` stage: its layers added to `items`, or NotImplemented (the checker's rule)."""

    def conditional_loop(self, ev: Evaluator, stmt: ir.For, iter_: ir.Expr, frame: Frame) -> Any:
        """A `for` statement whose iterable `iter_` is undecided, or NotImplemented (refused)."""


class ConcreteDomain:
    """The checker's values: every parameter has its value at each use (see the module
    docstring).  Stateless: one instance serves every evaluator."""

    checks_runtime_sizes = True
    opaque_quotients = False

    def undecided(self, v: Any) -> bool:
        return False

    def opaque(self, v: Any) -> bool:
        return False

    def refuse(self, what: str) -> NoReturn:
        raise AssertionError(f"the checker's values are always known ({what})")

    def bound(self, ev: Evaluator, frame: Frame, name: str, value: Any, kind: str) -> Any:
        return value

    def step(self, op: Op) -> Op:
        return op

    def module(self, slot: ModuleSlot) -> ModuleSlot:
        return slot

    def compare(self, ev: Evaluator, e: ir.Compare, left: Any, right: Any, frame: Frame) -> Any:
        return ev.compare_values(e, left, right, frame)

    def bool_op(self, op: str, left: Any, right: Any) -> Any:
        raise AssertionError("the checker's conditions are always decided")

    def unary(self, ev: Evaluator, e: ir.UnaryOp, v: Any, frame: Frame) -> Any:
        return ev.unary_value(e, v, frame)

    def scalar_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any) -> Any:
        return ev.arithmetic(e, left, right)

    def tensor_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        return NotImplemented

    def if_exp(self, ev: Evaluator, e: ir.IfExp, cond: Any, frame: Frame, stage: bool) -> Any:
        raise AssertionError("the checker's conditions are always decided")

    def apply(
        self,
        ev: Evaluator,
        layer_v: Any,
        value: Any,
        frame: Frame,
        span: Span,
        into: list | None,
        label: str | None,
    ) -> Any:
        return NotImplemented

    def builtin(self, ev: Evaluator, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        return NotImplemented

    def instance(
        self,
        ev: Evaluator,
        decl: ir.BlockDecl,
        params: dict[str, Any],
        inputs: list[TensorV],
        call_span: Span,
    ) -> Any:
        return NotImplemented

    def check_label(self, ev: Evaluator, e: ir.Labeled, frame: Frame) -> str | None:
        return None

    def check_stage_loop(self, ev: Evaluator, iter_: ir.Expr, frame: Frame) -> None:
        return None

    def index(self, ev: Evaluator, e: ir.Index, value: Any, frame: Frame) -> Any:
        raise AssertionError("the checker's values are never opaque")

    def stage_loop(
        self,
        ev: Evaluator,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span: Span,
        frame: Frame,
        items: list,
    ) -> Any:
        return NotImplemented

    def conditional_loop(self, ev: Evaluator, stmt: ir.For, iter_: ir.Expr, frame: Frame) -> Any:
        return NotImplemented


CONCRETE = ConcreteDomain()

__all__ = ["CONCRETE", "ConcreteDomain", "ValueDomain"]
