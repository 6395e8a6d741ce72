"""torchvision.transforms of the stand-in: only the v2 subpackage and InterpolationMode."""

from torchvision.transforms.v2 import InterpolationMode

__all__ = ["InterpolationMode"]
