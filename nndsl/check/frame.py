"""The state of one evaluation: the frame of a block instance being evaluated, the result of
inference, and the bounds on one evaluation.
"""

from __future__ import annotations

from typing import Any

from nndsl import ir
from nndsl.check.graph import (
    BlockInstance,
)
from nndsl.errors import Diagnostic, Span
from nndsl.records import dataclass, field

MAX_INSTANCES = 20000


MAX_REPEAT = 10000


@dataclass
class Frame:
    """The state of one block instance being evaluated."""

    decl: ir.BlockDecl
    inst: BlockInstance
    vars: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(
        default_factory=dict
    )  # name → "value" | "param" | "input" | "loop"
    bound_at: dict[str, Span] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    cur: Any = None
    cur_set: bool = False
    loop_counts: dict[str, int] = field(default_factory=dict)
    in_loop: int = 0
    taken: set[str] = field(default_factory=set)
    label_at: dict[str, Span] = field(default_factory=dict)  # labels made from loop values
    hint: str | None = None  # the name the current statement assigns, for the ops it emits


@dataclass
class Inference:
    """The result: an instance per model of the root file (None where it could not be built)."""

    models: dict[str, BlockInstance | None] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    used_fallback: bool = False
