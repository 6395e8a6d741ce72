"""nndsl's catalog of torch: layers (`LAYERS`), functions and tensor methods (`FUNCTIONS`), value
ranges, training facts (losses, metrics, data sources) and torch's signatures.

The tables are filled here, by the catalog itself: importing any part of `nndsl.catalog` first
runs this module, which registers every layer and function entry, so no reader depends on having
imported the right module first.  Nothing here imports torch.
"""

from nndsl.catalog import functions as _functions  # noqa: F401  (fills FUNCTIONS)
from nndsl.catalog import layers as _layers  # noqa: F401  (fills LAYERS)
