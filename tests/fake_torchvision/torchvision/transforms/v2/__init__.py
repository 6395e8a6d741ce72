"""torchvision.transforms.v2 of the stand-in (see tests/fake_torchvision/README.md): the
signatures, checks and random draws of torchvision's own classes, for tensor images."""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _setup_size(size: Any, error_msg: str) -> list[int]:
    if isinstance(size, numbers.Number):
        return [int(size), int(size)]
    if isinstance(size, Sequence) and len(size) == 1:
        return [size[0], size[0]]
    if len(size) != 2:
        raise ValueError(error_msg)
    return list(size)


def _resize(x: torch.Tensor, size: list[int], antialias: bool) -> torch.Tensor:
    return nn.functional.interpolate(
        x[None], size=size, mode="bilinear", align_corners=False, antialias=antialias
    )[0]


class Transform(nn.Module):
    """The base class of the v2 transforms."""

    def forward(self, *inputs: Any) -> Any:
        x = inputs if len(inputs) > 1 else inputs[0]
        return self.transform(x)

    def transform(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class Compose(Transform):
    def __init__(self, transforms: Sequence[Callable]) -> None:
        super().__init__()
        if not isinstance(transforms, Sequence):
            raise TypeError("Argument transforms should be a sequence of callables")
        elif not transforms:
            raise ValueError("Pass at least one transform")
        self.transforms = transforms

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            x = t(x)
        return x


class RandomApply(Transform):
    def __init__(self, transforms: Sequence[Callable] | nn.ModuleList, p: float = 0.5) -> None:
        super().__init__()
        if not isinstance(transforms, (Sequence, nn.ModuleList)):
            raise TypeError(
                "Argument transforms should be a sequence of callables or a `nn.ModuleList`"
            )
        self.transforms = transforms
        if not (0.0 <= p <= 1.0):
            raise ValueError("`p` should be a floating point value in the interval [0.0, 1.0].")
        self.p = p

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if torch.rand(1) >= self.p:
            return x
        for t in self.transforms:
            x = t(x)
        return x


class RandomHorizontalFlip(Transform):
    def __init__(self, p: float = 0.5) -> None:
        if not (0.0 <= p <= 1.0):
            raise ValueError("`p` should be a floating point value in the interval [0.0, 1.0].")
        super().__init__()
        self.p = p

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if torch.rand(1) >= self.p:
            return x
        return x.flip(-1)


class RandomResizedCrop(Transform):
    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: InterpolationMode | int = InterpolationMode.BILINEAR,
        antialias: bool | None = True,
    ) -> None:
        super().__init__()
        self.size = _setup_size(
            size, error_msg="Please provide only two dimensions (h, w) for size."
        )
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.antialias = antialias
        self._log_ratio = torch.log(torch.tensor(self.ratio))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        area = height * width
        log_ratio = self._log_ratio
        for _ in range(10):
            target_area = area * torch.empty(1).uniform_(self.scale[0], self.scale[1]).item()
            aspect_ratio = math.exp(
                torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item()  # type: ignore
            )
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                i = torch.randint(0, height - h + 1, size=(1,)).item()
                j = torch.randint(0, width - w + 1, size=(1,)).item()
                break
        else:
            in_ratio = float(width) / float(height)
            if in_ratio < min(self.ratio):
                w = width
                h = int(round(w / min(self.ratio)))
            elif in_ratio > max(self.ratio):
                h = height
                w = int(round(h * max(self.ratio)))
            else:
                w = width
                h = height
            i = (height - h) // 2
            j = (width - w) // 2
        crop = x[..., i : i + h, j : j + w]
        return _resize(crop, self.size, bool(self.antialias))


class Resize(Transform):
    def __init__(
        self,
        size: int | Sequence[int] | None,
        interpolation: InterpolationMode | int = InterpolationMode.BILINEAR,
        max_size: int | None = None,
        antialias: bool | None = True,
    ) -> None:
        super().__init__()
        if isinstance(size, int):
            size = [size]
        elif isinstance(size, Sequence) and len(size) in {1, 2}:
            size = list(size)
        elif size is None:
            if not isinstance(max_size, int):
                raise ValueError(
                    f"max_size must be an integer when size is None, but got {max_size} instead."
                )
        else:
            raise ValueError(
                f"size can be an integer, a sequence of one or two integers, or None, but got {size} instead."
            )
        self.size = size
        self.max_size = max_size
        self.interpolation = interpolation
        self.antialias = antialias

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.size is not None and len(self.size) == 2:
            size = self.size
        else:  # the shorter side to size[0], keeping the aspect ratio
            short, long = (w, h) if w <= h else (h, w)
            new_short = self.size[0]
            new_long = int(new_short * long / short)
            size = [new_long, new_short] if w <= h else [new_short, new_long]
        return _resize(x, size, bool(self.antialias))


class ColorJitter(Transform):
    def __init__(
        self,
        brightness: float | Sequence[float] | None = None,
        contrast: float | Sequence[float] | None = None,
        saturation: float | Sequence[float] | None = None,
        hue: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(
            hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False
        )
        if self.hue is not None:
            raise NotImplementedError("the stand-in torchvision has no hue jitter")

    def _check_input(
        self,
        value: float | Sequence[float] | None,
        name: str,
        center: float = 1.0,
        bound: tuple[float, float] = (0, float("inf")),
        clip_first_on_zero: bool = True,
    ) -> tuple[float, float] | None:
        if value is None:
            return None
        if isinstance(value, (int, float)):
            if value < 0:
                raise ValueError(f"If {name} is a single number, it must be non negative.")
            value = [center - value, center + value]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, Sequence) and len(value) == 2:
            value = [float(v) for v in value]
        else:
            raise TypeError(
                f"{name}={value} should be a single number or a sequence with length 2."
            )
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"{name} values should be between {bound}, but got {value}.")
        return None if value[0] == value[1] == center else (float(value[0]), float(value[1]))

    @staticmethod
    def _generate_value(left: float, right: float) -> float:
        return torch.empty(1).uniform_(left, right).item()

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        fn_idx = torch.randperm(4)
        b = None if self.brightness is None else self._generate_value(*self.brightness)
        c = None if self.contrast is None else self._generate_value(*self.contrast)
        s = None if self.saturation is None else self._generate_value(*self.saturation)
        for fn_id in fn_idx:
            if fn_id == 0 and b is not None:
                x = (x * b).clamp(0, 1)
            elif fn_id == 1 and c is not None:
                mean = _gray(x).mean(dim=(-3, -2, -1), keepdim=True)
                x = (c * x + (1.0 - c) * mean).clamp(0, 1)
            elif fn_id == 2 and s is not None:
                x = (s * x + (1.0 - s) * _gray(x)).clamp(0, 1)
        return x


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-3] == 1:
        return x
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(dim=-3)


class Normalize(Transform):
    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        super().__init__()
        self.mean = list(mean)
        self.std = list(std)
        self.inplace = inplace

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {x.dtype}.")
        if len(self.mean) != x.shape[-3] and len(self.mean) != 1:
            raise ValueError(f"Expected {x.shape[-3]} values for mean, got {len(self.mean)}")
        std = torch.as_tensor(self.std, dtype=x.dtype)
        if (std == 0).any():
            raise ValueError(
                f"std evaluated to zero after conversion to {x.dtype}, leading to division by zero."
            )
        mean = torch.as_tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std.view(-1, 1, 1)


__all__ = [
    "ColorJitter",
    "Compose",
    "InterpolationMode",
    "Normalize",
    "RandomApply",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
    "Transform",
]
