"""Operators and conditions: unary and binary operators on tensors and compile-time values,
comparisons, `and`/`or`, `a if c else b`, and the truth of a condition.
"""

from __future__ import annotations

from typing import Any

from nndsl import dims, ir, limits
from nndsl.catalog.core import (
    ShapeError,
    TensorT,
    arithmetic_type,
    broadcast,
    describe,
)
from nndsl.catalog.functions import matmul_shape
from nndsl.check.frame import MAX_REPEAT, Frame
from nndsl.check.graph import (
    Op,
    OpKind,
    Origin,
    TensorV,
)
from nndsl.check.messages import ir_text, operand_note
from nndsl.check.values import POISON, Poison, RepeatV, fmt_value, free, is_layer, operand_type
from nndsl.dims import Sym
from nndsl.errors import Note

_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


class Operators:
    """Operators and conditions (a part of `Evaluator`)."""

    def e_UnaryOp(self, e: ir.UnaryOp, frame: Frame, stage: bool) -> Any:
        return self.domain.unary(self, e, self.expr(e.operand, frame), frame)

    def unary_value(self, e: ir.UnaryOp, v: Any, frame: Frame) -> Any:
        """`e` with its operand already evaluated to `v`."""
        if v is POISON:
            return POISON
        if e.op == "not":
            b = self.truth(v, e.operand)
            return POISON if b is POISON else (not b)
        if isinstance(v, TensorV):
            if e.op == "+":
                return v
            if v.type.dtype == "bool":
                return self.error(
                    f"`-` cannot negate a bool tensor ({v.type})",
                    e.span,
                    hint="`mask == false` inverts a mask; `mask.float()` converts it first",
                )
            op = self.emit(frame, Op(OpKind.UNARY, e.op, (v,), (), v.type, e.span))
            return TensorV(v.type, op, Origin(f"`{e.op}`", e.span, v.type))
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            return self.error(f"`{e.op}` needs a number, not {describe(v)}", e.span)
        return -v if e.op == "-" else v

    def e_BinOp(self, e: ir.BinOp, frame: Frame, stage: bool) -> Any:
        left = self.expr(e.left, frame, stage=stage and e.op == "*")
        right = self.expr(e.right, frame)
        if e.op == "*" and is_layer(left) and self.domain.undecided(right):
            return RepeatV(left, right, e, e.span)  # repeated by a count known at instantiation
        return self.binop_value(e, left, right, frame)

    def binop_value(self, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        """`e` with its operands already evaluated (each once: a chain of operators stays
        linear)."""
        if left is POISON or right is POISON:
            return POISON
        if is_layer(left) or is_layer(right):
            if e.op == "*" and is_layer(left):
                n = right
                if isinstance(n, bool) or not isinstance(n, int):
                    declared = (
                        next((p for p in frame.decl.params if p.name == e.right.id), None)
                        if isinstance(e.right, ir.Name)
                        else None
                    )
                    return self.error(
                        f"a layer is repeated by an integer known at compile time, not {describe(n)}",
                        e.right.span,
                        notes=[Note(f"`{declared.name}` is declared at {{at}}", declared.span)]
                        if declared is not None
                        else [],
                        hint=f"declare it as `{declared.name}: int`"
                        if declared is not None and isinstance(n, float)
                        else None,
                    )
                if n < 0:
                    return self.error(
                        f"a layer cannot be repeated {n} times",
                        e.right.span,
                        hint="`Layer * 0` is no layer at all; the count must not be negative",
                    )
                if n > MAX_REPEAT:
                    return self.error(f"{n} repetitions are too many", e.right.span)
                return RepeatV(left, n, e, e.span)
            side = e.left if is_layer(left) else e.right
            return self.error(
                f"`{e.op}` cannot combine a layer with a value",
                side.span,
                hint="`Layer * n` repeats a layer; to add the outputs of layers apply them first: `(x -> A) + (x -> B)`",
            )
        if isinstance(left, TensorV) or isinstance(right, TensorV):
            return self.tensor_binop(e, left, right, frame)
        return self.scalar_binop(e, left, right)

    def tensor_binop(self, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        value = self.domain.tensor_binop(self, e, left, right, frame)
        if value is not NotImplemented:
            return value
        for side, v in ((e.left, left), (e.right, right)):
            if not isinstance(v, (TensorV, int, float, Sym)) or isinstance(v, bool):
                return self.error(f"`{e.op}` cannot combine a tensor with {describe(v)}", side.span)
        lt, rt = operand_type(left), operand_type(right)
        try:
            if e.op == "@":
                if not (isinstance(left, TensorV) and isinstance(right, TensorV)):
                    return self.error("`@` multiplies two tensors", e.span)
                out = matmul_shape(lt, rt)
            elif e.op in ("+", "-", "*", "/", "//", "%", "**"):
                out = arithmetic_type(e.op, lt, rt)
            elif e.op in _COMPARISONS:
                out = TensorT(broadcast(lt, rt, e.op).shape, "bool")
            else:
                return self.error(f"`{e.op}` is not defined for tensors", e.span)
        except ShapeError as exc:
            notes = [
                operand_note(v, side, which)
                for v, side, which in ((left, e.left, "left"), (right, e.right, "right"))
                if isinstance(v, TensorV) and v.origin.span is not None
            ]
            if e.op == "@" and "inner dimensions" in exc.message:
                inner_l = lt.shape[-1]
                inner_r = rt.shape[-2] if rt.rank > 1 else rt.shape[0]
                return self.error(
                    f"`@` cannot multiply {lt} by {rt}: the left's last dimension "
                    f"({dims.format_dim(inner_l)}) differs from the right's "
                    f"{'second-to-last' if rt.rank > 1 else 'only'} one ({dims.format_dim(inner_r)})",
                    e.span,
                    notes=notes,
                    hint="`a @ b` multiplies [..., n, k] by [..., k, m]; transpose an operand "
                    "if needed, as in `q @ k.transpose(-2, -1)`",
                )
            if not exc.message.startswith("shapes "):  # not a broadcasting problem
                return self.error(exc.message, e.span, notes=notes, hint=exc.hint)
            return self.error(
                f"`{e.op}` cannot combine {lt} and {rt}",
                e.span,
                notes=notes,
                hint=exc.hint
                or "the shapes must be equal or broadcastable (each dimension equal, or 1)"
                + (
                    "; a shortcut around layers that change the shape needs a projection, "
                    "such as a 1x1 Conv2d with the same stride"
                    if e.op == "+" and lt.rank == rt.rank == 4
                    else ""
                ),
            )
        op = self.emit(frame, Op(OpKind.BINOP, e.op, (left, right), (), out, e.span))
        return TensorV(out, op, Origin(f"`{e.op}`", e.span, lt))

    def scalar_binop(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        return self.domain.scalar_binop(self, e, left, right)

    def arithmetic(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        """The checker's rule for operators on values that are not tensors."""
        num = (int, float, Sym)
        if e.op == "+" and isinstance(left, (tuple, list)) and isinstance(right, type(left)):
            if len(left) + len(right) > limits.MAX_ITEMS:
                return self.too_many_items(len(left) + len(right), e)
            joined = left + right
            self.made_by(joined, (left, right), 1)
            return joined
        if e.op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right  # both at most MAX_STRING: `bounded` checks the sum
        if (
            e.op == "*"
            and isinstance(left, (tuple, list))
            and isinstance(right, int)
            and not isinstance(right, bool)
        ):
            if len(left) * right > limits.MAX_ITEMS:  # checked before the list is made
                return self.too_many_items(len(left) * right, e)
            repeated = left * right
            self.made_by(repeated, (left,), right)
            return repeated
        for side, v in ((e.left, left), (e.right, right)):
            if isinstance(v, bool) or not isinstance(v, num):
                return self.error(f"`{e.op}` needs numbers, but this is {describe(v)}", side.span)
        if e.op in ("+", "-", "*") and {type(left), type(right)} == {Sym, float}:
            size, number = (left, right) if isinstance(left, Sym) else (right, left)
            return self.error(
                f"cannot compute `{ir_text(e)}` at compile time: a size "
                f"({dims.format_dim(size)}) {e.op} {fmt_value(number)} is not a size",
                e.span,
                hint="sizes are whole numbers: combine them with integers (`2 * x.shape[1]`, "
                "`x.shape[1] // 2`)",
            )
        try:
            if e.op == "+":
                return left + right
            if e.op == "-":
                return left - right
            if e.op == "*":
                return left * right
            if e.op == "//":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.floordiv(left, right, opaque=self.domain.opaque_quotients)
                return left // right
            if e.op == "%":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.mod(left, right, opaque=self.domain.opaque_quotients)
                return left % right
            if e.op == "/":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.exact_div(left, right, opaque=self.domain.opaque_quotients)
                return left / right
            if e.op == "**":
                return self.power(e, left, right)
            return self.error(f"`{e.op}` is not defined for numbers", e.span)
        except ZeroDivisionError:
            return self.error("division by zero", e.right.span)
        except dims.DimError as exc:
            return self.error(f"cannot compute `{ir_text(e)}` at compile time: {exc}", e.span)
        except OverflowError:
            return self.error("number too large", e.span)

    def power(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        """`left ** right` of compile-time numbers and sizes (ZeroDivisionError and
        OverflowError are the caller's)."""
        if isinstance(right, Sym):
            return self.error(
                f"the exponent `{ir_text(e.right)}` is a size ({dims.format_dim(right)}): "
                "a power is computed at compile time, with a number as its exponent",
                e.right.span,
            )
        if isinstance(left, Sym) and not isinstance(right, int):
            return self.error(
                f"a size ({dims.format_dim(left)}) can only be raised to a whole power, "
                f"not {fmt_value(right)}",
                e.right.span,
            )
        if isinstance(right, int) and abs(right) > 64 and not isinstance(left, float):
            return self.error(
                f"the exponent {right} is too large: a compile-time integer power takes an "
                "exponent of at most 64",
                e.right.span,
                hint="integers known at compile time are 64-bit; write a float (`2.0 ** 100`) "
                "for a large real number",
            )
        result = left**right
        if isinstance(result, complex):
            return self.error(
                f"`{ir_text(e)}` is not a real number: a negative number raised to a "
                "fractional power",
                e.span,
            )
        return result

    def truth(self, v: Any, node: ir.Expr) -> Any:
        if v is POISON:
            return POISON
        if self.domain.undecided(v):
            return v  # decided at instantiation: callers handle it
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        if isinstance(v, (int, float, str, tuple, list)):
            return bool(v)
        if isinstance(v, Sym):
            return self.undecidable(node, dims.free_symbols(v))
        return self.error(
            f"a condition must be known at compile time, not {describe(v)}", node.span
        )

    def undecidable(self, node: ir.Expr, symbols: set[str] | frozenset[str]) -> Poison:
        names = sorted(symbols)
        which = " and ".join(f"`{n}`" for n in names) or "a symbolic dimension"
        plural_ = len(names) > 1
        return self.error(
            f"`{ir_text(node)}` cannot be decided at compile time: it depends on {which}, "
            f"which {'are' if plural_ else 'is'} only known when the model runs",
            node.span,
            hint="a condition may use parameters, constants and the sizes that an input's "
            "declared shape fixes, such as `x.shape[1]`",
        )

    def e_Compare(self, e: ir.Compare, frame: Frame, stage: bool) -> Any:
        left, right = self.expr(e.left, frame), self.expr(e.right, frame)
        return self.domain.compare(self, e, left, right, frame)

    def compare_values(
        self, e: ir.Compare, left: Any, right: Any, frame: Frame | None = None
    ) -> Any:
        """`e` with its operands already evaluated; a comparison with a tensor is a bool tensor
        (`ids == 0`), computed when the model runs."""
        if left is POISON or right is POISON:
            return POISON
        if (
            frame is not None
            and (isinstance(left, TensorV) or isinstance(right, TensorV))
            and not (is_layer(left) or is_layer(right))
        ):
            return self.tensor_binop(e, left, right, frame)  # type: ignore[arg-type]
        if (
            isinstance(left, TensorV)
            or isinstance(right, TensorV)
            or is_layer(left)
            or is_layer(right)
        ):
            return self.error(
                "comparisons are between compile-time values (numbers, strings, shape sizes)",
                e.span,
                hint="compare shapes with `x.shape[1] == 64`",
            )
        if isinstance(left, Sym) or isinstance(right, Sym):
            if e.op in ("==", "!="):
                eq = dims.equal(left, right) if not isinstance(left, (str, tuple, list)) else False
                if eq is None:
                    return self.undecidable(e, free(left) | free(right))
                return eq if e.op == "==" else not eq
            diff = left - right
            if isinstance(diff, int):
                left, right = diff, 0
            else:
                return self.undecidable(e, free(left) | free(right))
        try:
            return {
                "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            }[e.op](left, right)  # fmt: skip
        except TypeError:
            return self.error(f"cannot compare {describe(left)} with {describe(right)}", e.span)

    def e_BoolOp(self, e: ir.BoolOp, frame: Frame, stage: bool) -> Any:
        left = self.truth(self.expr(e.left, frame), e.left)
        if left is POISON:
            return POISON
        if not self.domain.undecided(left):
            if e.op == "and" and not left:
                return False
            if e.op == "or" and left:
                return True
            return self.truth(self.expr(e.right, frame), e.right)
        right = self.truth(self.expr(e.right, frame), e.right)
        if right is POISON:
            return POISON
        return self.domain.bool_op(e.op, left, right)

    def e_IfExp(self, e: ir.IfExp, frame: Frame, stage: bool) -> Any:
        cond = self.truth(self.expr(e.cond, frame), e.cond)
        if cond is POISON:
            return POISON
        if self.domain.undecided(cond):
            return self.domain.if_exp(self, e, cond, frame, stage)
        return self.expr(e.then if cond else e.orelse, frame, stage=stage)
