"""Lark parse tree → IR.  Nothing of Lark leaves this module.

Checks the grammar is too loose to make (assignment targets, tensor types, argument order) are
made here and reported as diagnostics; the builder then returns a best-effort node so that every
mistake of a file is found in one pass.
"""

from __future__ import annotations

import re

from nndsl import ir
from nndsl.errors import Diagnostic, Note, Span, error
from nndsl.limits import MAX_INT
from nndsl.syntax._lark_parser import Token, Tree

# a `_` in a number that is not between two digits (`1_`, `1__0`, `1_.5`)
_MISPLACED_UNDERSCORE = re.compile(r"(?<![0-9])_|_(?![0-9])")

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}

# Words that cannot name a parameter, an input or a value: the language's own keywords, and
# Python's (a name becomes a Python identifier in the generated code).
RESERVED = frozenset(
    "import from as const block model train input param for in return if else or and not "
    "true false none "
    "False None True assert async await break class continue def del elif except finally "
    "global is lambda nonlocal pass raise try while with yield".split()
)


def _show(expr: ir.Expr) -> str:
    """An expression as the formatter writes it (nndsl.syntax.fmt, imported on first use: only
    messages and label templates need it)."""
    from nndsl.syntax.fmt import expr as show

    return show(expr)


def _bad_escape(token_text: str) -> int | None:
    """Offset in the token of the first unknown escape, if any."""
    i = 1
    while i < len(token_text) - 1:
        if token_text[i] == "\\":
            if token_text[i + 1] not in _ESCAPES:
                return i
            i += 2
        else:
            i += 1
    return None


def decode_string(token_text: str) -> tuple[str, str | None]:
    """The value of a string literal token, and a problem with it if any (no eval involved)."""
    body = token_text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                return body, f"unknown escape `\\{nxt}` in string"
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), None


class _Builder:
    """Methods named after grammar rules, each called as `method(meta, children)` with the
    children already built (see `transform`)."""

    def __init__(self, path: str):
        self.path = path
        self.diags: list[Diagnostic] = []

    def transform(self, tree: Tree):
        """Bottom-up, without recursion (deeply nested specs must not overflow the stack), and
        without Lark's per-node wrappers (a large share of the time on big specs)."""
        methods: dict[str, object] = {}
        results: list = []
        todo: list[tuple[object, bool]] = [(tree, False)]
        while todo:
            node, built = todo.pop()
            if not isinstance(node, Tree):
                results.append(node)
                continue
            if built:
                n = len(node.children)
                children = results[len(results) - n :] if n else []
                del results[len(results) - n :]
                method = methods.get(node.data)
                if method is None:
                    method = methods[node.data] = getattr(self, str(node.data))
                results.append(method(node.meta, children))
                continue
            todo.append((node, True))
            todo.extend((child, False) for child in reversed(node.children))
        return results[0]

    # ---- helpers ------------------------------------------------------------------------------

    def span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.path, 0, 0, 0, 0)
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def tspan(self, tok: Token) -> Span:
        return Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)

    def err(self, message: str, span: Span, hint: str | None = None, notes=()) -> None:
        self.diags.append(error(message, span, hint=hint, notes=notes))

    def defines(self, tok: Token | ir.Name, what: str) -> None:
        """A definition of a name: it must not be a reserved word."""
        name, span = (tok.id, tok.span) if isinstance(tok, ir.Name) else (str(tok), self.tspan(tok))
        if name in RESERVED:
            self.err(
                f"`{name}` is a reserved word and cannot name {what}",
                span,
                hint=f"choose another name, such as `{name}_` or a more specific one"
                + (" (`in_features`, `in_ch`)" if name == "in" else ""),
            )

    @staticmethod
    def nodes(children) -> list:
        return [c for c in children if c is not None]

    # ---- top level ----------------------------------------------------------------------------

    def start(self, meta, children):
        return ir.SourceFile(
            path=self.path, decls=tuple(self.nodes(children)), span=self.span(meta)
        )

    def import_decl(self, meta, children):
        value, problem = decode_string(str(children[0]))
        if problem:
            self.bad_string(children[0], problem)
        return ir.Import(path=value, span=self.span(meta))

    def pyimport_decl(self, meta, children):
        module, *names = children
        return ir.PyImport(module=module, names=tuple(names), span=self.span(meta))

    def dotted_name(self, meta, children):
        return ".".join(str(c) for c in children)

    def import_name(self, meta, children):
        name, alias = children
        self.defines(alias if alias is not None else name, "an imported module")
        return ir.ImportedName(
            name=str(name), alias=str(alias) if alias is not None else None, span=self.span(meta)
        )

    def const_decl(self, meta, children):
        name, value = _drop_keyword(children)
        self.defines(name, "a constant")
        return ir.ConstDecl(name=str(name), value=value, span=self.span(meta))

    def _block(self, kind, meta, children):
        name, params, body = _drop_keyword(children)
        self.defines(name, f"a {kind}")
        return ir.BlockDecl(
            kind=kind,
            name=str(name),
            params=params or (),
            body=body,
            name_span=self.tspan(name),
            span=self.span(meta),
        )

    def block_decl(self, meta, children):
        return self._block("block", meta, children)

    def model_decl(self, meta, children):
        return self._block("model", meta, children)

    def loss_decl(self, meta, children):
        return self._block("loss", meta, children)

    def params(self, meta, children):
        params = self.nodes(children)
        seen_default = False
        for p in params:
            if p.default is not None:
                seen_default = True
            elif seen_default:
                self.err(
                    f"parameter `{p.name}` without a default follows one with a default",
                    p.span,
                    hint="give it a default, or move it before the parameters that have one",
                )
        return tuple(params)

    def param(self, meta, children):
        name, type_, default = children
        self.defines(name, "a parameter")
        return ir.Param(name=str(name), type=type_, default=default, span=self.span(meta))

    def type_ref(self, meta, children):
        name, *rest = self.nodes(children)
        args = [a for a in rest if isinstance(a, ir.TypeRef)]
        variadic = any(isinstance(a, ir.Ellipsis_) for a in rest)
        span = self.span(meta)
        if variadic and not (
            isinstance(rest[-1], ir.Ellipsis_)
            and sum(isinstance(a, ir.Ellipsis_) for a in rest) == 1
        ):
            self.err("`...` may only end a type's argument list, as in `tuple[int, ...]`", span)
        return ir.TypeRef(name=str(name), args=tuple(args), variadic=variadic, span=span)

    def body(self, meta, children):
        stmts = tuple(self.nodes(children))
        for before, stmt in zip(stmts, stmts[1:]):
            if (
                isinstance(before, (ir.Assign, ir.ExprStmt))
                and isinstance(stmt, (ir.Assign, ir.ExprStmt))
                and stmt.span.line == before.span.end_line
            ):
                self.err(
                    "two statements on one line",
                    stmt.span,
                    hint="is a `->` missing before it? Otherwise put each statement on its own line",
                )
        return stmts

    def train_decl(self, meta, children):
        name, *entries = _drop_keyword(children)
        return ir.TrainDecl(
            name=str(name) if name is not None else None,
            entries=tuple(entries),
            span=self.span(meta),
        )

    def train_entry(self, meta, children):
        key, value = children
        return ir.TrainEntry(
            key=str(key), value=value, key_span=self.tspan(key), span=self.span(meta)
        )

    # ---- statements ---------------------------------------------------------------------------

    def input_decl(self, meta, children):
        return ir.InputDecl(items=tuple(_drop_keyword(children)), span=self.span(meta))

    def input_item(self, meta, children):
        name, type_expr = children
        self.defines(name, "an input")
        ttype = self.tensor_type(type_expr) if type_expr is not None else None
        return ir.InputItem(name=str(name), type=ttype, span=self.span(meta))

    def param_decl(self, meta, children):
        name, type_expr, init = _drop_keyword(children)
        self.defines(name, "a parameter")
        ttype = self.tensor_type(type_expr) or ir.TensorType(
            dtype=None, dims=(), span=type_expr.span
        )
        return ir.ParamDecl(name=str(name), type=ttype, init=init, span=self.span(meta))

    def buffer_decl(self, meta, children):
        name, value, *options = _drop_keyword(children)
        self.defines(name, "a buffer")
        seen: dict[str, ir.Keyword] = {}
        for o in options:
            if o.name in seen:
                self.err(
                    f"buffer option `{o.name}` is given twice",
                    o.span,
                    notes=[Note("first given at {at}", seen[o.name].span)],
                )
            seen[o.name] = o
        return ir.BufferDecl(
            name=str(name), value=value, options=tuple(options), span=self.span(meta)
        )

    def buffer_option(self, meta, children):
        return self.kwarg(meta, children)

    def tie_stmt(self, meta, children):
        target, source = _drop_keyword(children)
        return ir.Tie(target=target, source=source, span=self.span(meta))

    def init_stmt(self, meta, children):
        target, init = _drop_keyword(children)
        return ir.InitStmt(target=target, init=init, span=self.span(meta))

    def tensor_type(self, expr) -> ir.TensorType | None:
        """`[B, 3, H, W]` or `long[B, T]`, written with expression syntax."""
        if isinstance(expr, ir.ListExpr):
            return ir.TensorType(dtype=None, dims=expr.items, span=expr.span)
        if isinstance(expr, ir.Index) and isinstance(expr.value, ir.Name):
            if any(isinstance(d, (ir.Slice, ir.Ellipsis_)) for d in expr.index):
                self.err("a dimension of a tensor type cannot be a slice", expr.span)
            return ir.TensorType(
                dtype=expr.value.id, dims=expr.index, dtype_span=expr.value.span, span=expr.span
            )
        shown = _show(expr)
        if len(shown) > 30:
            shown = shown[:27] + "..."
        self.err(
            f"`{shown}` is not a tensor type",
            expr.span,
            hint="write the shape in square brackets, optionally after a dtype: "
            "`[B, 3, 32, 32]`, `long[B, T]`",
        )
        return None

    def for_stmt(self, meta, children):
        targets, iterable, body = children
        return ir.For(target=self.target(targets), iter=iterable, body=body, span=self.span(meta))

    def return_stmt(self, meta, children):
        return ir.Return(values=tuple(children), span=self.span(meta))

    def log_stmt(self, meta, children):
        names = [c for c in children if isinstance(c, Token) and c.type == "NAME"]
        return ir.Log(
            names=tuple(str(n) for n in names),
            name_spans=tuple(self.tspan(n) for n in names),
            span=self.span(meta),
        )

    def assign(self, meta, children):
        targets, value = children
        return ir.Assign(target=self.target(targets), value=value, span=self.span(meta))

    def expr_stmt(self, meta, children):
        return ir.ExprStmt(value=children[0], span=self.span(meta))

    def exprlist(self, meta, children):
        return ("exprlist", tuple(children), self.span(meta))

    def target(self, exprlist) -> ir.Target:
        _, items, span = exprlist
        if len(items) == 1:
            return self._target(items[0])
        return ir.TupleTarget(items=tuple(self._target(i) for i in items), span=span)

    def _target(self, expr) -> ir.Target:
        if isinstance(expr, ir.Name):
            self.defines(expr, "a value")
            return ir.NameTarget(id=expr.id, span=expr.span)
        if isinstance(expr, ir.TupleExpr):
            return ir.TupleTarget(items=tuple(self._target(i) for i in expr.items), span=expr.span)
        if isinstance(expr, ir.Paren):
            return self._target(expr.expr)
        shown = _show(expr)
        if len(shown) > 30:
            shown = shown[:27] + "..."
        hint = "the left of `=` is a name, or names in a tuple such as `out, (h, c)`"
        if isinstance(expr, (ir.Index, ir.Attribute)):
            hint = "values are never changed in place: bind a new name, as in `h2 = ...`"
        self.err(f"cannot assign to `{shown}`: only names can be bound", expr.span, hint=hint)
        return ir.NameTarget(id="_", span=expr.span)

    # ---- expressions --------------------------------------------------------------------------

    def exprlist_value(self, children):
        return children

    def ifexp(self, meta, children):
        then, cond, orelse = children
        return ir.IfExp(cond=cond, then=then, orelse=orelse, span=self.span(meta))

    def or_op(self, meta, children):
        return ir.BoolOp(op="or", left=children[0], right=children[1], span=self.span(meta))

    def and_op(self, meta, children):
        return ir.BoolOp(op="and", left=children[0], right=children[1], span=self.span(meta))

    def not_op(self, meta, children):
        return ir.UnaryOp(op="not", operand=children[0], span=self.span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return ir.Compare(op=str(op), left=left, right=right, span=self.span(meta))

    def chain(self, meta, children):
        return ir.Chain(stages=tuple(children), span=self.span(meta))

    def labeled(self, meta, children):
        label, expr = children
        holes: tuple[ir.Expr, ...] = ()
        pieces: tuple[str, ...] = ()
        text = str(label)
        if label.type == "LABEL_TEMPLATE":
            holes, pieces = self.label_holes(label)
            text = pieces[0] + "".join(
                "{" + _show(h) + "}" + p for h, p in zip(holes, pieces[1:])
            )  # as the formatter writes it, so that equal labels compare equal
        return ir.Labeled(
            label=text,
            holes=holes,
            pieces=pieces,
            expr=expr,
            label_span=self.tspan(label),
            span=self.span(meta),
        )

    def label_holes(self, tok: Token) -> tuple[tuple[ir.Expr, ...], tuple[str, ...]]:
        """`denselayer{i + 1}` → the hole `i + 1` and the pieces `denselayer`, ``."""
        from nndsl.syntax.parser import parse_hole

        text = str(tok)
        holes: list[ir.Expr] = []
        pieces: list[str] = []
        pos = 0
        while (start := text.find("{", pos)) >= 0:
            end = text.index("}", start)
            pieces.append(text[pos:start])
            inner = text[start + 1 : end]
            hole_span = Span(
                self.path, tok.line, tok.column + start, tok.line, tok.column + end + 1
            )
            if not inner.strip():
                self.err(
                    "empty `{}` in a label",
                    hole_span,
                    hint="write a compile-time value inside the braces, as in `layer{i + 1}`",
                )
                holes.append(ir.Name(id="_", span=hole_span))
            else:
                lead = len(inner) - len(inner.lstrip())
                tree, diags = parse_hole(
                    inner.strip(), tok.line, tok.column + start + 1 + lead, self.path
                )
                if tree is None:
                    self.diags.extend(diags)
                    holes.append(ir.Name(id="_", span=hole_span))
                else:
                    holes.append(_Builder(self.path).transform_into(tree, self.diags))
            pos = end + 1
        pieces.append(text[pos:])
        return tuple(holes), tuple(pieces)

    def transform_into(self, tree: Tree, diags: list[Diagnostic]):
        out = self.transform(tree)
        diags.extend(self.diags)
        return out

    def for_layers(self, meta, children):
        targets, iterable, body = children
        return ir.ForLayers(
            target=self.target(targets), iter=iterable, body=body, span=self.span(meta)
        )

    def for_chain(self, meta, children):
        return ir.Chain(stages=tuple(children), span=self.span(meta))

    def binop(self, meta, children):
        left, op, right = children
        return ir.BinOp(op=str(op), left=left, right=right, span=self.span(meta))

    def unary(self, meta, children):
        op, operand = children
        return ir.UnaryOp(op=str(op), operand=operand, span=self.span(meta))

    def call(self, meta, children):
        func, arglist = children
        args: list = []
        kwargs: list[ir.Keyword] = []
        seen: dict[str, ir.Keyword] = {}
        for a in arglist or ():
            if isinstance(a, ir.Keyword):
                if a.name in seen:
                    self.err(
                        f"keyword argument `{a.name}` is given twice",
                        a.span,
                        notes=[Note("first given at {at}", seen[a.name].span)],
                        hint="remove one of them",
                    )
                else:
                    seen[a.name] = a
                kwargs.append(a)
            else:
                if kwargs:
                    first = kwargs[0]
                    self.err(
                        "a positional argument cannot follow keyword arguments",
                        a.span,
                        notes=[Note(f"`{first.name}=` at {{at}} comes before it", first.span)],
                        hint="put positional arguments first, or pass this one by keyword too",
                    )
                args.append(a)
        return ir.Call(func=func, args=tuple(args), kwargs=tuple(kwargs), span=self.span(meta))

    def arglist(self, meta, children):
        return list(children)

    def kwarg(self, meta, children):
        name, value = children
        return ir.Keyword(
            name=str(name), value=value, name_span=self.tspan(name), span=self.span(meta)
        )

    def index(self, meta, children):
        value, subs = children
        return ir.Index(value=value, index=tuple(subs), span=self.span(meta))

    def subscriptlist(self, meta, children):
        return list(children)

    def slice(self, meta, children):
        start, stop, step = (list(children) + [None, None, None])[:3]
        return ir.Slice(start=start, stop=stop, step=step, span=self.span(meta))

    def attribute(self, meta, children):
        value, name = children
        return ir.Attribute(
            value=value, attr=str(name), attr_span=self.tspan(name), span=self.span(meta)
        )

    def name(self, meta, children):
        return ir.Name(id=str(children[0]), span=self.span(meta))

    def misspelt_number(self, meta, text: str, is_int: bool) -> bool:
        """A literal Python refuses: a `_` not between two digits (`1_`, `1__000`), or a decimal
        integer with a leading zero (`010`, an octal number in C)."""
        if _MISPLACED_UNDERSCORE.search(text) is not None:
            fixed = _MISPLACED_UNDERSCORE.sub("", re.sub("_+", "_", text))
            self.err(
                f"misplaced `_` in the number `{text}`",
                self.span(meta),
                hint=f"a `_` may only separate two digits (`1_000`): write `{fixed}`",
            )
            return True
        digits = text.replace("_", "")
        if is_int and digits[0] == "0" and digits.strip("0"):
            self.err(
                f"an integer cannot begin with `0`: `{text}`",
                self.span(meta),
                hint=f"write `{digits.lstrip('0')}` (numbers are decimal: there are no octal ones)",
            )
            return True
        return False

    def int(self, meta, children):
        text = str(children[0])
        if self.misspelt_number(meta, text, is_int=True):
            return ir.Num(value=0, text=text, span=self.span(meta))
        digits = text.replace("_", "").lstrip("0") or "0"
        # compared as text first: a literal of thousands of digits is never converted
        if len(digits) > len(str(MAX_INT)) or int(digits) > MAX_INT:
            shown = text if len(text) <= 30 else f"{text[:12]}...{text[-6:]} ({len(digits)} digits)"
            self.err(
                f"the integer `{shown}` is too large",
                self.span(meta),
                hint=f"integers must fit a signed 64-bit integer (at most {MAX_INT:,}); "
                "write a float such as `1e30` for a large number that is not a size",
            )
            return ir.Num(value=0, text=text, span=self.span(meta))
        return ir.Num(value=int(digits), text=text, span=self.span(meta))

    def float(self, meta, children):
        text = str(children[0])
        if self.misspelt_number(meta, text, is_int=False):
            return ir.Num(value=0.0, text=text, span=self.span(meta))
        value = float(text.replace("_", ""))
        if value in (float("inf"), float("-inf")):
            self.err(
                f"the number `{text}` is too large",
                self.span(meta),
                hint="numbers must fit a 64-bit float (up to about 1.8e308)",
            )
            value = 0.0
        return ir.Num(value=value, text=text, span=self.span(meta))

    def string(self, meta, children):
        value, problem = decode_string(str(children[0]))
        if problem:
            self.bad_string(children[0], problem)
        return ir.Str(value=value, span=self.span(meta))

    def bad_string(self, tok: Token, problem: str) -> None:
        span = self.tspan(tok)
        at = _bad_escape(str(tok))
        if at is not None and tok.line == tok.end_line:
            span = Span(self.path, tok.line, tok.column + at, tok.line, tok.column + at + 2)
        hint = "known escapes: \\n \\t \\r \\\\ \\\" \\' \\0; write a backslash as `\\\\`"
        if "/" not in str(tok) and ":\\" in str(tok):
            hint += ", or write the path with forward slashes (`C:/data/file.csv`)"
        self.err(problem, span, hint=hint)

    def true(self, meta, children):
        return ir.Const(value=True, span=self.span(meta))

    def false(self, meta, children):
        return ir.Const(value=False, span=self.span(meta))

    def none(self, meta, children):
        return ir.Const(value=None, span=self.span(meta))

    def ellipsis(self, meta, children):
        return ir.Ellipsis_(span=self.span(meta))

    def empty_tuple(self, meta, children):
        return ir.TupleExpr(items=(), span=self.span(meta))

    def paren(self, meta, children):
        return ir.Paren(expr=children[0], span=self.span(meta))

    def tuple(self, meta, children):
        return ir.TupleExpr(items=tuple(self.nodes(children)), span=self.span(meta))

    def list(self, meta, children):
        return ir.ListExpr(items=tuple(self.nodes(children)), span=self.span(meta))


_KEYWORDS = frozenset(
    {"CONST", "BLOCK", "MODEL", "LOSS", "TRAIN", "INPUT", "PARAM", "BUFFER", "TIE", "INIT"}
)


def _drop_keyword(children: list) -> list:
    """The children of a declaration without its leading keyword token (those keywords are
    named terminals: they are keywords only when a declaration follows, see the grammar)."""
    if children and isinstance(children[0], Token) and children[0].type in _KEYWORDS:
        return children[1:]
    return children


def build(tree: Tree, path: str) -> tuple[ir.SourceFile, list[Diagnostic]]:
    builder = _Builder(path)
    return builder.transform(tree), builder.diags
