"""The bounds on the work a spec can ask of nndsl at compile time, in one place.

A spec is data: whatever it says, `check`, `summary`, `generate` and `fmt` finish quickly in
bounded memory, and a value past one of these limits is a located error, not a hang, a
MemoryError or a traceback.  docs/language.md ("Limits") lists them for users.
"""

from __future__ import annotations

import os

# Integers known at compile time (literals, consts, arithmetic, sizes): torch's int64.
MAX_INT = 2**63 - 1

# Items of a list or tuple built at compile time (`[0] * n`, `a + b`).
MAX_ITEMS = 100_000

# Levels of lists and tuples nested in one another at compile time (`l = [l]` in a loop).
MAX_VALUE_DEPTH = 100

# Characters of a string built at compile time (`"a" + "b"`).
MAX_STRING = 1_000_000

# Statements that `for` loops run at compile time, over the whole spec (loops are unrolled).
MAX_STEPS = 100_000

# Elements of one tensor whose shape is known statically: what an int64 can count.
MAX_NUMEL = 2**63 - 1

# Decoded image data that a data source may hold in memory, in bytes (float32 pixels).  The
# environment variable NNDSL_MAX_DATA_BYTES raises (or lowers) it.
DEFAULT_MAX_DATA_BYTES = 4 * 1024**3
DATA_BYTES_ENV = "NNDSL_MAX_DATA_BYTES"

# The side of an image a data source resizes to, in pixels.
MAX_IMAGE_SIDE = 8192


def max_data_bytes() -> int:
    """The data memory limit: NNDSL_MAX_DATA_BYTES when set to a positive integer, else 4 GiB."""
    raw = os.environ.get(DATA_BYTES_ENV, "").strip().replace("_", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_MAX_DATA_BYTES


def int_too_large(value: int) -> bool:
    return not -MAX_INT - 1 <= value <= MAX_INT
