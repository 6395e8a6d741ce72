"""The parser on the samples: every sample parses, and the IR has the shape the language
contract describes (precedence, tuples, labels, statement boundaries, spans)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl import ir
from nndsl.errors import Span
from nndsl.syntax import parse

SAMPLES = sorted((Path(__file__).parent.parent / "samples").glob("*.nn"))


def _parse(text: str, path: str = "t.nn") -> ir.SourceFile:
    source, diags = parse(text, path)
    assert source is not None, [d.message for d in diags]
    assert not [d for d in diags if d.is_error]
    return source


def _sample(name: str) -> ir.SourceFile:
    path = next(p for p in SAMPLES if p.name == name)
    return _parse(path.read_text(encoding="utf-8"), str(path))


def _decl(source: ir.SourceFile, name: str) -> ir.BlockDecl:
    return next(d for d in source.decls if isinstance(d, ir.BlockDecl) and d.name == name)


def _body(text: str) -> tuple[ir.Stmt, ...]:
    """The statements of a one-model file."""
    decl = _parse(text).decls[0]
    assert isinstance(decl, ir.BlockDecl)
    return decl.body


def _where(node) -> tuple[int, int, int, int]:
    s: Span = node if isinstance(node, Span) else node.span
    return s.line, s.col, s.end_line, s.end_col


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 8


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_every_sample_parses(path: Path) -> None:
    source = _parse(path.read_text(encoding="utf-8"), str(path))
    assert source.decls
    for node in ir.walk(source):
        span = getattr(node, "span", None)
        if span is not None and not isinstance(node, ir.SourceFile):
            assert span.file == str(path)
            assert span.line >= 1 and span.col >= 1, node
            assert (span.end_line, span.end_col) >= (span.line, span.col), node


def test_resnet_conditional_downsample() -> None:
    block = _decl(_sample("resnet.nn"), "BasicBlock")
    s = block.body[2]
    assert isinstance(s, ir.Assign) and s.target == ir.NameTarget(id="s")
    assert isinstance(s.value, ir.IfExp)
    assert s.value.then == ir.Name(id="x")
    assert isinstance(s.value.cond, ir.BoolOp) and s.value.cond.op == "and"
    shape_query = s.value.cond.right
    assert isinstance(shape_query, ir.Compare)
    assert shape_query.left == ir.Index(
        value=ir.Attribute(value=ir.Name(id="x"), attr="shape"), index=(ir.Num(value=1, text="1"),)
    )
    # `else x -> downsample: (...)`: the arrow binds tighter than the conditional
    orelse = s.value.orelse
    assert isinstance(orelse, ir.Chain)
    assert orelse.stages[0] == ir.Name(id="x")
    down = orelse.stages[1]
    assert isinstance(down, ir.Labeled) and down.label == "downsample"
    assert isinstance(down.expr, ir.Paren) and isinstance(down.expr.expr, ir.Chain)
    assert [type(st) for st in down.expr.expr.stages] == [ir.Call, ir.Name]


def test_resnet_multi_line_chain_is_one_statement() -> None:
    block = _decl(_sample("resnet.nn"), "BasicBlock")
    y = block.body[1]
    assert isinstance(y, ir.Assign) and isinstance(y.value, ir.Chain)
    labels = [st.label for st in y.value.stages if isinstance(st, ir.Labeled)]
    assert labels == ["conv1", "bn1", "conv2", "bn2"]
    assert (y.span.line, y.span.end_line) == (4, 5)


def test_resnet_labeled_repetition() -> None:
    model = _decl(_sample("resnet.nn"), "ResNet18")
    stmt = model.body[3]
    assert isinstance(stmt, ir.ExprStmt)
    assert stmt.value == ir.Labeled(
        label="layer1",
        expr=ir.Paren(
            expr=ir.BinOp(
                op="*",
                left=ir.Call(
                    func=ir.Name(id="BasicBlock"), args=(ir.Num(value=64, text="64"),), kwargs=()
                ),
                right=ir.Num(value=2, text="2"),
            )
        ),
    )
    layer2 = model.body[4].value
    assert isinstance(layer2, ir.Labeled) and isinstance(layer2.expr.expr, ir.Chain)


def test_resnet_for_loop_and_repeat_of_expression() -> None:
    source = _sample("resnet.nn")
    stage = _decl(source, "Stage")
    chain = stage.body[0].value
    assert isinstance(chain, ir.Chain)
    rep = chain.stages[1]
    assert isinstance(rep, ir.BinOp) and rep.op == "*" and isinstance(rep.right, ir.Paren)
    loop = _decl(source, "ResNet34").body[2]
    assert isinstance(loop, ir.For)
    assert loop.target == ir.TupleTarget(
        items=(ir.NameTarget(id="out"), ir.NameTarget(id="blocks"), ir.NameTarget(id="stride"))
    )
    assert isinstance(loop.iter, ir.ListExpr) and len(loop.iter.items) == 4
    assert all(isinstance(i, ir.TupleExpr) for i in loop.iter.items)


def test_unet_tuple_feeds_a_block() -> None:
    model = _decl(_sample("unet.nn"), "UNet")
    u2 = model.body[4]
    assert isinstance(u2, ir.Assign) and isinstance(u2.value, ir.Chain)
    first, up = u2.value.stages
    assert first == ir.TupleExpr(items=(ir.Name(id="d3"), ir.Name(id="d2")))
    assert up == ir.Call(func=ir.Name(id="Up"), args=(ir.Num(value=64, text="64"),), kwargs=())
    inputs = _decl(_sample("unet.nn"), "Up").body[0]
    assert isinstance(inputs, ir.InputDecl)
    assert [(i.name, i.type) for i in inputs.items] == [("x", None), ("skip", None)]


def test_sentiment_destructuring_and_types() -> None:
    source = _sample("sentiment.nn")
    assert source.decls[0] == ir.ConstDecl(name="VOCAB", value=ir.Num(value=10000, text="10000"))
    model = _decl(source, "SentimentLSTM")
    tokens = model.body[0].items[0]
    assert tokens.type.dtype == "long"
    assert tokens.type.dims == (ir.Name(id="B"), ir.Name(id="T"))
    out = model.body[2]
    assert isinstance(out, ir.Assign)
    assert out.target == ir.TupleTarget(
        items=(
            ir.NameTarget(id="out"),
            ir.TupleTarget(items=(ir.NameTarget(id="h"), ir.NameTarget(id="c"))),
        )
    )
    last = model.body[3].value
    assert isinstance(last, ir.Chain)
    cat = last.stages[0]
    assert isinstance(cat, ir.Call) and cat.kwargs[0].name == "dim"
    h2 = cat.args[0].items[0]
    assert h2 == ir.Index(
        value=ir.Name(id="h"),
        index=(ir.UnaryOp(op="-", operand=ir.Num(value=2, text="2")),),
    )


def test_text_transformer_param_and_nested_layer() -> None:
    model = _decl(_sample("text_transformer.nn"), "TextTransformer")
    assert [p.name for p in model.params] == ["vocab", "d"]
    assert model.params[0].type == ir.TypeRef(name="int")
    pos = model.body[1]
    assert isinstance(pos, ir.ParamDecl) and pos.name == "pos"
    assert pos.type.dtype is None and len(pos.type.dims) == 3
    assert isinstance(pos.init, ir.Call) and pos.init.func == ir.Name(id="normal")
    h = model.body[2].value
    assert isinstance(h, ir.BinOp) and h.op == "+" and isinstance(h.left, ir.Paren)
    encoder = model.body[3].value.stages[1]
    assert isinstance(encoder.args[0], ir.Call)
    assert encoder.args[0].func == ir.Name(id="TransformerEncoderLayer")


def test_mixer_imports() -> None:
    source = _sample("mixer.nn")
    assert source.decls[0] == ir.Import(path="blocks.nn")
    py = source.decls[1]
    assert isinstance(py, ir.PyImport) and py.module == "mypkg.layers"
    assert py.names == (ir.ImportedName(name="SwiGLU", alias=None),)


def test_train_section() -> None:
    source = _sample("digits_cnn.nn")
    train = next(d for d in source.decls if isinstance(d, ir.TrainDecl))
    assert train.name is None
    assert [e.key for e in train.entries][:4] == ["model", "data", "loss", "optimizer"]
    assert train.get("epochs").value == ir.Num(value=30, text="30")
    assert train.get("optimizer").value.kwargs[0].value == ir.Num(value=3e-3, text="3e-3")
    assert train.get("device").value == ir.Name(id="auto")
    early = train.get("early_stopping").value
    assert early.kwargs[0] == ir.Keyword(name="monitor", value=ir.Name(id="val_loss"))
    stop = next(d for d in _sample("iris.nn").decls if isinstance(d, ir.TrainDecl))
    assert stop.get("stop_when").value == ir.Compare(
        op=">=", left=ir.Name(id="val_accuracy"), right=ir.Num(value=0.95, text="0.95")
    )
    assert stop.get("metrics").value == ir.ListExpr(items=(ir.Name(id="accuracy"),))


def test_train_keys_may_be_keywords_elsewhere() -> None:
    source = _parse(
        "model M {\n    input x: [B, 4]\n    Linear(3)\n}\n"
        "train Long {\n    model = M\n    data = digits(target=input)\n}\n"
    )
    train = source.decls[1]
    assert train.name == "Long"
    assert train.get("model").value == ir.Name(id="M")
    assert train.get("data").value.kwargs[0].value == ir.Name(id="input")


def test_bracket_at_line_start_begins_a_new_statement() -> None:
    body = _body("model M {\n    input x: [B, 4]\n    h = x -> relu\n    (h, x) -> cat(dim=1)\n}\n")
    assert len(body) == 3
    assert body[1].value == ir.Chain(stages=(ir.Name(id="x"), ir.Name(id="relu")))
    stmt = body[2]
    assert isinstance(stmt, ir.ExprStmt) and isinstance(stmt.value, ir.Chain)
    assert stmt.value.stages[0] == ir.TupleExpr(items=(ir.Name(id="h"), ir.Name(id="x")))
    # on the same line, `(` calls and `[` indexes
    same = _body("model M {\n    input x: [B, 4]\n    f = x[0] -> relu(x)\n}\n")
    assert same[1].value.stages[0] == ir.Index(
        value=ir.Name(id="x"), index=(ir.Num(value=0, text="0"),)
    )
    assert isinstance(same[1].value.stages[1], ir.Call)
    # a `[` at the start of a line is a list, not an index of the value before it
    lists = _body("model M {\n    input x: [B, 4]\n    y = x\n    [y, x] -> cat(dim=1)\n}\n")
    assert len(lists) == 3 and lists[1].value == ir.Name(id="x")
    assert isinstance(lists[2].value.stages[0], ir.ListExpr)


def test_chains_continue_across_lines() -> None:
    body = _body("model M {\n    input x: [B, 4]\n    x\n      -> Linear(8)\n      -> relu\n}\n")
    assert len(body) == 2
    assert isinstance(body[1].value, ir.Chain) and len(body[1].value.stages) == 3


def test_precedence() -> None:
    (stmt,) = _body("block B {\n    a + b * c -> f if p or q and not r else g ** -h ** 2\n}\n")
    e = stmt.value
    assert isinstance(e, ir.IfExp)
    assert isinstance(e.then, ir.Chain)
    assert e.then.stages[0] == ir.BinOp(
        op="+",
        left=ir.Name(id="a"),
        right=ir.BinOp(op="*", left=ir.Name(id="b"), right=ir.Name(id="c")),
    )
    assert e.cond == ir.BoolOp(
        op="or",
        left=ir.Name(id="p"),
        right=ir.BoolOp(
            op="and", left=ir.Name(id="q"), right=ir.UnaryOp(op="not", operand=ir.Name(id="r"))
        ),
    )
    # `**` is right-associative and binds tighter than unary minus on its right
    assert e.orelse == ir.BinOp(
        op="**",
        left=ir.Name(id="g"),
        right=ir.UnaryOp(
            op="-",
            operand=ir.BinOp(op="**", left=ir.Name(id="h"), right=ir.Num(value=2, text="2")),
        ),
    )


def test_labels_bind_a_single_stage() -> None:
    (stmt,) = _body("block B {\n    fc: Linear(10) -> relu\n}\n")
    assert stmt.value == ir.Chain(
        stages=(
            ir.Labeled(
                label="fc",
                expr=ir.Call(
                    func=ir.Name(id="Linear"), args=(ir.Num(value=10, text="10"),), kwargs=()
                ),
            ),
            ir.Name(id="relu"),
        )
    )


def test_literals_and_slices() -> None:
    (stmt,) = _body(
        "block B {\n    f(1_000, 2.5e-3, .5, \"a\\n\", 'b', true, false, none, (), (1,), x[1:, ::2, ...])\n}\n"
    )
    args = stmt.value.args
    assert args[0] == ir.Num(value=1000, text="1_000")
    assert args[1] == ir.Num(value=2.5e-3, text="2.5e-3")
    assert args[2] == ir.Num(value=0.5, text=".5")
    assert args[3] == ir.Str(value="a\n") and args[4] == ir.Str(value="b")
    assert [a.value for a in args[5:8]] == [True, False, None]
    assert args[8] == ir.TupleExpr(items=()) and args[9] == ir.TupleExpr(
        items=(ir.Num(value=1, text="1"),)
    )
    index = args[10].index
    assert index[0] == ir.Slice(start=ir.Num(value=1, text="1"), stop=None, step=None)
    assert index[1] == ir.Slice(start=None, stop=None, step=ir.Num(value=2, text="2"))
    assert index[2] == ir.Ellipsis_()


def test_parameter_types() -> None:
    decl = _parse(
        "block B(a: int, b: list[int] = [1, 2], c: tuple[int, ...] = (1,), d = 3) {\n    relu\n}\n"
    ).decls[0]
    a, b, c, d = decl.params
    assert a == ir.Param(name="a", type=ir.TypeRef(name="int"), default=None)
    assert str(b.type) == "list[int]" and b.default == ir.ListExpr(
        items=(ir.Num(value=1, text="1"), ir.Num(value=2, text="2"))
    )
    assert c.type.variadic and str(c.type) == "tuple[int, ...]"
    assert d.type is None


def test_spans() -> None:
    source = _sample("resnet.nn")
    block = _decl(source, "BasicBlock")
    assert _where(block.name_span) == (2, 7, 2, 17)
    assert _where(block.params[1]) == (2, 28, 2, 43)  # `stride: int = 1`
    s = block.body[2]
    assert _where(s) == (6, 5, 7, 89)
    assert _where(s.value.orelse) == (7, 14, 7, 89)
    model = _decl(source, "ResNet18")
    conv1 = model.body[1].value.stages[0]
    assert _where(conv1) == (13, 5, 13, 58)
    assert _where(conv1.label_span) == (13, 5, 13, 10)
    kw = conv1.expr.kwargs[0]
    assert _where(kw.name_span) == (13, 26, 13, 32)
    train = next(d for d in _sample("iris.nn").decls if isinstance(d, ir.TrainDecl))
    assert _where(train.get("epochs").key_span) == (12, 5, 12, 11)


def test_comments_are_collected_not_parsed() -> None:
    source = _parse(
        '# head\nmodel M {  # opens\n    input x: [B, 4]\n    f("# not a comment")  # tail\n}\n'
    )
    assert [c.text for c in source.comments] == ["# head", "# opens", "# tail"]
    assert [c.span.line for c in source.comments] == [1, 2, 4]
    call = source.decls[0].body[1].value
    assert call.args[0] == ir.Str(value="# not a comment")


def test_ir_equality_ignores_layout() -> None:
    a = _parse("model M {\n    input x: [B, 4]\n    Linear(3) -> relu\n}\n")
    b = _parse("model M{input x:[B,4]\n\n  Linear( 3 )\n      ->relu  # c\n}")
    assert a == b
    c = _parse("model M {\n    input x: [B, 4]\n    Linear(4) -> relu\n}\n")
    assert a != c


def test_empty_and_comment_only_files() -> None:
    assert _parse("").decls == ()
    assert _parse("# only a comment\n\n# another\n").decls == ()
    assert len(_parse("# only a comment\n").comments) == 1
