"""GPT-2 as nanoGPT writes it: token and position embeddings, causal self-attention through
`scaled_dot_product_attention`, pre-norm residual blocks, and the language-model head tied to the
token embedding.

The spec is compared with a plain PyTorch reference written here in nanoGPT's layout (the same
module names, so the state_dicts load into each other): parameter count in `summary` and in the
generated model, output shape, and outputs after loading the reference's weights.  GPT-2 small
(124,439,808 parameters with the tie, as nanoGPT counts them) is counted without being built.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.summary import format_type, summarize

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

SPEC = """\
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

block MLP {
    input x
    x -> c_fc: Linear(4 * x.shape[-1]) -> gelu -> c_proj: Linear(x.shape[-1])
}

block Block(n_head: int) {
    input x
    x = x + (x -> ln_1: LayerNorm -> attn: CausalSelfAttention(n_head))
    x + (x -> ln_2: LayerNorm -> mlp: MLP())
}

model GPT(vocab: int = 50257, block_size: int = 1024, n_layer: int = 12, n_head: int = 12, d: int = 768) {
    input idx: long[B, T]
    pos = arange(idx.shape[1])
    x = (idx -> wte: Embedding(vocab, d)) + (pos -> wpe: Embedding(block_size, d))
    x -> h: (Block(n_head) * n_layer) -> ln_f: LayerNorm -> lm_head: Linear(vocab, bias=false)
    tie lm_head.weight = wte.weight
}

model TinyGPT {
    input idx: long[B, T]
    idx -> GPT(vocab=97, block_size=16, n_layer=2, n_head=4, d=32)
}
"""


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, n_head)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ReferenceGPT(nn.Module):
    def __init__(self, vocab=50257, block_size=1024, n_layer=12, n_head=12, d=768) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block_size, d)
        self.h = nn.Sequential(*[Block(d, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as nanoGPT does

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        return self.lm_head(self.ln_f(self.h(x)))


TINY = dict(vocab=97, block_size=16, n_layer=2, n_head=4, d=32)


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gpt") / "gpt.nn"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def checked(spec):
    result = check_file(str(spec))
    assert result.ok, [f"{d.span}: {d.message}" for d in result.diagnostics]
    return result


def test_gpt2_small_has_nanogpts_parameter_count(checked) -> None:
    inst = checked.models["GPT"]
    assert summarize(inst, "").total == 124_439_808
    assert [format_type(t) for t in inst.output_types()] == ["[B, T, 50257]"]
    with torch.device("meta"):
        assert _count(ReferenceGPT()) == 124_439_808


def test_generated_gpt2_small_counts_the_tied_weight_once(spec) -> None:
    import nndsl

    program = nndsl.load(str(spec))
    with torch.device("meta"):
        model = program.build("GPT")
    assert _count(model) == 124_439_808
    assert model.lm_head.weight is model.wte.weight


def test_tiny_gpt_equals_the_reference(spec, checked) -> None:
    import nndsl

    torch.manual_seed(0)
    reference = ReferenceGPT(**TINY).eval()
    assert summarize(checked.models["TinyGPT"], "").total == _count(reference)
    model = nndsl.load(str(spec)).build("GPT", **TINY).eval()
    assert _count(model) == _count(reference)
    assert sorted(model.state_dict()) == sorted(reference.state_dict())
    model.load_state_dict(reference.state_dict())
    assert model.lm_head.weight is model.wte.weight
    idx = torch.randint(0, TINY["vocab"], (3, 11))
    with torch.no_grad():
        out, expected = model(idx), reference(idx)
    assert out.shape == (3, 11, TINY["vocab"])
    assert torch.allclose(out, expected, atol=1e-5)
