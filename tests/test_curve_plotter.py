"""curves.png drawn by a forked process that imports matplotlib while the run trains
(training_utils.CurvePlotter): the same picture as drawing in the run's own process, and no
process left behind whether or not the run asks for it."""

from __future__ import annotations

import math
import os
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from nndsl.runtime import training_utils as tu  # noqa: E402

HISTORY = [
    {"epoch": 1, "train_loss": 1.5, "train_accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.6},
    {"epoch": 2, "train_loss": 0.9, "train_accuracy": 0.7, "val_loss": math.nan},
]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@linux_only
def test_forked_drawing_is_the_same_png(tmp_path) -> None:
    plotter = tu.CurvePlotter()
    plotter.start()
    pid = plotter.pid
    assert pid is not None and pid != os.getpid()
    assert plotter.plot(HISTORY, tmp_path / "forked.png") is True
    assert _gone(pid)
    assert tu.plot_curves(HISTORY, tmp_path / "here.png") is True
    forked = (tmp_path / "forked.png").read_bytes()
    assert forked[:8] == b"\x89PNG\r\n\x1a\n"
    assert forked == (tmp_path / "here.png").read_bytes()


@linux_only
def test_closing_without_a_drawing_ends_the_child(tmp_path) -> None:
    plotter = tu.CurvePlotter()
    plotter.start()
    pid = plotter.pid
    plotter.close()
    assert plotter.pid is None and plotter.pipe is None
    assert _gone(pid)
    plotter.close()  # twice is harmless
    assert list(tmp_path.iterdir()) == []


@linux_only
def test_child_without_matplotlib_reports_no_curves(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the child inherits it: ImportError
    plotter = tu.CurvePlotter()
    plotter.start()
    assert plotter.plot(HISTORY, tmp_path / "curves.png") is False
    assert not (tmp_path / "curves.png").exists()


def test_without_a_child_it_draws_in_process(tmp_path) -> None:
    plotter = tu.CurvePlotter()  # never started: as on a system without os.fork
    assert plotter.plot(HISTORY, tmp_path / "curves.png") is True
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
