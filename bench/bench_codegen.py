"""Benchmark of the generated models: forward + backward of the generated model.py against the same
network written by hand, and against the interpreter's in-memory module.

Run from the repository root:

    .venv/bin/python bench/bench_codegen.py [--size 224] [--rounds 20] [--digits-rounds 200]

It prints ratios measured in this one run (median time of the generated module over that of the
hand-written one, and of the interpreter's module over the generated file's), never bare absolute
times as the result.  Nothing is asserted about speed; the only assertions check that the
compared modules compute the same thing.

1. `nndsl generate` (through the Python API) writes model.py for samples/resnet.nn and
   samples/digits_cnn.nn into a temporary folder; the files are imported as modules.
2. The hand-written equivalents below are written the way a careful engineer writes PyTorch: an
   nn.Module with the same layers, ResNet18 exactly in torchvision's style (BasicBlock with an
   optional `downsample`, `nn.ReLU(inplace=True)`, `nn.AdaptiveAvgPool2d`).  The generated model's
   state_dict is loaded into the hand-written model and into the interpreter's module
   (`nndsl.load(path).build(name)`) with strict=True, and their outputs and gradients are checked
   against the generated model's before anything is timed.
3. One timed sample is `zero_grad(set_to_none=True)`, forward, cross-entropy, backward, in train
   mode: one step for ResNet18 (input [8, 3, SIZE, SIZE], SIZE 224 by default), a block of 20
   steps for DigitsCNN (input [64, 1, 8, 8]).  The modules take turns sample by sample, in a
   rotating order, after a warm-up.  A ratio is the median over the rounds of the per-round ratio
   of CPU time of the process (robust to other jobs taking the CPU), with a bootstrap 95%
   interval of that median; the ratio of pooled medians and the wall-time ratio are printed too.
   For ResNet18 a fourth module, the hand-written one with ReLU and the residual sum out of place
   (as the generated code computes them; torchvision uses `inplace=True` and `+=`), tells what
   the in-place operations are worth.

Threads: the default is `--threads 1` (torch.set_num_threads): on a machine with few cores
shared with other jobs, torch's one thread per core makes OpenMP threads wait for each other
whenever something else runs, and a step becomes several times slower at random.  The modules
compared run the same kernels either way.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import nndsl  # noqa: E402

TARGET = 1.02

# ---- hand-written equivalents ------------------------------------------------------------------


class HandDigitsCNN(nn.Module):
    """DigitsCNN as one would write it: layers in __init__, a plain forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.dropout = nn.Dropout(0.25)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.dropout(torch.flatten(x, 1)))


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, without the options ResNet18 does not use.

    `inplace=False` is a diagnostic variant, not torchvision's code: ReLU and the residual sum out
    of place, as the generated code computes them (`F.relu(y)`, `y = y + s`)."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample=None, inplace: bool = True
    ) -> None:
        super().__init__()
        self.inplace = inplace
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=inplace)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        if self.inplace:
            out += identity
        else:
            out = out + identity
        out = self.relu(out)
        return out


class HandResNet18(nn.Module):
    """torchvision.models.resnet18, written out the way torchvision writes it."""

    def __init__(self, num_classes: int = 1000, inplace: bool = True) -> None:
        super().__init__()
        self.inplanes = 64
        self.inplace = inplace
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=inplace)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, stride=2)
        self.layer3 = self._make_layer(256, 2, stride=2)
        self.layer4 = self._make_layer(512, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, self.inplace)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, inplace=self.inplace) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


# ---- set-up --------------------------------------------------------------------------------------


def import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def three_modules(spec: Path, model: str, hand_cls, tmp: Path, tag: str) -> dict[str, nn.Module]:
    """{"generated", "hand-written", "interpreter"}: the same weights in all three."""
    program = nndsl.load(spec)
    out = tmp / tag
    program.generate(out)
    gen_mod = import_file(f"bench_codegen_{tag}", out / "model.py")
    torch.manual_seed(0)
    generated = getattr(gen_mod, model)()
    hand = hand_cls()
    interp = nndsl.load(spec).build(model)
    state = generated.state_dict()
    hand.load_state_dict(state, strict=True)
    interp.load_state_dict(state, strict=True)
    same_source = (out / "model.py").read_text() == _interp_source(interp)
    print(
        f"   {spec.relative_to(ROOT)} {model}: the interpreter runs the same source as the "
        f"generated model.py: {'yes' if same_source else 'NO'}"
    )
    return {"generated": generated, "hand-written": hand, "interpreter": interp}


def _interp_source(module: nn.Module) -> str:
    import linecache

    filename = type(module).forward.__code__.co_filename  # `<nndsl resnet.nn: model.py>`
    return "".join(linecache.getlines(filename))


def check_same(models: dict[str, nn.Module], x: torch.Tensor, target: torch.Tensor) -> None:
    """Outputs in eval mode, and the loss and every gradient after one train-mode step with the
    same dropout draws, equal those of the generated model (tolerance for summation order)."""
    ref = models["generated"]
    for name, m in models.items():
        m.eval()
        with torch.no_grad():
            ok = torch.allclose(m(x), ref(x), rtol=1e-5, atol=1e-5)
        assert ok, f"{name}: eval outputs differ from the generated model's"
    grads = {}
    for name, m in models.items():
        m.train()
        m.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        loss = F.cross_entropy(m(x), target)
        loss.backward()
        grads[name] = (loss.detach(), {k: p.grad for k, p in m.named_parameters()})
    for name, (loss, g) in grads.items():
        assert torch.allclose(loss, grads["generated"][0], rtol=1e-5, atol=1e-6), name
        for k, v in g.items():
            assert torch.allclose(v, grads["generated"][1][k], rtol=1e-4, atol=1e-5), (name, k)
    # the check ran BatchNorm in train mode: give all three the same running statistics again
    state = ref.state_dict()
    for m in models.values():
        m.load_state_dict(state)
        m.train()
    print("   outputs, loss and gradients match the generated model's: yes (checked)")


# ---- timing ----------------------------------------------------------------------------------


def step(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), target).backward()


def sample(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per step over `steps` steps."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step(model, x, target)
    return (time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps


def median_ci(ratios: list[float], resamples: int = 2000) -> tuple[float, float]:
    """A bootstrap 95% interval of the median of the per-round ratios."""
    rng = random.Random(0)
    meds = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return meds[int(0.025 * resamples)], meds[int(0.975 * resamples)]


TARGETS = (("generated", "hand-written"), ("interpreter", "generated"))


def compare(title: str, models: dict[str, nn.Module], x, target, rounds: int, steps: int) -> None:
    names = list(models)
    for name in names:  # warm-up: allocator, oneDNN primitives, autograd graph caches
        sample(models[name], x, target, max(2, steps))
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            c, w = sample(models[name], x, target, steps)
            cpu[name].append(c)
            wall[name].append(w)
    print(
        f"   forward+backward, {rounds} rounds x {steps} step(s) per module, interleaved; "
        "ratio = median over rounds of the per-round CPU-time ratio:"
    )
    pairs = list(TARGETS)
    oop = "hand-written, out-of-place"
    if oop in models:
        pairs += [("generated", oop), (oop, "hand-written")]
    result = {}
    for a, b in pairs:
        ratios = [x / y for x, y in zip(cpu[a], cpu[b])]
        ratio = statistics.median(ratios)
        lo, hi = median_ci(ratios)
        pooled = statistics.median(cpu[a]) / statistics.median(cpu[b])
        wall_ratio = statistics.median(wall[a]) / statistics.median(wall[b])
        result[a, b] = (ratio, lo, hi)
        print(
            f"   {a + ' / ' + b:<52} {ratio:.3f}  (95% interval {lo:.3f} .. {hi:.3f}; "
            f"pooled medians {pooled:.3f}; wall {wall_ratio:.3f})"
        )
    for a, b in TARGETS:
        ratio, lo, hi = result[a, b]
        verdict = "meets" if abs(ratio - 1) <= TARGET - 1 else "MISSES"
        sure = "" if (hi - 1 <= TARGET - 1 and 1 - lo <= TARGET - 1) else "; interval wider than 2%"
        print(f"{title}: {a} / {b} = {ratio:.3f} ({verdict} the target: within 2%{sure})")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224, help="ResNet18 input height and width")
    ap.add_argument("--batch", type=int, default=8, help="ResNet18 batch size")
    ap.add_argument("--rounds", type=int, default=20, help="ResNet18 rounds (1 step each)")
    ap.add_argument("--digits-rounds", type=int, default=200, help="DigitsCNN rounds (20 steps)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), {sys.platform}"
    )
    with tempfile.TemporaryDirectory(prefix="nndsl-bench-codegen-") as d:
        tmp = Path(d)
        torch.manual_seed(0)
        title = f"ResNet18 [{args.batch}, 3, {args.size}, {args.size}]"
        print(f"== {title} ==")
        models = three_modules(
            ROOT / "samples" / "resnet.nn", "ResNet18", HandResNet18, tmp, "resnet"
        )
        x = torch.randn(args.batch, 3, args.size, args.size)
        target = torch.randint(0, 1000, (args.batch,))
        oop = HandResNet18(inplace=False)
        oop.load_state_dict(models["generated"].state_dict(), strict=True)
        models["hand-written, out-of-place"] = oop
        check_same(models, x[:2], target[:2])
        compare(title, models, x, target, args.rounds, 1)

        title = "DigitsCNN [64, 1, 8, 8]"
        print(f"== {title} ==")
        models = three_modules(
            ROOT / "samples" / "digits_cnn.nn", "DigitsCNN", HandDigitsCNN, tmp, "digits"
        )
        x = torch.randn(64, 1, 8, 8)
        target = torch.randint(0, 10, (64,))
        check_same(models, x, target)
        compare(title, models, x, target, args.digits_rounds, 20)


if __name__ == "__main__":
    main()
