"""Casts in the language: `x.long()`, `x.float()`, ..., and `x.to(long)`, with the dtype tracked."""

from __future__ import annotations

import pytest

import nndsl
from nndsl.check import check_file

SPEC = """
model Cast {
    input x: [B, 6]
    ids = x.{cast}                       # float values used as token ids
    emb = ids -> emb: Embedding(10, 4)
    mask = ids.float().unsqueeze(-1)
    (emb * mask).mean(dim=1) -> fc: Linear(2)
}
"""


@pytest.mark.parametrize("cast", ["long()", "to(long)", "int()", "to(int)"])
def test_cast_to_integer_feeds_an_embedding(cast: str) -> None:
    import torch

    program = nndsl.load(SPEC.replace("{cast}", cast))
    inst = program.checked.models["Cast"]
    assert [str(v.type) for _, v in inst.inputs] == ["[B, 6]"]
    net = program.build().eval()
    x = torch.randint(0, 10, (3, 6)).float()
    out = net(x)
    ids = x.long()
    want = (net.emb(ids) * ids.float().unsqueeze(-1)).mean(dim=1) @ net.fc.weight.T + net.fc.bias
    assert torch.allclose(out, want)


def test_without_the_cast_the_embedding_refuses_floats() -> None:
    checked = check_file("c.nn", SPEC.replace("ids = x.{cast}", "ids = x"))
    assert any("Embedding" in d.message for d in checked.diagnostics if d.is_error)


@pytest.mark.parametrize("arg", ["cuda", "3", "long, float"])
def test_to_takes_one_dtype(arg: str) -> None:
    checked = check_file("c.nn", SPEC.replace("{cast}", f"to({arg})"))
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors and errors[0].span is not None
    assert "dtype" in errors[0].message or "undefined name" in errors[0].message
