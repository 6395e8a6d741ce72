"""Architecture families written as their usual public implementations are, against a plain
PyTorch reference written here: `check` is clean, `summary`'s total and the generated model's
parameter count equal the reference's, the output shapes are equal, and with the reference's
weights loaded (the state_dict keys are the same) the outputs are equal.

The specs are in tests/families/.  Where the public code keeps a constant tensor as a buffer
(Swin's relative position index) the spec computes it in forward; where it names a submodule
`self` (Hugging Face's `attention.self`) the spec says `selfattn`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nndsl
from nndsl.check import check_file
from nndsl.check.summary import summarize

HERE = Path(__file__).parent / "families"


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


def check_family(spec: str, model: str, ref: nn.Module, inputs: tuple, *, seed: bool = False):
    path = HERE / spec
    checked = check_file(str(path))
    assert checked.ok, [d.message for d in checked.diagnostics]
    n_ref = sum(p.numel() for p in ref.parameters())
    assert summarize(checked.models[model], "").total == n_ref
    net = nndsl.load(str(path)).build(model).eval()
    ref = ref.eval()
    assert sum(p.numel() for p in net.parameters()) == n_ref
    assert set(net.state_dict()) == set(ref.state_dict())
    net.load_state_dict(ref.state_dict())
    with torch.no_grad():
        if seed:
            torch.manual_seed(0)
        got = _outputs(net(*inputs))
        if seed:
            torch.manual_seed(0)
        want = _outputs(ref(*inputs))
    assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    static = checked.models[model].output_types()
    assert [len(t.shape) for t in static] == [g.dim() for g in got]
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-5), (g - w).abs().max()
    with warnings.catch_warnings():  # (torch.jit.script is deprecated, still supported)
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(net)  # the generated code is TorchScript too
    with torch.no_grad():
        if seed:
            torch.manual_seed(0)
        for g, w in zip(_outputs(scripted(*inputs)), want):
            assert torch.allclose(g, w, atol=1e-5)


# ---- Hugging Face's BERT encoder: token + position + segment embeddings ---------------------


class BertSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.heads = heads

    def forward(self, x, mask):
        b, t, d = x.shape

        def split(y):
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return y.transpose(1, 2).reshape(b, t, d)


class BertOutput(nn.Module):
    def __init__(self, d_in: int, d: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.dropout = nn.Dropout(0.1)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertLayer(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.selfattn = BertSelfAttention(d, heads)
        self.attnout = BertOutput(d, d)
        self.intermediate = nn.Linear(d, ffn)
        self.output = BertOutput(ffn, d)

    def forward(self, x, mask):
        a = self.attnout(self.selfattn(x, mask), x)
        return self.output(F.gelu(self.intermediate(a)), a)


class BertEncoder(nn.Module):
    def __init__(self, vocab=100, max_pos=32, types=2, d=32, heads=4, ffn=64) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.token_type_embeddings = nn.Embedding(types, d)
        self.position_embeddings = nn.Embedding(max_pos, d)
        self.emb_norm = nn.LayerNorm(d, eps=1e-12)
        self.emb_dropout = nn.Dropout(0.1)
        self.layer0 = BertLayer(d, heads, ffn)
        self.layer1 = BertLayer(d, heads, ffn)

    def forward(self, input_ids, token_type_ids, attention_mask):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        e = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(pos)
        )
        x = self.emb_dropout(self.emb_norm(e))
        mask = (1.0 - attention_mask[:, None, None, :]) * -10000.0
        return self.layer1(self.layer0(x, mask), mask)


def test_bert_encoder() -> None:
    ids = torch.randint(0, 100, (2, 7))
    types = torch.randint(0, 2, (2, 7))
    mask = torch.ones(2, 7)
    mask[1, 5:] = 0
    check_family("bert.nn", "BertEncoder", BertEncoder(), (ids, types, mask))


# ---- a VAE with the reparametrisation trick -------------------------------------------------


class VAE(nn.Module):
    def __init__(self, latent: int = 8) -> None:
        super().__init__()
        self.fc1, self.fc_mu, self.fc_logvar = (
            nn.Linear(64, 64),
            nn.Linear(64, latent),
            nn.Linear(64, latent),
        )
        self.fc3, self.fc4 = nn.Linear(latent, 64), nn.Linear(64, 64)

    def forward(self, x):
        h = F.relu(self.fc1(x.flatten(1)))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = torch.sigmoid(self.fc4(F.relu(self.fc3(z)))).reshape(-1, 1, 8, 8)
        return recon, mu, logvar


def test_vae() -> None:
    check_family("vae.nn", "VAE", VAE(), (torch.rand(3, 1, 8, 8),), seed=True)


# ---- PointNet with its input transform ------------------------------------------------------


class STN3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(3, 64, 1), nn.Conv1d(64, 128, 1)
        self.bn1, self.bn2, self.bn4 = nn.BatchNorm1d(64), nn.BatchNorm1d(128), nn.BatchNorm1d(64)
        self.fc1, self.fc2 = nn.Linear(128, 64), nn.Linear(64, 9)

    def forward(self, x):
        b = x.size(0)
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        x = torch.max(x, 2, keepdim=True)[0].view(-1, 128)
        x = self.fc2(F.relu(self.bn4(self.fc1(x))))
        iden = torch.eye(3, device=x.device).view(1, 9).repeat(b, 1)
        return (x + iden).view(-1, 3, 3)


class PointNetCls(nn.Module):
    def __init__(self, k: int = 4) -> None:
        super().__init__()
        self.stn = STN3d()
        self.conv1, self.conv2 = nn.Conv1d(3, 64, 1), nn.Conv1d(64, 128, 1)
        self.bn1, self.bn2 = nn.BatchNorm1d(64), nn.BatchNorm1d(128)
        self.fc1, self.bn1f, self.fc2 = nn.Linear(128, 64), nn.BatchNorm1d(64), nn.Linear(64, k)

    def forward(self, x):
        trans = self.stn(x)
        x = torch.bmm(x.transpose(2, 1), trans).transpose(2, 1)
        x = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        x = torch.max(x, 2, keepdim=True)[0].view(-1, 128)
        return F.log_softmax(self.fc2(F.relu(self.bn1f(self.fc1(x)))), dim=1)


def _randomize_norms(m: nn.Module) -> nn.Module:
    """BatchNorm statistics that are not the identity, so that eval mode is tested."""
    for mod in m.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
    return m


def test_pointnet() -> None:
    check_family(
        "pointnet.nn", "PointNetCls", _randomize_norms(PointNetCls()), (torch.randn(2, 3, 20),)
    )


# ---- SE-ResNet ------------------------------------------------------------------------------


class SELayer(nn.Module):
    def __init__(self, c: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(c, c // reduction, bias=False), nn.ReLU(),
            nn.Linear(c // reduction, c, bias=False), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1)).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SEBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SELayer(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = self.se(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class SEResNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.layer1, self.layer2 = SEBasicBlock(16, 16), SEBasicBlock(16, 32, stride=2)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x)))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_se_resnet() -> None:
    check_family("se.nn", "SEResNet", _randomize_norms(SEResNet()), (torch.randn(2, 3, 16, 16),))


# ---- a YOLO-style detection head ------------------------------------------------------------


class YoloHead(nn.Module):
    def __init__(self, c: int, anchors: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, anchors * (5 + classes), 1)
        self.anchors, self.classes = anchors, classes

    def forward(self, x):
        b, _, h, w = x.shape
        n = 5 + self.classes
        p = self.conv(x).view(b, self.anchors, n, h, w).permute(0, 1, 3, 4, 2).contiguous()
        out = torch.cat(
            [torch.sigmoid(p[..., 0:2]), torch.exp(p[..., 2:4]), torch.sigmoid(p[..., 4:])], dim=-1
        )
        return out.view(b, -1, n)


class TinyYolo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.LeakyReLU(0.1),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.LeakyReLU(0.1),
        )  # fmt: skip
        self.head = YoloHead(32)

    def forward(self, x):
        return self.head(self.backbone(x))


def test_yolo_head() -> None:
    check_family("yolo.nn", "TinyYolo", _randomize_norms(TinyYolo()), (torch.randn(2, 3, 32, 32),))


# ---- Swin's window attention with relative position bias ------------------------------------


class WindowAttention(nn.Module):
    def __init__(self, c: int, ws: int, heads: int) -> None:
        super().__init__()
        self.ws, self.heads = ws, heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)

    def forward(self, x):
        b, n, c = x.shape
        ws = self.ws
        coords = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing="ij"))
        flat = torch.flatten(coords, 1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        index = rel.sum(-1)
        bias = self.relative_position_bias_table[index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1).contiguous()
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1) + bias.unsqueeze(0)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class SwinWindow(nn.Module):
    def __init__(self, ws: int = 4, heads: int = 2, c: int = 16) -> None:
        super().__init__()
        self.ws, self.c = ws, c
        self.norm = nn.LayerNorm(c)
        self.attn = WindowAttention(c, ws, heads)

    def forward(self, x):
        b, h, w, c = x.shape
        shifted = torch.roll(x, shifts=(-2, -2), dims=(1, 2))
        ws = self.ws
        win = shifted.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        return self.attn(self.norm(win.reshape(-1, ws * ws, c)))


def test_swin_window_attention() -> None:
    check_family("swin.nn", "SwinWindow", SwinWindow(), (torch.randn(2, 16, 16, 16),))


@pytest.mark.parametrize("spec", sorted(p.name for p in HERE.glob("*.nn")))
def test_family_specs_never_import_torch_to_check(spec: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom nndsl.check import check_file\n"
        f"c = check_file({str(HERE / spec)!r})\n"
        "assert c.ok, [d.message for d in c.diagnostics]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
