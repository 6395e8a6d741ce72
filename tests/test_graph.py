"""`nndsl graph`: golden DOT for the samples; the SVG of ResNet-18 and U-Net (one box per layer,
the skip edges, no overlaps); the CLI's errors and writes.

Regenerate the golden DOT files after a deliberate change with
`python -m pytest tests/test_graph.py --update-golden` and review the diff."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nndsl import graph
from nndsl.check import check_file
from nndsl.check.summary import summarize
from nndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).parent / "golden_graph"
SVG = "{http://www.w3.org/2000/svg}"


def _models() -> list[tuple[str, str]]:
    out = []
    for spec in sorted(SAMPLES.glob("*.nn")):
        checked = check_file(str(spec))
        assert checked.ok, checked.diagnostics
        out += [(spec.name, m) for m, inst in checked.models.items() if inst is not None]
    return out


MODELS = _models()


def _inst(spec: str, model: str):
    checked = check_file(str(SAMPLES / spec))
    assert checked.ok, checked.diagnostics
    return checked.models[model]


@pytest.mark.parametrize("spec, model", MODELS, ids=[f"{s}:{m}" for s, m in MODELS])
def test_golden_dot(spec: str, model: str, update_golden: bool) -> None:
    dot = graph.render(_inst(spec, model), ".dot")
    path = GOLDEN / f"{Path(spec).stem}.{model}.dot"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(dot)
        return
    assert path.exists(), "run with --update-golden"
    assert dot == path.read_text()


def test_every_sample_model_has_a_golden_file() -> None:
    expected = {f"{Path(s).stem}.{m}.dot" for s, m in MODELS}
    assert {p.name for p in GOLDEN.glob("*.dot")} == expected


def _svg(spec: str, model: str, depth: int | None = None) -> ET.Element:
    return ET.fromstring(graph.render(_inst(spec, model), ".svg", depth))


def _nodes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(SVG + "g") if g.get("class") == "node"]


def _edges(root: ET.Element) -> list[tuple[str, str]]:
    return [
        (p.get("data-src", ""), p.get("data-dst", ""))
        for p in root.iter(SVG + "path")
        if p.get("class") == "edge"
    ]


def _rect(g: ET.Element) -> tuple[float, float, float, float]:
    r = g.find(SVG + "rect")
    assert r is not None
    x, y = float(r.get("x", 0)), float(r.get("y", 0))
    return x, y, x + float(r.get("width", 0)), y + float(r.get("height", 0))


def test_resnet18_svg_one_box_per_layer_and_the_residual_edges() -> None:
    root = _svg("resnet.nn", "ResNet18")
    nodes = _nodes(root)
    rows = summarize(_inst("resnet.nn", "ResNet18"), "").rows
    leaves = [r for r in rows if r.type not in ("BasicBlock", "Sequential")]
    assert len(nodes) == len(leaves) + 1  # + the output box
    named = {g.get("data-name") for g in nodes if g.get("data-name")}
    assert named == {r.name for r in leaves if r.name and r.type != "input"}
    by_id = {g.get("id"): g for g in nodes}
    adds = [g for g in nodes if g.get("data-type") == "+"]
    assert len(adds) == 8  # one residual add per BasicBlock
    edges = _edges(root)
    for add in adds:
        srcs = [by_id[s] for s, d in edges if d == add.get("id")]
        assert len(srcs) == 2
        scope = add.get("data-scope")
        main_path = {g.get("data-name") for g in srcs}
        assert f"{scope}.bn2" in main_path  # the convolutions' branch
        skip = next(g for g in srcs if g.get("data-name") != f"{scope}.bn2")
        if scope == "layer1.0":  # the identity skip comes from before the block
            assert skip.get("data-type") == "max_pool2d"
        elif scope.endswith(".0") and scope != "layer1.0":  # stride 2: the projection
            assert skip.get("data-name") == f"{scope}.downsample.1"
        else:  # the previous block's output
            assert skip.get("data-type") == "relu"
            assert skip.get("data-scope") != scope


def test_unet_svg_has_the_skip_connections_into_cat() -> None:
    root = _svg("unet.nn", "UNet")
    nodes = _nodes(root)
    by_id = {g.get("id"): g for g in nodes}
    rows = summarize(_inst("unet.nn", "UNet"), "").rows
    assert len(nodes) == len([r for r in rows if r.type not in ("DoubleConv", "Up")]) + 1
    edges = _edges(root)
    for up, encoder in (("up1", "double_conv2"), ("up2", "double_conv1")):
        cat = next(g for g in nodes if g.get("data-type") == "cat" and g.get("data-scope") == up)
        srcs = {
            (by_id[s].get("data-scope"), by_id[s].get("data-type"))
            for s, d in edges
            if d == cat.get("id")
        }
        assert srcs == {(up, "ConvTranspose2d"), (encoder, "relu")}


def test_depth_zero_draws_blocks_and_groups_as_single_boxes() -> None:
    root = _svg("resnet.nn", "ResNet18", depth=0)
    types = [g.get("data-type") for g in _nodes(root)]
    assert [t for t in types if "Sequential" in (t or "")] == ["Sequential (2× BasicBlock)"] * 4
    assert not [g for g in root.iter(SVG + "g") if g.get("class") == "cluster"]
    one = _svg("resnet.nn", "ResNet18", depth=1)
    clusters = {g.get("data-name") for g in one.iter(SVG + "g") if g.get("class") == "cluster"}
    assert clusters == {"layer1", "layer2", "layer3", "layer4"}
    assert sum(g.get("data-kind") == "block" for g in _nodes(one)) == 8  # the BasicBlocks


@pytest.mark.parametrize("spec, model", MODELS, ids=[f"{s}:{m}" for s, m in MODELS])
def test_svg_layout_boxes_do_not_overlap_and_sit_in_their_cluster(spec: str, model: str) -> None:
    root = _svg(spec, model)
    boxes = [(g, _rect(g)) for g in _nodes(root)]
    for i, (_, a) in enumerate(boxes):
        for _, b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    clusters = {
        g.get("data-name"): _rect(g) for g in root.iter(SVG + "g") if g.get("class") == "cluster"
    }
    for g, (x0, y0, x1, y1) in boxes:
        scope = g.get("data-scope")
        if scope:
            cx0, cy0, cx1, cy1 = clusters[scope]
            assert cx0 <= x0 and x1 <= cx1 and cy0 <= y0 and y1 <= cy1


def test_html_holds_the_diagram_at_every_depth() -> None:
    page = graph.render(_inst("resnet.nn", "ResNet18"), ".html", 1)
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(svgs) == 4  # depths 0..3
    for s in svgs:
        ET.fromstring(s)
    assert '<option value="1" selected>' in page


def test_cli_writes_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(SAMPLES / "unet.nn")
    for suffix in (".svg", ".html", ".dot"):
        out = tmp_path / f"unet{suffix}"
        assert main(["graph", spec, "-o", str(out)]) == 0
        assert out.read_text() == graph.render(_inst("unet.nn", "UNet"), suffix)
    assert list(tmp_path.iterdir()) and not list(tmp_path.glob(".*"))  # no temporary left


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["resnet.nn"], 1, "has 2 models (ResNet18, ResNet34); choose one with --model"),
        (["resnet.nn", "--model", "ResNet19"], 1, "no model `ResNet19`"),
        (["unet.nn", "--depth", "-1"], 1, "--depth must be 0 or more"),
    ],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "g.svg"
    assert main(["graph", str(SAMPLES / args[0]), *args[1:], "-o", str(out)]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_cli_bad_suffix_and_unwritable_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(SAMPLES / "unet.nn")
    assert main(["graph", spec, "-o", str(tmp_path / "g.png")]) == 1
    assert "must end in .svg, .html or .dot" in capsys.readouterr().err
    assert main(["graph", spec, "-o", str(tmp_path / "missing" / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nndsl: error: cannot write") and len(err.strip().splitlines()) == 1
    existing = tmp_path / "old.dot"
    existing.write_text("old")
    existing.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        code = main(["graph", spec, "-o", str(existing)])
    finally:
        tmp_path.chmod(0o755)
    if code == 0:  # running as root: permissions do not apply
        return
    assert code == 1 and existing.read_text() == "old"


def test_graph_does_not_import_torch(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from nndsl.cli import main\n"
        "for spec, model, out in [('unet.nn', 'UNet', 'u.svg'), ('resnet.nn', 'ResNet18', 'r.html')]:\n"
        "    assert main(['graph', 'samples/' + spec, '--model', model, '-o', sys.argv[1] + '/' + out]) == 0\n"
        "print([m for m in ('torch', 'numpy') if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
