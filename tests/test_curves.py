"""curves.png, drawn by training_utils with numpy and written by zlib (no matplotlib): a valid
PNG (read back by a decoder written here, and by Pillow where it is installed), one chart per
metric with the values where they belong, a legend naming only the series drawn, round ticks
with readable labels, and nothing drawn for a history without curves."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("torch")

from nndsl.runtime import training_utils as tu  # noqa: E402

WIDTH, HEIGHT = tu.CURVE_PANEL


def history(epochs: int = 12) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 2.0 * math.exp(-e / 4) + 0.1,
            "train_accuracy": 1 - 0.8 * math.exp(-e / 3),
            "val_loss": 2.2 * math.exp(-e / 5) + 0.2,
            "val_accuracy": 1 - 0.9 * math.exp(-e / 4),
            "lr": 0.01,
            "time": 0.5,
        }
        for e in range(1, epochs + 1)
    ]


def read_png(data: bytes) -> np.ndarray:
    """Pixels (rows, columns, RGB) of an 8-bit RGB PNG, every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()  # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3)


def near(pixels: np.ndarray, color, tolerance: int = 40) -> np.ndarray:
    """Where the pixels are (close to) a colour given in [0, 1]."""
    target = np.round(np.asarray(color) * 255)
    return np.abs(pixels.astype(int) - target).max(axis=2) <= tolerance


def draw(tmp_path: Path, rows: list[dict], name: str = "curves.png") -> np.ndarray:
    path = tmp_path / name
    assert tu.plot_curves(rows, path) is True
    return read_png(path.read_bytes())


def test_one_chart_per_metric_loss_first_same_bytes_each_time(tmp_path) -> None:
    pixels = draw(tmp_path, history())
    assert pixels.shape == (HEIGHT, 2 * WIDTH, 3)
    first = (tmp_path / "curves.png").read_bytes()
    tu.plot_curves(history(), tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == first
    # loss (the first chart) falls: its train line is high on the left, low on the right
    loss = near(pixels[:, :WIDTH], tu.CURVE_COLORS["train"])
    rows, cols = np.nonzero(loss[40:300, 60:340])  # inside the frame, left of the legend
    assert rows[cols < 80].mean() < rows[cols > 200].mean() - 80
    # accuracy (the second) rises
    accuracy = near(pixels[:, WIDTH:], tu.CURVE_COLORS["val"])
    rows, cols = np.nonzero(accuracy[40:300, 60:340])
    assert rows[cols < 80].mean() > rows[cols > 200].mean() + 80


def test_matches_pillow_decoding(tmp_path) -> None:
    image = pytest.importorskip("PIL.Image")
    pixels = draw(tmp_path, history())
    with image.open(tmp_path / "curves.png") as im:
        assert im.mode == "RGB"
        assert (np.asarray(im) == pixels).all()


def test_points_sit_at_their_values(tmp_path) -> None:
    """Two epochs, train loss 3 then 1: the dots' heights in the frame are the values'."""
    rows = [{"epoch": 1, "train_loss": 3.0}, {"epoch": 2, "train_loss": 1.0}]
    pixels = draw(tmp_path, rows)
    frame = near(pixels, tu.INK, 10)
    left = np.nonzero(frame.sum(axis=0) > 200)[0][0]  # the frame's left edge
    top, bottom = np.nonzero(frame[:, left])[0][[0, -1]]
    blue = near(pixels, tu.CURVE_COLORS["train"], 10)
    blue[: top + 60, WIDTH - 130 :] = False  # the legend: upper right, where no line is
    ys, xs = np.nonzero(blue)
    y3 = ys[xs < xs.min() + 5].mean()  # the first dot (and where its line starts)
    y1 = ys[xs > xs.max() - 5].mean()
    # the axis spans 0.9 .. 3.1 (5% margins)
    assert abs((y1 - y3) / (bottom - top) - 2.0 / 2.2) < 0.02
    assert abs((bottom - y1) / (bottom - top) - 0.1 / 2.2) < 0.02


def test_series_without_values_are_not_drawn_nor_named(tmp_path) -> None:
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": math.nan} for e in (1, 2, 3)]
    pixels = draw(tmp_path, rows)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert near(pixels, tu.CURVE_COLORS["train"], 10).sum() > 100
    assert not near(pixels, tu.CURVE_COLORS["val"], 60).any()  # no line, no legend entry


def test_gaps_single_epochs_and_odd_values_draw(tmp_path) -> None:
    cases = [
        [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.7}],
        [{"epoch": 3, "train_loss": 2.0}, {"epoch": 4, "train_loss": 2.0}],  # constant
        [{"epoch": e, "train_loss": v} for e, v in enumerate([1, math.nan, 3, math.inf], 1)],
        [{"epoch": e, "train_loss": 1e7 / e, "train_mae": 1e-6 * e} for e in range(1, 300)],
        [{"epoch": 1, "train_loss": math.nan}],  # nothing finite: an empty chart
        [{"epoch": 1, "train_loss": -0.25}, {"epoch": 2, "train_loss": 1e40}],
    ]
    for i, rows in enumerate(cases):
        pixels = draw(tmp_path, rows, f"{i}.png")
        assert pixels.shape[0] == HEIGHT
        assert near(pixels, tu.INK, 10).sum() > 500  # frame, ticks and labels


def test_nothing_to_draw(tmp_path) -> None:
    assert tu.plot_curves([], tmp_path / "a.png") is False
    assert tu.plot_curves([{"epoch": 1, "lr": 0.1}], tmp_path / "b.png") is False
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("low", "high", "most", "labels"),
    [
        (0.05, 2.1, 7, ["0.5", "1.0", "1.5", "2.0"]),
        (0.0, 3.0, 7, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"]),
        (0.28, 1.02, 7, ["0.4", "0.6", "0.8", "1.0"]),
        (0.9, 3.1, 7, ["1.0", "1.5", "2.0", "2.5", "3.0"]),
        (-5e6, 1.05e7, 7, ["-5e6", "0", "5e6", "1e7"]),
        (-3e-6, 5e-6, 5, ["-2e-6", "0", "2e-6", "4e-6"]),
        (1e6, 1e6 + 10, 6, ["1000000", "1000002", "1000004", "1000006", "1000008", "1000010"]),
        (0.95, 1.05, 7, ["0.96", "0.98", "1.00", "1.02", "1.04"]),
        (0.2, 0.325, 6, ["0.200", "0.225", "0.250", "0.275", "0.300", "0.325"]),
    ],
)
def test_round_ticks_and_their_labels(low, high, most, labels) -> None:
    ticks, step = tu.nice_ticks(low, high, most)
    assert len(ticks) <= most and all(low <= t <= high for t in ticks)
    assert [tu.tick_label(t, step) for t in ticks] == labels


def test_epoch_ticks_are_whole_epochs() -> None:
    assert tu.nice_ticks(0.95, 1.05, 8, integer=True)[0] == [1]
    assert tu.nice_ticks(-0.45, 31.45, 8, integer=True)[0] == [0, 5, 10, 15, 20, 25, 30]
    ticks, step = tu.nice_ticks(0.9, 3.1, 8, integer=True)
    assert (ticks, step) == ([1, 2, 3], 1)


def test_font_holds_printable_ascii() -> None:
    font = tu.CurveFont()
    assert sorted(font.glyphs) == [chr(c) for c in range(32, 127)]
    assert all(g.shape[0] == font.height for g, _, _ in font.glyphs.values())
    assert all(0 <= g.min() <= g.max() <= 1 for g, _, _ in font.glyphs.values() if g.size)
    assert font.glyph(" ")[0].size == 0 and font.glyph(" ")[2] > 0
    assert font.width("W") > font.width("i") > 0
    assert font.glyph("é") is font.glyph("?")  # outside ASCII: a question mark


def test_drawing_never_imports_matplotlib(tmp_path) -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pathlib import Path\n"
        "from nndsl.runtime import training_utils as tu\n"
        f"rows = [{{'epoch': 1, 'train_loss': 1.0}}, {{'epoch': 2, 'train_loss': 0.5}}]\n"
        f"assert tu.plot_curves(rows, Path({str(tmp_path / 'c.png')!r}))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
