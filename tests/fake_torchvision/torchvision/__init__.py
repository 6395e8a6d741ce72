"""A stand-in for torchvision (see tests/fake_torchvision/README.md)."""

__version__ = "0.0+fake"
