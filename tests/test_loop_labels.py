"""Names made in loops: labels with `{expr}` holes, `for` stages inside groups, groups inside
groups, and functions without a torch.nn module form inside groups (issue 11).

The Dense model is LANGUAGE.md's section 10 without its `init` line (initialisation is checked
elsewhere): 3,738 parameters and the key `block1.denselayer2.2.weight`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nndsl.check import Checked, check_file
from nndsl.check.summary import format_type, summarize
from nndsl.codegen import model_source
from nndsl.syntax import parse
from nndsl.syntax.fmt import format_source

DENSE = """\
block DenseBlock(layers: int, growth: int) {
    input x
    for i in range(layers) {
        x = cat([x, x -> denselayer{i + 1}: (BatchNorm2d -> relu -> Conv2d(growth, 3, padding=1, bias=false))], dim=1)
    }
    x
}

model Dense {
    input x: [B, 3, 32, 32]
    x -> Conv2d(16, 3, padding=1) -> block1: DenseBlock(2, 8) -> adaptive_avg_pool2d(1) -> flatten -> Linear(10)
}
"""


def _check(text: str) -> Checked:
    return check_file("spec.nn", text)


def _ok(text: str) -> Checked:
    result = _check(text)
    assert result.ok, [f"{d.span}: {d.message}" for d in result.diagnostics]
    return result


def _errors(text: str) -> list:
    result = _check(text)
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors, "expected an error"
    return errors


def _names(result: Checked, model: str) -> list[str]:
    return [r.name for r in summarize(result.models[model], "").rows if r.name]


def _module(result: Checked, tmp_path: Path, models: list[str]):
    (tmp_path / "model.py").write_text(model_source(result, models))
    spec = importlib.util.spec_from_file_location(f"m_{tmp_path.name}", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(text: str, name: str):
    return _ok(text).models[name]


# ---- the Dense model of LANGUAGE.md -----------------------------------------------------------


def test_dense_parameters_and_names() -> None:
    result = _ok(DENSE)
    inst = result.models["Dense"]
    assert inst.total_params() == 3738
    names = _names(result, "Dense")
    assert "block1.denselayer1.0" in names
    assert "block1.denselayer2.2" in names
    assert format_type(inst.output_types()[0]) == "[B, 10]"


def test_dense_generated_model_runs(tmp_path: Path) -> None:
    import torch

    result = _ok(DENSE)
    module = _module(result, tmp_path, ["Dense"])
    model = module.Dense().eval()
    assert sum(p.numel() for p in model.parameters()) == 3738
    keys = list(model.state_dict())
    assert "block1.denselayer2.2.weight" in keys
    assert "block1.denselayer1.0.running_mean" in keys
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
        assert tuple(y.shape) == (2, 10)
        inner = model.block1(model.conv(x))
        assert tuple(inner.shape) == (2, 32, 32, 32)  # the checked [B, 32, 32, 32]
        assert torch.allclose(torch.jit.script(model)(x), y, rtol=1e-4, atol=1e-5)


def test_labels_made_in_a_model_loop() -> None:
    result = _ok(
        "model M {\n"
        "    input x: [B, 8]\n"
        "    for i in range(3) {\n"
        "        layer{i + 1}: Linear(8) -> relu\n"
        "    }\n"
        "    head: Linear(2)\n"
        "}\n"
    )
    assert _names(result, "M") == ["x", "layer1", "layer2", "layer3", "head"]


def test_a_block_labelled_from_its_parameters_is_specialised(tmp_path: Path) -> None:
    result = _ok(
        "block Proj(k: int) {\n"
        "    proj{k}: Linear(4)\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 8]\n"
        "    a: Proj(1) -> b: Proj(2)\n"
        "}\n"
    )
    assert {"a.proj1", "b.proj2"} <= set(_names(result, "M"))
    module = _module(result, tmp_path, ["M"])
    assert {"a.proj1.weight", "b.proj2.weight"} <= set(module.M().state_dict())


# ---- errors -----------------------------------------------------------------------------------


def test_a_label_made_twice_in_a_loop_is_an_error() -> None:
    (err,) = _errors(
        "model M {\n"
        "    input x: [B, 8]\n"
        "    for i in range(2) {\n"
        "        layer{i // 2}: Linear(8)\n"
        "    }\n"
        "}\n"
    )
    assert "`layer0`" in err.message and "already names" in err.message
    assert (err.span.line, err.span.col) == (4, 9)
    assert err.notes and err.notes[0].span.line == 4


def test_a_made_label_colliding_with_another_label_names_both_places() -> None:
    (err,) = _errors(
        "model M {\n"
        "    input x: [B, 8]\n"
        "    layer2: Linear(8)\n"
        "    for i in range(3) {\n"
        "        layer{i + 1}: Linear(8)\n"
        "    }\n"
        "}\n"
    )
    assert "`layer2`" in err.message
    assert err.span.line == 5
    assert [n.span.line for n in err.notes] == [3]


def test_a_made_label_colliding_inside_a_group() -> None:
    (err,) = _errors(
        "model M {\n    input x: [B, 8]\n    g: (for i in [1, 2, 1] { layer{i}: Linear(8) })\n}\n"
    )
    assert "`layer1`" in err.message and "child of this group" in err.message
    assert (err.span.line, err.span.col) == (3, 30)


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ('layer{"a b"}', "cannot name a submodule"),
        ('layer{"."}', "cannot name a submodule"),
        ("layer{1.5}", "integer or a string"),
        ("layer{true}", "integer or a string"),
        ('_{"x"}', "may not start with `_`"),
        ('cl{"ass"}', "reserved word"),
    ],
)
def test_labels_that_cannot_name_a_module(label: str, words: str) -> None:
    errors = _errors(f"model M {{\n    input x: [B, 8]\n    {label}: Linear(8)\n}}\n")
    assert words in errors[0].message, [e.message for e in errors]
    assert (errors[0].span.line, errors[0].span.col) in ((3, 5), (3, 11), (3, 12))


def test_a_label_may_be_made_from_strings_and_constants() -> None:
    result = _ok(
        'const NAME = "enc"\n'
        "model M {\n"
        "    input x: [B, 8]\n"
        "    my_{NAME}: Linear(8)\n"
        '    for part in ["a", "b"] {\n'
        "        head_{part}: Linear(8)\n"
        "    }\n"
        "}\n"
    )
    assert _names(result, "M") == ["x", "my_enc", "head_a", "head_b"]


def test_a_made_label_that_replaces_a_module_attribute() -> None:
    (err,) = _errors('model M {\n    input x: [B, 8]\n    train{"ing"}: Linear(8)\n}\n')
    assert "nn.Module.training" in err.message


def test_a_hyphenated_name_is_only_a_childs_name() -> None:
    (err,) = _errors("model M {\n    input x: [B, 8]\n    layer{1}-a: Linear(8)\n}\n")
    assert "child of a group" in err.message
    result = _ok("model M {\n    input x: [B, 8]\n    g: (layer{1}-a: Linear(8))\n}\n")
    assert "g.layer1-a" in _names(result, "M")


def test_syntax_errors_inside_a_hole_are_located() -> None:
    result = _check("model M {\n    input x: [B, 8]\n    layer{i +}: Linear(8)\n}\n")
    assert not result.ok
    d = next(d for d in result.diagnostics if d.is_error)
    assert d.span.line == 3 and 9 <= d.span.col <= 15
    result = _check("model M {\n    input x: [B, 8]\n    layer{}: Linear(8)\n}\n")
    d = next(d for d in result.diagnostics if d.is_error)
    assert "empty" in d.message and (d.span.line, d.span.col) == (3, 10)


def test_an_undefined_name_in_a_hole() -> None:
    (err,) = _errors("model M {\n    input x: [B, 8]\n    layer{k}: Linear(8)\n}\n")
    assert "`k`" in err.message and (err.span.line, err.span.col) == (3, 11)


def test_a_plain_label_in_a_loop_is_still_an_error() -> None:
    errors = _errors(
        "model M {\n    input x: [B, 8]\n    for i in range(2) {\n        fc: Linear(8)\n    }\n}\n"
    )
    assert any("inside a `for` loop" in e.message for e in errors)


# ---- `for` stages and groups inside groups ----------------------------------------------------


def test_for_stage_children_are_numbered_across_iterations() -> None:
    result = _ok(
        "model M {\n"
        "    input x: [B, 3, 8, 8]\n"
        "    features: (\n"
        "        Conv2d(8, 3, padding=1)\n"
        "        -> for c in [16, 32] { Conv2d(c, 3, padding=1) -> relu }\n"
        "        -> Conv2d(4, 1)\n"
        "    )\n"
        "}\n"
    )
    slot = result.models["M"].modules[0]
    assert [(c.name, c.type_name) for c in slot.children] == [
        ("0", "Conv2d"),
        ("1", "Conv2d"),
        ("2", "ReLU"),
        ("3", "Conv2d"),
        ("4", "ReLU"),
        ("5", "Conv2d"),
    ]
    assert slot.children[3].args["in_channels"] == 16


def test_groups_inside_groups_nest_as_torchvision_does(tmp_path: Path) -> None:
    result = _ok(
        "model M {\n"
        "    input x: [B, 3, 8, 8]\n"
        "    features: (\n"
        "        (Conv2d(8, 3, padding=1) -> BatchNorm2d -> ReLU6())\n"
        "        -> for i in range(2) { (Conv2d(8, 3, padding=1) -> BatchNorm2d) }\n"
        "        -> (Conv2d(8, 1) * 2)\n"
        "    )\n"
        "    labelled: for i in range(2) { Linear(4) }\n"
        "}\n"
    )
    names = _names(result, "M")
    for n in ["features.0.0", "features.0.2", "features.1.1", "features.2.0", "features.3.1"]:
        assert n in names
    assert "labelled.1" in names
    module = _module(result, tmp_path, ["M"])
    keys = set(module.M().state_dict())
    assert {"features.0.1.running_var", "features.2.1.weight", "features.3.1.bias"} <= keys
    assert {"labelled.0.weight", "labelled.1.bias"} <= keys


def test_nested_loops_in_a_stage_and_labels_of_children() -> None:
    result = _ok(
        "model M {\n"
        "    input x: [B, 8]\n"
        "    trunk: (\n"
        "        for i in [1, 2] {\n"
        "            stage{i}: (for j in range(i) { block{i}-{j}: Linear(8) })\n"
        "        }\n"
        "    )\n"
        "}\n"
    )
    names = _names(result, "M")
    assert ["trunk.stage1", "trunk.stage1.block1-0", "trunk.stage2.block2-1"] == [
        n for n in names if n in ("trunk.stage1", "trunk.stage1.block1-0", "trunk.stage2.block2-1")
    ]


def test_a_for_stage_holds_only_layers() -> None:
    (err,) = _errors(
        "model M {\n    input x: [B, 8]\n    g: (for i in range(2) { y = Linear(8) })\n}\n"
    )
    # a compile-time value may be bound there (`k = w * 2`), a layer not
    assert (
        err.message == "a `for` stage can bind compile-time values, but this is the layer `Linear`"
    )
    assert err.span.line == 3
    (err,) = _errors("model M {\n    input x: [B, 8]\n    g: (for i in range(2) { i + 1 })\n}\n")
    assert "holds layers" in err.message


# ---- functions inside groups ------------------------------------------------------------------


def test_a_function_without_a_module_form_becomes_a_generated_module(tmp_path: Path) -> None:
    import torch

    result = _ok(
        "model M {\n"
        "    input x: [B, 4, 8, 8]\n"
        "    block: (Conv2d(4, 3, padding=1) -> permute(0, 2, 3, 1) -> LayerNorm\n"
        "        -> permute(0, 3, 1, 2))\n"
        "    head: (Conv2d(8, 1) -> mean(dim=(2, 3)) -> Linear(2))\n"
        "}\n"
    )
    names = _names(result, "M")
    assert {"block.1", "block.3", "head.1"} <= set(names)
    source = model_source(result, ["M"])
    assert "class Permute(nn.Module):" in source and "Permute([0, 2, 3, 1])" in source
    assert "class Mean(nn.Module):" in source
    module = _module(result, tmp_path, ["M"])
    model = module.M().eval()
    assert list(model.state_dict())[:4] == [
        "block.0.weight",
        "block.0.bias",
        "block.2.weight",
        "block.2.bias",
    ]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        y = model(x)
        assert tuple(y.shape) == (2, 2)
        assert torch.allclose(torch.jit.script(model)(x), y, rtol=1e-4, atol=1e-5)


def test_a_function_of_several_tensors_cannot_stand_in_a_group() -> None:
    errors = _errors(
        "model M {\n    input x: [B, 4]\n    g: (Linear(4) -> cat([x, x], dim=1))\n}\n"
    )
    assert errors[0].span.line == 3


# ---- formatting -------------------------------------------------------------------------------


def _fmt(text: str) -> str:
    source, diags = parse(text, "spec.nn")
    assert source is not None and not diags
    return format_source(source, text)


def test_labels_with_holes_round_trip_through_the_formatter() -> None:
    text = (
        "model M {\n"
        "    input x: [B, 8]\n"
        "    for i in range(2) {\n"
        "        layer{ i+1 }_{i}: Linear(8)   # two holes\n"
        "    }\n"
        "    g: (for j in [1, 2] { block{j}-{j * 2}: Linear(8) })\n"
        "}\n"
    )
    once = _fmt(text)
    assert "layer{i + 1}_{i}: Linear(8)   # two holes" in once
    assert "block{j}-{j * 2}: Linear(8)" in once
    assert _fmt(once) == once
    assert parse(once, "spec.nn")[0] == parse(text, "spec.nn")[0]  # the same IR


def test_for_stages_round_trip_through_the_formatter() -> None:
    text = (
        "model M {\n"
        "    input x: [B, 8]\n"
        "    g: (Linear(8) -> for c in [4, 8] { Linear(c) -> relu } -> Linear(2))\n"
        "    h: for i in range(2) {\n"
        "        # a comment inside\n"
        "        Linear(8)\n"
        "        Linear(8)\n"
        "    }\n"
        "}\n"
    )
    once = _fmt(text)
    assert once == text
    assert _fmt(DENSE) == _fmt(_fmt(DENSE))


def test_a_made_label_colliding_with_a_generated_name() -> None:
    (err,) = _errors(
        "model M {\n"
        "    input x: [B, 8]\n"
        '    for n in ["c"] {\n'
        "        f{n}: Linear(8)\n"
        "    }\n"
        "    Linear(8)\n"
        "}\n"
    )
    assert "`fc`" in err.message
    assert [n.span.line for n in err.notes] == [6]


def test_braces_after_a_name_that_is_not_a_label() -> None:
    result = _check("model M {\n    input x: [B, 8]\n    x -> layer{1} -> relu\n}\n")
    (err,) = [d for d in result.diagnostics if d.is_error]
    assert "right after `layer`" in err.message and (err.span.line, err.span.col) == (3, 15)
    assert "`layer{i + 1}: Layer(...)`" in (err.hint or "")
