"""`nndsl check` and `nndsl summary` end without the interpreter's clean-up (cli._exit_now):
their whole output still arrives, through pipes and files, with the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# buffered output, as usual: what _exit_now must flush
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _nndsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, cwd=cwd, env=ENV
    )


def test_check_ok_and_errors_arrive_whole(tmp_path: Path) -> None:
    ok = _nndsl("check", "samples/zoo/resnet.nn")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "samples/zoo/resnet.nn: ok\n", "")
    n = 300  # more diagnostics than a pipe buffer holds
    body = "\n".join(f"    Linear(4) -> nosuch{i}" for i in range(n))
    bad = tmp_path / "bad.nn"
    bad.write_text(f"model Net {{\n    input x: [B, 3]\n{body}\n}}\n")
    res = _nndsl("check", str(bad))
    assert res.returncode == 1
    for i in (0, n // 2, n - 1):
        assert f"error: unknown function `nosuch{i}`" in res.stderr
    assert res.stderr.count("error: unknown function") == n
    assert res.stderr.rstrip().endswith(f"{n} errors")


def test_summary_table_arrives_whole_into_a_file(tmp_path: Path) -> None:
    out = tmp_path / "summary.txt"
    with open(out, "w") as fh:
        rc = subprocess.run(
            [
                sys.executable,
                "-m",
                "nndsl",
                "summary",
                "samples/zoo/resnet.nn",
                "--model",
                "ResNet50",
            ],
            stdout=fh,
            cwd=ROOT,
            env=ENV,
        ).returncode
    text = out.read_text()
    assert rc == 0
    assert "25,557,032" in text  # torchvision's ResNet-50 parameter count, the table's last part
