"""Indexing a tensor with tensors (`x[ids]`, `x[:, ids]`, `x[mask]`), against torch.

Random index expressions (integers, slices, `none`, `...`, integer tensors and bool masks) on
random concrete shapes are written as a spec, checked, and the output type compared with what
torch gives on real tensors; where torch raises, `check` reports a located error.
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl import dims
from nndsl.check import check_file

FUZZ = int(os.environ.get("NNDSL_FUZZ", "0") or 0)


@st.composite
def index_case(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    items: list = []
    inputs: list = []  # (name, shape, dtype)
    pos = 0
    while pos < rank and len(items) < 5:
        kind = draw(st.sampled_from(["int", "slice", "none", "ids", "ids", "mask", "ellipsis"]))
        if kind in ("ids", "mask") and any(dt == "bool" for _, _, dt, _ in inputs):
            kind = "slice"  # a mask's count is only known at run time: with another tensor
        if kind == "mask" and inputs:  # index, whether they broadcast depends on the values
            kind = "ids"
        if kind == "int":
            items.append(str(draw(st.integers(-shape[pos], shape[pos] - 1))))
            pos += 1
        elif kind == "slice":
            items.append(draw(st.sampled_from([":", "1:", ":-1", "::2"])))
            pos += 1
        elif kind == "none":
            items.append("none")
        elif kind == "ellipsis":
            if "..." not in items:
                items.append("...")
                pos = rank - draw(st.integers(0, rank - pos))
        elif kind == "ids":
            s = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2))))
            name = f"i{len(inputs)}"
            inputs.append(
                (name, s, draw(st.sampled_from(["long", "long", "int", "float"])), shape[pos])
            )
            items.append(name)
            pos += 1
        else:
            k = draw(st.integers(1, rank - pos))
            s = tuple(shape[pos : pos + k])
            if draw(st.integers(0, 7)) == 0:
                s = s[:-1] + (s[-1] + 1,)
            name = f"m{len(inputs)}"
            inputs.append((name, s, "bool", 2))
            items.append(name)
            pos += k
    if draw(st.integers(0, 9)) == 0:
        items.append("0")  # perhaps too many
    if not any(n in items for n, *_ in inputs):
        name = f"i{len(inputs)}"
        inputs.append((name, (2,), "long", shape[0]))
        items.insert(0, name)
    return tuple(shape), items, inputs


def _spec(shape, items, inputs) -> str:
    decl = ", ".join(
        f"{n}: {'' if dt == 'float' else dt}{list(s)}".replace("'", "") for n, s, dt, _ in inputs
    )
    return f"model M {{\n    input x: {list(shape)}, {decl}\n    x[{', '.join(items)}]\n}}\n"


def _torch_tensor(s, dt, high):
    if dt == "bool":
        return torch.rand(s) > 0.5
    if dt == "float":
        return torch.zeros(s)
    return torch.randint(0, high, s, dtype=torch.int64 if dt == "long" else torch.int32)


@settings(
    max_examples=150 * max(FUZZ, 1),
    deadline=None,
    database=None,
    derandomize=not FUZZ,
    suppress_health_check=list(HealthCheck),
)
@given(index_case())
def test_tensor_indexing_matches_torch(case) -> None:
    shape, items, inputs = case
    spec = _spec(shape, items, inputs)
    checked = check_file("idx.nn", spec)
    errors = [d for d in checked.diagnostics if d.is_error]
    env = {"x": torch.randn(shape)}
    for n, s, dt, high in inputs:
        env[n] = _torch_tensor(s, dt, high)
    expr = f"x[{', '.join(items)}]".replace("none", "None")
    try:
        real = eval(expr, {}, env)  # noqa: S307 (an index expression the test made)
    except Exception as exc:  # noqa: BLE001
        assert errors, f"{spec}torch raises {exc}, but the spec checks"
        assert all(d.span is not None for d in errors)
        return
    assert not errors, f"{spec}torch gives {tuple(real.shape)}, but: {errors[0].message}"
    out = checked.models["M"].outputs[0].type
    assert len(out.shape) == real.dim(), f"{spec}{out} vs {tuple(real.shape)}"
    for d, r in zip(out.shape, real.shape):
        if isinstance(d, int):
            assert d == r, f"{spec}{out} vs {tuple(real.shape)}"
        else:  # a mask's count, unknown until run
            assert any(dims.is_opaque_symbol(n) for n in dims.free_symbols(d)), spec
    assert out.dtype == str(real.dtype).removeprefix("torch."), spec


def test_a_comparison_written_inside_the_brackets_is_a_mask(tmp_path) -> None:
    """`x[x > 0.5]` and `x[:, x[0] > 0]` as PyTorch users write them: the generated model
    computes what torch computes."""
    import nndsl

    spec = tmp_path / "mask.nn"
    spec.write_text(
        "model M {\n    input x: [B, 6]\n    m = x[x > 0.5]\n    x[:, x[0] > 0] + m.sum()\n}\n"
    )
    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics]
    model = nndsl.load(str(spec)).build("M")
    x = torch.randn(4, 6)
    expected = x[:, x[0] > 0] + x[x > 0.5].sum()
    assert torch.equal(model(x), expected)
