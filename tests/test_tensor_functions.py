"""Torch functions in specs: tensors made in forward (on the input's device), `split` and
attention, reductions with `dim` in chains, integer arithmetic keeping its dtype."""

from __future__ import annotations

import pytest
import torch

import nndsl
from nndsl.check import check_file
from nndsl.codegen import model_source

GPT = """
block CausalSelfAttention(n_head: int) {
    input x
    b, t, c = x.shape
    q, k, v = x -> c_attn: Linear(3 * c) -> split(c, dim=2)
    q = q.view(b, t, n_head, c // n_head).transpose(1, 2)
    k = k.view(b, t, n_head, c // n_head).transpose(1, 2)
    v = v.view(b, t, n_head, c // n_head).transpose(1, 2)
    y = scaled_dot_product_attention(q, k, v, is_causal=true)
    y.transpose(1, 2).reshape(b, t, c) -> c_proj: Linear(c)
}

block DecoderBlock(n_head: int) {
    input x
    x = x + (x -> ln_1: LayerNorm -> attn: CausalSelfAttention(n_head))
    x + (x -> ln_2: LayerNorm -> mlp: (Linear(4 * x.shape[-1]) -> gelu -> Linear(x.shape[-1])))
}

model TinyGPT(vocab: int = 256, block_size: int = 64, n_layer: int = 2, n_head: int = 4, d: int = 64) {
    input idx: long[B, T]
    pos = arange(idx.shape[1])
    x = (idx -> wte: Embedding(vocab, d)) + (pos -> wpe: Embedding(block_size, d))
    x -> h: (DecoderBlock(n_head) * n_layer) -> ln_f: LayerNorm -> lm_head: Linear(vocab, bias=false)
}
"""


def _errors(text: str):
    return [d for d in check_file("t.nn", text).diagnostics if d.is_error]


def _source(text: str) -> str:
    checked = check_file("t.nn", text)
    assert checked.ok, [d.message for d in checked.diagnostics]
    return model_source(checked, list(checked.models))


class ReferenceAttention(torch.nn.Module):
    """nanoGPT's CausalSelfAttention, as written there."""

    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.c_attn = torch.nn.Linear(d, 3 * d)
        self.c_proj = torch.nn.Linear(d, d)
        self.n_head = n_head

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class ReferenceGPT(torch.nn.Module):
    def __init__(self, vocab=256, block_size=64, n_layer=2, n_head=4, d=64) -> None:
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(block_size, d)
        self.h = torch.nn.Sequential(*[self._block(d, n_head) for _ in range(n_layer)])
        self.ln_f = torch.nn.LayerNorm(d)
        self.lm_head = torch.nn.Linear(d, vocab, bias=False)

    @staticmethod
    def _block(d, n_head):
        blk = torch.nn.Module()
        blk.ln_1 = torch.nn.LayerNorm(d)
        blk.attn = ReferenceAttention(d, n_head)
        blk.ln_2 = torch.nn.LayerNorm(d)
        blk.mlp = torch.nn.Sequential(
            torch.nn.Linear(d, 4 * d), torch.nn.GELU(), torch.nn.Linear(4 * d, d)
        )
        return blk

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.h:
            x = x + blk.attn(blk.ln_1(x))
            x = x + blk.mlp(blk.ln_2(x))
        return self.lm_head(self.ln_f(x))


def test_tiny_gpt_matches_nanogpt() -> None:
    program = nndsl.load(GPT)
    net = program.build().eval()
    ref = ReferenceGPT().eval()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in ref.parameters())
    assert set(net.state_dict()) == set(ref.state_dict())
    net.load_state_dict(ref.state_dict())
    idx = torch.randint(0, 256, (2, 10))
    with torch.no_grad():
        assert torch.allclose(net(idx), ref(idx), atol=1e-5)


def test_creation_functions_follow_the_input_device() -> None:
    source = _source(GPT)
    assert "torch.arange(T, device=idx.device)" in source
    net = nndsl.load(GPT).build().to("meta")  # a device other than the CPU default
    out = net(torch.zeros(2, 5, dtype=torch.long, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (2, 5, 256)


MAKERS = """
model Makers {
    input x: [B, 4]
    z = zeros(x.shape[0], 4) + ones(4) + full((1, 4), 2.0) + eye(4)[0]
    r = randn_like(x) * 0.0 + rand_like(x) * 0.0 + randn(4) * 0.0
    c = tensor([1.0, 2.0, 3.0, 4.0])
    n = arange(4, dtype=float) + zeros_like(x) + ones(4, dtype=long)
    m = tril(ones(4, 4))[1] + triu(ones(4, 4))[1]
    k = randint(0, 3, (x.shape[0], 4)) * 0
    (x + z + r + c + n + m + k) -> Linear(2)
}
"""


def test_creation_functions_generate_and_run() -> None:
    source = _source(MAKERS)
    for call in (
        "torch.zeros(B, 4, device=x.device)",
        "torch.full((1, 4), 2.0, device=x.device)",
        "torch.tensor([1.0, 2.0, 3.0, 4.0], device=x.device)",
        "torch.arange(4, dtype=torch.float32, device=x.device)",
        "torch.ones(4, dtype=torch.int64, device=x.device)",
        "torch.randn_like(x)",
    ):
        assert call in source, call
    net = nndsl.load(MAKERS).build()
    x = torch.randn(3, 4)
    want = (
        x + (0 + 1 + 2 + torch.eye(4)[0]) + torch.tensor([1.0, 2, 3, 4]) + (torch.arange(4) + 1)
        + torch.tril(torch.ones(4, 4))[1] + torch.triu(torch.ones(4, 4))[1]
    )  # fmt: skip
    linear = next(m for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert torch.allclose(net(x), linear(want), atol=1e-5)
    meta = net.to("meta")(torch.zeros(3, 4, device="meta"))
    assert meta.device.type == "meta"


def test_max_in_a_chain_is_torch_max() -> None:
    spec = """
model PointFeat {
    input x: [B, 3, 16]
    g = x -> Conv1d(8, 1) -> max(2, keepdim=true)
    v, i = x -> max(dim=1)
    w = max(x, 2, keepdim=true)[0]
    n = max(3, 4)
    cat([g[0], w, v.unsqueeze(2)[:, :1]], dim=1).flatten(1) -> Linear(n)
}
"""
    checked = check_file("t.nn", spec)
    assert checked.ok, [d.message for d in checked.diagnostics]
    source = _source(spec)
    assert "torch.max(x, 2, keepdim=True)" in source
    net = nndsl.load(spec).build()
    x = torch.randn(2, 3, 16)
    conv, lin = (m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)))
    g = conv(x).max(2, keepdim=True)[0]
    v = x.max(dim=1)[0].unsqueeze(2)[:, :1]
    want = lin(torch.cat([g, x.max(2, keepdim=True)[0], v], dim=1).flatten(1))
    assert torch.allclose(net(x), want, atol=1e-6)
    assert lin.out_features == 4


@pytest.mark.parametrize(
    "expr, dtype",
    [
        ("ids * 0", "int64"),
        ("ids // 2", "int64"),
        ("ids + 1", "int64"),
        ("2 * ids - 1", "int64"),
        ("ids * 1.5", "float32"),
        ("ids / 2", "float32"),
        ("ids == 0", "bool"),
        ("ids > 2", "bool"),
        ("(ids > 2).long() + ids", "int64"),
        ("where(ids > 2, ids, 0)", "int64"),
        ("ids.float().type_as(ids)", "int64"),
    ],
)
def test_integer_arithmetic_keeps_the_dtype(expr: str, dtype: str) -> None:
    spec = f"""
model Tok {{
    input ids: long[B, T]
    e = {expr}
    e.float().sum() + (ids -> Embedding(10, 4)).sum()
}}
"""
    checked = check_file("t.nn", spec)
    assert checked.ok, [d.message for d in checked.diagnostics]
    inst = checked.models["Tok"]
    op = next(o for o in inst.ops if o.span.line == 4 and o.kind != "module")
    e_type = [o for o in inst.ops if o.span.line == 4][-1].out
    assert e_type.dtype == dtype, (expr, e_type, op)
    ids = torch.randint(0, 10, (2, 5))
    real = eval(expr.replace("where", "torch.where"), {"torch": torch}, {"ids": ids})  # noqa: S307
    assert str(real.dtype) == f"torch.{dtype}"


def test_an_integer_result_feeds_an_embedding() -> None:
    spec = """
model Tok {
    input ids: long[B, T]
    (ids * 0 + ids // 2) -> Embedding(10, 4) -> mean(dim=1) -> Linear(2)
}
"""
    net = nndsl.load(spec).build()
    assert tuple(net(torch.randint(0, 10, (3, 5))).shape) == (3, 2)


@pytest.mark.parametrize(
    "line, message",
    [
        ("m = (ids > 2) - 1", "bool tensor"),
        ("m = -(ids > 2)", "bool tensor"),
        ("m = arange(3, 1)", "sign of `step`"),
        ("m = split(ids, 2, dim=1)", "number of parts"),
        ("m = gather(ids.float(), 1, ids.float())", "long tensor"),
        ("m = ids[ids.float()]", "integers or bools"),
        ("m = where(ids, ids, 0)", "bool tensor"),
        ("m = topk(ids.float(), 9, dim=0)", "out of range"),
        ("m = zeros(3, dtype=3)", "dtype"),
    ],
)
def test_mistakes_are_located_errors(line: str, message: str) -> None:
    spec = f"""
model Tok {{
    input ids: long[4, T]
    {line}
    ids
}}
"""
    errors = _errors(spec)
    assert errors, line
    assert message in errors[0].message + (errors[0].hint or ""), errors[0].message
    assert errors[0].span is not None and errors[0].span.line == 4


def test_attention_dropout_applies_in_training_only() -> None:
    spec = """
model Attn {
    input q: [B, 2, 5, 8]
    scaled_dot_product_attention(q, q, q, dropout_p=0.1)
}
"""
    assert "dropout_p=0.1 if self.training else 0.0" in _source(spec)
    net = nndsl.load(spec).build().eval()
    q = torch.randn(1, 2, 5, 8)
    want = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert torch.allclose(net(q), want, atol=1e-6)
