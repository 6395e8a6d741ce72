"""torchvision.transforms.v2 transforms in `augment=[...]`, when torchvision is installed.

A name of `augment` that is not one of nndsl's own transforms (TRANSFORMS in
nndsl/catalog/training.py) is looked up in `torchvision.transforms.v2`: it must be one of its
transform classes, and its arguments (numbers, strings, booleans, `none`, lists, tuples and
other v2 transforms, for `Compose`, `RandomApply`, ...) are bound to the class's real signature,
then the transform is built once, so that torchvision's own checks of the values run before
training does.  The generated train.py writes the same `v2.Name(...)` calls.

torchvision is imported only for a spec that names such a transform (`check` of any other spec
stays torch-free); without it, the name is an error saying torchvision is needed.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import warnings
from dataclasses import dataclass
from typing import Any

#: torchvision.transforms.v2 transforms that draw nothing at random: they apply to every split
#: (the others, as nndsl's random transforms, to training data only).
DETERMINISTIC = frozenset(
    {
        "Resize",
        "CenterCrop",
        "Normalize",
        "Pad",
        "Grayscale",
        "RGB",
        "ToDtype",
        "ConvertImageDtype",
        "ToImage",
        "ToPureTensor",
        "Identity",
        "SanitizeBoundingBoxes",
        "ClampBoundingBoxes",
    }
)
#: The transforms of torchvision.transforms.v2 (0.15 to 0.2x), to tell one from a misspelling
#: when torchvision is not installed (with it, the module itself says).
KNOWN = frozenset(
    (
        "AugMix AutoAugment CenterCrop ColorJitter Compose ConvertImageDtype ElasticTransform "
        "GaussianBlur GaussianNoise Grayscale Identity Normalize Pad RGB RandAugment "
        "RandomAdjustSharpness RandomAffine RandomApply RandomAutocontrast RandomChoice "
        "RandomCrop RandomEqualize RandomErasing RandomGrayscale RandomHorizontalFlip "
        "RandomInvert RandomOrder RandomPerspective RandomPhotometricDistort RandomPosterize "
        "RandomResize RandomResizedCrop RandomRotation RandomShortestSize RandomSolarize "
        "RandomVerticalFlip RandomZoomOut Resize ScaleJitter ToDtype ToImage ToPureTensor "
        "TrivialAugmentWide"
    ).split()
)
#: Transforms that hold other transforms: random when one of them is (`Compose`) or always.
CONTAINERS = frozenset({"Compose", "RandomApply", "RandomChoice", "RandomOrder"})

_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class TvCall:
    """A v2 transform of the spec, as plain data: its name and its arguments as written
    (numbers, strings, booleans, None, lists, tuples and nested TvCalls)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


class TvProblem(Exception):
    """Why a v2 transform of the spec is not valid; `arg`: the positional index or keyword of
    the argument it is about (None: the call)."""

    def __init__(self, message: str, arg: int | str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.hint = hint


def looks_like(name: str) -> bool:
    """Whether `name` could be a torchvision transform class (CamelCase)."""
    return bool(_NAME.match(name))


def installed() -> bool:
    """Whether torchvision can be found (not imported)."""
    try:
        return importlib.util.find_spec("torchvision") is not None
    except (ImportError, ValueError):
        return False


def v2_module() -> Any:
    """torchvision.transforms.v2, imported; TvProblem when it cannot be."""
    try:
        from torchvision.transforms import v2
    except Exception as exc:  # a torchvision built for another torch raises many kinds
        raise TvProblem(
            f"torchvision is installed but cannot be imported: {type(exc).__name__}: {exc}",
            hint="install the torchvision build that matches your torch",
        ) from None
    return v2


def transform_names(v2: Any) -> list[str]:
    """The transform classes of torchvision.transforms.v2."""
    base = getattr(v2, "Transform", None)
    return sorted(
        n
        for n in dir(v2)
        if looks_like(n)
        and isinstance(getattr(v2, n), type)
        and (base is None or issubclass(getattr(v2, n), base))
        and n != "Transform"
    )


def transform_class(v2: Any, name: str) -> type:
    """The class `name` of torchvision.transforms.v2; TvProblem when there is none."""
    cls = getattr(v2, name, None) if looks_like(name) else None
    base = getattr(v2, "Transform", None)
    if (
        not isinstance(cls, type)
        or name == "Transform"
        or (base is not None and not issubclass(cls, base))
    ):
        raise TvProblem(f"unknown transform `{name}`: torchvision.transforms.v2 has no `{name}`")
    return cls


def bind(cls: type, name: str, args: tuple, kwargs: dict[str, Any]) -> None:
    """Check that the arguments fit the class's signature; TvProblem at the first that
    does not."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    takes_varkw = any(p.kind == p.VAR_KEYWORD for p in params)
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    listing = ", ".join(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    if len(args) > len(positional) and not takes_varargs:
        raise TvProblem(
            f"`{name}` takes at most {len(positional)} positional argument(s), got {len(args)}",
            len(positional),
            hint=f"`{name}` takes: {listing}",
        )
    given = {p.name for p in positional[: len(args)]}
    for key in kwargs:
        if key not in named and not takes_varkw:
            raise TvProblem(
                f"`{name}` has no argument `{key}`", key, hint=f"`{name}` takes: {listing}"
            )
        if key in given:
            raise TvProblem(f"`{name}` got `{key}` twice", key)
    for p in params:
        if (
            p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in given
            and p.name not in kwargs
        ):
            raise TvProblem(f"`{name}` needs `{p.name}`", hint=f"`{name}` takes: {listing}")


def build(call: TvCall, v2: Any) -> Any:
    """The transform of `call` (nested calls built first), made by torchvision, which checks
    the values; TvProblem (about the outermost call) when a name, an argument or a value is
    wrong."""
    cls = transform_class(v2, call.name)

    def value(v: Any) -> Any:
        if isinstance(v, TvCall):
            return build(v, v2)
        if isinstance(v, list):
            return [value(i) for i in v]
        if isinstance(v, tuple):
            return tuple(value(i) for i in v)
        return v

    args = tuple(value(a) for a in call.args)
    kwargs = {k: value(v) for k, v in call.kwargs}
    bind(cls, call.name, args, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return cls(*args, **kwargs)
        except Exception as exc:  # torchvision's checks raise ValueError, TypeError, ...
            raise TvProblem(
                f"torchvision refuses `{call.name}(...)`: {type(exc).__name__}: {exc}"
            ) from None


def is_random(call: TvCall) -> bool:
    """Whether the transform draws at random (then it applies to training data only)."""
    if call.name == "Compose":
        return any(is_random(t) for t in _calls(call))
    return call.name not in DETERMINISTIC


def _calls(call: TvCall) -> list[TvCall]:
    found: list[TvCall] = []

    def walk(v: Any) -> None:
        if isinstance(v, TvCall):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            for i in v:
                walk(i)

    for v in (*call.args, *(v for _, v in call.kwargs)):
        walk(v)
    return found


def to_data(call: TvCall) -> dict[str, Any]:
    """A TvCall as JSON data (data.json): {"name", "args", "kwargs"}, nested calls the same."""

    def value(v: Any) -> Any:
        if isinstance(v, TvCall):
            return to_data(v)
        if isinstance(v, (list, tuple)):
            return [value(i) for i in v]
        return v

    return {
        "name": call.name,
        "args": [value(a) for a in call.args],
        "kwargs": {k: value(v) for k, v in call.kwargs},
    }


def transform_of(item: Any) -> Any:
    """An item of `augment` (a plan value, or the Python API's name or dict) as a TvCall when
    it is a call or a name (see `from_plan`)."""
    return TvCall(item) if isinstance(item, str) else from_plan(item)


def from_plan(value: Any) -> Any:
    """A plan value (CallSpec, Word, ListValue, tuples, numbers; or the Python API's dicts
    {"name", "args", "kwargs"}) as TvCalls and plain values: calls become TvCalls, lists stay
    lists and tuples tuples."""
    from nndsl.check.plan import ListValue

    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "kwargs"):
        return TvCall(
            name,
            tuple(from_plan(a) for a in value.args),
            tuple((k, from_plan(v)) for k, v in value.kwargs),
        )
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return TvCall(
            value["name"],
            tuple(from_plan(a) for a in value.get("args", ())),
            tuple((k, from_plan(v)) for k, v in dict(value.get("kwargs", {})).items()),
        )
    if isinstance(name, str):  # a bare name (Word): the transform with its defaults
        return TvCall(name)
    if isinstance(value, ListValue):
        return [from_plan(v) for v in value]
    if isinstance(value, list):
        return [from_plan(v) for v in value]
    if isinstance(value, tuple):
        return tuple(from_plan(v) for v in value)
    return value
