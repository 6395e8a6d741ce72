"""The data layer: data sources, splitting and normalisation (numpy only, no torch)."""

from nndsl.data.errors import DataError
from nndsl.data.sources import (
    COMMON_OPTIONS,
    SOURCES,
    Dataset,
    NormStats,
    Split,
    load,
    prepare,
    source_names,
    source_options,
)

__all__ = [
    "COMMON_OPTIONS",
    "SOURCES",
    "DataError",
    "Dataset",
    "NormStats",
    "Split",
    "load",
    "prepare",
    "source_names",
    "source_options",
]
