"""Write the glyphs of curves.png's text into nndsl/runtime/training_utils.py (`CURVE_FONT`).

training_utils.py draws curves.png with numpy alone (no matplotlib, whose import costs a
second of CPU in every run), so it carries the few glyphs its labels need: printable ASCII
of DejaVu Sans (Bitstream Vera license; the face matplotlib draws with by default), rendered
by FreeType through Pillow (which this tool needs) at 13 pixels, each pixel's coverage in
16 levels.

Usage::

    .venv/bin/python tools/gen_curve_font.py           # rewrite CURVE_FONT in training_utils.py
    .venv/bin/python tools/gen_curve_font.py --stdout  # print it

The data, base85 of zlib of:
    height, ascent (one byte each), then per character from " " to "~":
    its left offset + 8, its width and its advance in quarter pixels (one byte each),
    then the glyphs side by side, `height` rows of 4-bit coverage, two pixels a byte
    (the high nibble first; a row of odd width ends with a zero nibble).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "nndsl" / "runtime" / "training_utils.py"
SIZE = 13
FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
]
BLOCK = re.compile(r"^CURVE_FONT = \(\n(?:    \".*\"\n)+\)\n", re.M)


def font_file() -> Path:
    try:
        import matplotlib

        FONTS.insert(0, Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:
        pass
    for path in FONTS:
        if path.exists():
            return path
    sys.exit("DejaVuSans.ttf not found (install matplotlib or fonts-dejavu-core)")


def glyph_data() -> bytes:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_file()), SIZE)
    ascent, descent = font.getmetrics()
    height = ascent + descent
    meta = bytearray([height, ascent])
    columns = []
    for code in range(32, 127):
        char = chr(code)
        advance = font.getlength(char)
        image = Image.new("L", (int(advance) + 8, height), 0)
        ImageDraw.Draw(image).text((4, 0), char, font=font, fill=255)
        pixels = np.asarray(image)
        used = np.nonzero(pixels.any(axis=0))[0]
        left, right = (int(used[0]), int(used[-1]) + 1) if len(used) else (4, 4)
        meta += bytes([left - 4 + 8, right - left, round(advance * 4)])
        columns.append(pixels[:, left:right])
    strip = np.concatenate(columns, axis=1).astype(np.int32)
    levels = (strip * 15 + 127) // 255
    if levels.shape[1] % 2:
        levels = np.pad(levels, ((0, 0), (0, 1)))
    packed = (levels[:, 0::2] << 4 | levels[:, 1::2]).astype(np.uint8)
    return bytes(meta) + packed.tobytes()


def block() -> str:
    text = base64.b85encode(zlib.compress(glyph_data(), 9)).decode("ascii")
    lines = [text[i : i + 80] for i in range(0, len(text), 80)]
    return "CURVE_FONT = (\n" + "".join(f'    "{line}"\n' for line in lines) + ")\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stdout", action="store_true")
    args = ap.parse_args()
    new = block()
    if args.stdout:
        sys.stdout.write(new)
        return
    source = TARGET.read_text(encoding="utf-8")
    if not BLOCK.search(source):
        sys.exit(f"no CURVE_FONT block in {TARGET}")
    TARGET.write_text(BLOCK.sub(lambda _: new, source, count=1), encoding="utf-8")
    print(f"wrote CURVE_FONT in {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
