"""Benchmark of `nndsl check` on a spec that needs the function fallback (torch run on meta tensors).

Run from the repository root:

    .venv/bin/python bench/bench_check_fallback.py [--runs 7]

A GPT-2-style decoder in nanoGPT's layout (`c_attn` split into q, k, v, heads by `view` and
`transpose`, `scaled_dot_product_attention(is_causal=true)`, `c_proj`, a GELU MLP, pre-norm
residuals, learned positions) that calls functions outside nndsl's catalog (at the time of
writing `split` and `scaled_dot_product_attention`; `nan_to_num` on the logits in any case), so
checking imports torch and runs those calls on meta tensors.  Each command runs in a fresh
interpreter, alternating, `--runs` times; medians of wall time and of CPU time (user + system,
steadier than wall time on a busy machine).  It prints ratios measured in this run:
`nndsl check` over `python -c pass`, and over `python -c "import torch"` (the floor for anything
that needs torch).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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

block DecoderBlock(n_head: int) {
    input x
    x = x + (x -> ln_1: LayerNorm -> attn: CausalSelfAttention(n_head))
    x + (x -> ln_2: LayerNorm -> mlp: (Linear(4 * x.shape[-1]) -> gelu -> Linear(x.shape[-1])))
}

model GPT(vocab: int = 50304, block_size: int = 1024, n_layer: int = 12, n_head: int = 12, d: int = 768) {
    input idx: long[B, 1024]
    param wpe: [1, block_size, d] = normal(std=0.02)
    x = (idx -> wte: Embedding(vocab, d)) + wpe
    x -> h: (DecoderBlock(n_head) * n_layer) -> ln_f: LayerNorm -> lm_head: Linear(vocab, bias=false)
      -> nan_to_num
}
"""


def _time(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    nndsl = str(Path(sys.executable).with_name("nndsl"))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "gpt2.nn"
        spec.write_text(SPEC, encoding="utf-8")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import torch"': [sys.executable, "-c", "import torch"],
            "nndsl check gpt2.nn": [nndsl, "check", str(spec)],
        }
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for name, cmd in commands.items():  # warm-up (file cache)
            _time(cmd)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(_time(cmd))
    print(f"medians of {args.runs} runs each (seconds on this machine: wall, CPU user+system):")
    for kind, idx in (("wall", 0), ("CPU", 1)):
        med = {k: statistics.median(t[idx] for t in v) for k, v in times.items()}
        check = med["nndsl check gpt2.nn"]
        bare, torch = med["python -c pass"], med['python -c "import torch"']
        print(f"  {kind}: " + ", ".join(f"{name} {value:.3f}" for name, value in med.items()))
        print(f"  {kind}: check / python -c pass:           {check / bare:6.1f}x")
        print(f"  {kind}: check / python -c 'import torch': {check / torch:6.2f}x")
        print(
            f"  {kind}: check beyond import torch:        {(check - torch) / bare:6.1f}x python -c pass"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
