"""The check of a torchvision.transforms.v2 transform in `augment=[...]` (a name that is not one
of nndsl's own transforms): torchvision must be installed, the name one of its v2 transform
classes, the arguments fit its real signature and torchvision accept the values (the transform
is built once).  Every problem is located at the call or at the argument it is about.

torchvision (and so torch) is imported only here, only for a spec that names such a transform.
"""

from __future__ import annotations

from typing import Any, Protocol

from nndsl import ir
from nndsl.catalog.training import TORCHVISION_TRANSFORMS, TRANSFORMS, transforms_for
from nndsl.catalog.tv_transforms import (
    KNOWN,
    TvCall,
    TvProblem,
    bind,
    build,
    installed,
    transform_class,
    transform_names,
    v2_module,
)
from nndsl.errors import Span


class _Checker(Protocol):
    def value(self, e: ir.Expr) -> Any: ...
    def error(self, message: str, span: Span | None, *, notes=(), hint: str | None = None): ...
    def problem_span(self, call: ir.Call, arg: int | str | None) -> Span: ...


def builtin_list() -> str:
    """nndsl's own image transforms, with their parameters."""
    own = transforms_for("image_folder")
    return ", ".join(f"`{t}({', '.join(TRANSFORMS[t].params)})`" for t in own)


def missing_torchvision_hint(name: str) -> str:
    same = TORCHVISION_TRANSFORMS.get(name)
    if same is not None:
        t = TRANSFORMS[same]
        return (
            f"install torchvision (the build that matches your torch), or use nndsl's own "
            f"`{same}({', '.join(t.params)})`, which does this and needs no torchvision"
        )
    return (
        "install torchvision (the build that matches your torch), or use nndsl's own "
        f"transforms, which need no torchvision: {builtin_list()}"
    )


def check_tv_transform(checker: _Checker, item: ir.Expr, name: str, suggest) -> bool:
    """Check the v2 transform `item` (a name or a call) of `augment`; False after an error.
    `suggest(name, names)`: a did-you-mean hint or None."""
    span = item.func.span if isinstance(item, ir.Call) else item.span
    if not installed():
        if name in KNOWN:
            checker.error(
                f"`{name}` is a torchvision.transforms.v2 transform, which needs torchvision "
                "(not installed)",
                span,
                hint=missing_torchvision_hint(name),
            )
        else:
            checker.error(
                f"unknown transform `{name}`",
                span,
                hint=suggest(name, [*transforms_for("image_folder"), *KNOWN])
                or "torchvision.transforms.v2's transforms need torchvision (not installed); "
                f"nndsl's own are: {builtin_list()}",
            )
        return False
    try:
        v2 = v2_module()
    except TvProblem as p:
        checker.error(p.message, span, hint=p.hint)
        return False
    call = _read(checker, item, v2, suggest)
    if call is None:
        return False
    try:
        build(call, v2)
    except TvProblem as p:
        checker.error(p.message, item.span, hint=p.hint)
        return False
    return True


def _read(checker: _Checker, item: ir.Expr, v2: Any, suggest) -> TvCall | None:
    """The TvCall of a transform node, each name and signature checked (located); None after
    an error."""
    if isinstance(item, ir.Name):
        name, args_nodes, kw_nodes = item.id, [], []
    elif isinstance(item, ir.Call) and isinstance(item.func, ir.Name):
        name, args_nodes, kw_nodes = item.func.id, list(item.args), list(item.kwargs)
    else:
        checker.error("a transform is a name or a call such as `RandomHorizontalFlip()`", item.span)
        return None
    span = item.func.span if isinstance(item, ir.Call) else item.span
    try:
        cls = transform_class(v2, name)
    except TvProblem as p:
        names = [*transforms_for("image_folder"), *transform_names(v2)]
        checker.error(
            p.message,
            span,
            hint=suggest(name, names)
            or "torchvision.transforms.v2's transforms: " + ", ".join(transform_names(v2)),
        )
        return None
    ok = True

    def value(node: ir.Expr) -> Any:
        nonlocal ok
        if (
            isinstance(node, ir.Call)
            or isinstance(node, ir.Paren)
            and isinstance(node.expr, ir.Call)
        ):
            inner = _read(checker, node.expr if isinstance(node, ir.Paren) else node, v2, suggest)
            ok = ok and inner is not None
            return inner
        if isinstance(node, (ir.ListExpr, ir.TupleExpr)):
            items = [value(i) for i in node.items]
            return tuple(items) if isinstance(node, ir.TupleExpr) else items
        v = checker.value(node)
        if isinstance(v, (bool, int, float, str)) or v is None:
            return v
        if isinstance(v, (list, tuple)) and _plain(v):
            return v
        if ok:
            checker.error(
                f"the arguments of `{name}` are numbers, strings, booleans, `none`, lists, "
                "tuples or transforms",
                node.span,
            )
        ok = False
        return None

    args = tuple(value(a) for a in args_nodes)
    kwargs = tuple((k.name, value(k.value)) for k in kw_nodes)
    if not ok:
        return None
    try:
        bind(cls, name, args, dict(kwargs))
    except TvProblem as p:
        where = span
        if isinstance(item, ir.Call):
            where = checker.problem_span(item, p.arg) if p.arg is not None else item.span
        checker.error(p.message, where, hint=p.hint)
        return None
    return TvCall(name, args, kwargs)


def _plain(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_plain(i) for i in v)
    return isinstance(v, (bool, int, float, str)) or v is None
