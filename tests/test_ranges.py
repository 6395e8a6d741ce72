"""The range table (nndsl/catalog/ranges.py) against torch.

For every constrained argument of a probed class (a layer, a function, a loss, an optimizer, a
scheduler): values just outside the range are refused by `nndsl check` with a located error on
that argument, and values inside (the closed ends and a value between them) pass `nndsl check`
and work in torch: the module is built and run, the loss computed, the optimizer and the
scheduler stepped (and the learning rate stays a non-negative finite number).  Every row of the
table must be exercised by some probe, so a new rule cannot go untested.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nndsl.catalog import api, ranges
from nndsl.catalog.ranges import Range
from nndsl.check import check_file
from nndsl.check.functions import function_signature as _function_signature
from nndsl.errors import Diagnostic

# ---------------------------------------------------------------------------------------------
# Probes: a valid call of one class, in a spec and in torch
# ---------------------------------------------------------------------------------------------


@dataclass
class Probe:
    family: str  # "layer", "function", "loss", "optimizer", "scheduler"
    name: str
    base: dict[str, Any] = field(default_factory=dict)  # arguments written in the spec
    inferred: dict[str, Any] = field(default_factory=dict)  # torch's, inferred by nndsl
    shape: tuple[int, ...] = (2, 4)  # the input (layers, functions)
    dtype: str = "float"
    run: Callable[[Any], Any] | None = None  # how torch uses the built object (losses)
    inputs: int = 1  # tensors fed to a layer: `x`, `(x, x)`, `(x, x, x)`
    skip: tuple[str, ...] = ()  # arguments this probe cannot vary alone (tested elsewhere)

    @property
    def table(self) -> str:
        return {"layer": "module", "function": "module", "loss": "module"}.get(
            self.family, self.family
        )

    def signature(self) -> tuple[str, ...]:
        if self.family == "optimizer":
            sig = api.optimizer_signature(self.name)
        elif self.family == "scheduler":
            sig = api.scheduler_signature(self.name)
        elif self.family == "function":
            from nndsl.catalog.core import FUNCTIONS

            sig = _function_signature(FUNCTIONS[self.name])
        else:
            sig = api.module_signature(self.name)
        return api.param_names(sig)

    # ---- nndsl ---------------------------------------------------------------------------------

    def spec(self, args: dict[str, Any]) -> str:
        call = f"{self.name}({', '.join(f'{k}={_nn(v)}' for k, v in args.items())})"
        if self.family in ("layer", "function"):
            dims = ", ".join(["B", *map(str, self.shape[1:])])
            long = "long" if self.dtype == "long" else ""
            feed = f"({', '.join(['x'] * self.inputs)}) -> " if self.inputs > 1 else ""
            return f"model M {{\n    input x: {long}[{dims}]\n    {feed}{call}\n}}\n"
        loss, optimizer, scheduler = "MSELoss()", "SGD(lr=0.1, momentum=0.9)", None
        if self.family == "loss":
            loss = call
        elif self.family == "optimizer":
            optimizer = call
        else:
            scheduler = call
        return (
            "model M {\n    input x: [B, 3]\n    Linear(3)\n}\n\ntrain {\n"
            "    data = random(shape=[3], n=16)\n"
            f"    loss = {loss}\n    optimizer = {optimizer}\n    epochs = 2\n"
            + (f"    scheduler = {scheduler}\n" if scheduler else "")
            + "}\n"
        )

    def check(self, args: dict[str, Any]) -> list[Diagnostic]:
        # (a loss whose forward takes other tensors than (output, target) is refused in a train
        # section whatever its arguments, after they are checked: that refusal is not probed)
        diags = check_file("probe.nn", self.spec(args)).diagnostics
        return [
            d for d in diags if d.is_error and "a train section gives a loss two" not in d.message
        ]

    # ---- torch ---------------------------------------------------------------------------------

    def torch(self, args: dict[str, Any]) -> None:
        kwargs = {**self.inferred, **args}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.family == "layer":
                x = _input(self.shape, self.dtype)
                getattr(nn, self.name)(**kwargs)(*[x] * self.inputs)
            elif self.family == "function":
                x = _input(self.shape, self.dtype)
                fn = getattr(F, self.name, None) or getattr(torch, self.name)
                fn(x, **kwargs)
            elif self.family == "loss":
                assert self.run is not None
                self.run(getattr(nn, self.name)(**kwargs))
            elif self.family == "optimizer":
                w = torch.nn.Parameter(torch.randn(3, 3))
                opt = getattr(torch.optim, self.name)([w], **kwargs)

                def closure() -> torch.Tensor:
                    opt.zero_grad()
                    loss = (w**2).sum()
                    loss.backward()
                    return loss

                for _ in range(3):
                    opt.step(closure)
                assert torch.isfinite(w).all()
            else:
                w = torch.nn.Parameter(torch.randn(3))
                opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
                sched = getattr(torch.optim.lr_scheduler, self.name)(opt, **kwargs)
                for _ in range(1 if self.name == "OneCycleLR" else 6):
                    opt.step()
                    sched.step(1.0) if self.name == "ReduceLROnPlateau" else sched.step()
                    lr = opt.param_groups[0]["lr"]
                    assert math.isfinite(lr) and lr >= -1e-12, f"learning rate {lr}"  # rounding


def _input(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    if dtype == "long":
        return torch.zeros(shape, dtype=torch.long)
    return torch.randn(shape)


def _nn(v: Any) -> str:
    """A Python value in spec syntax."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_nn, v)) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(map(_nn, v)) + "]"
    return repr(v)


def _pair(a: torch.Tensor, b: torch.Tensor) -> Callable[[Any], Any]:
    return lambda loss: loss(a, b)


_X = torch.randn(4, 3)
IMG = (2, 2, 8, 8)

PROBES = [
    Probe("layer", "Linear", {"out_features": 3}, {"in_features": 4}),
    Probe(
        "layer", "Bilinear", {"out_features": 3}, {"in1_features": 4, "in2_features": 4}, inputs=2
    ),
    Probe("layer", "Conv2d", {"out_channels": 4, "kernel_size": 3}, {"in_channels": 2}, IMG),
    Probe(
        "layer",
        "ConvTranspose2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 2},
        {"in_channels": 2},
        IMG,
    ),
    Probe("layer", "MaxPool2d", {"kernel_size": 2}, {}, IMG),
    Probe("layer", "AvgPool2d", {"kernel_size": 2}, {}, IMG),
    Probe("layer", "LPPool2d", {"norm_type": 2, "kernel_size": 2}, {}, IMG),
    Probe("layer", "AdaptiveAvgPool2d", {"output_size": 2}, {}, IMG),
    Probe(
        "layer",
        "FractionalMaxPool2d",
        {"kernel_size": 2, "output_ratio": 0.5},
        {},
        IMG,
        skip=("output_size",),
    ),
    Probe("layer", "Unfold", {"kernel_size": 2}, {}, IMG),
    Probe("layer", "BatchNorm2d", {}, {"num_features": 2}, IMG),
    Probe("layer", "GroupNorm", {"num_groups": 2}, {"num_channels": 4}, (2, 4, 8)),
    Probe("layer", "LayerNorm", {}, {"normalized_shape": 4}),
    Probe("layer", "LocalResponseNorm", {"size": 2}, {}, IMG),
    Probe("layer", "Embedding", {"num_embeddings": 5, "embedding_dim": 3}, {}, (2, 4), "long"),
    Probe("layer", "LSTM", {"hidden_size": 3, "num_layers": 2}, {"input_size": 4}, (2, 5, 4)),
    Probe(
        "layer",
        "MultiheadAttention",
        {"num_heads": 2, "batch_first": True},
        {"embed_dim": 4},
        (2, 5, 4),
        inputs=3,
    ),
    Probe(
        "layer",
        "TransformerEncoderLayer",
        {"nhead": 2, "dim_feedforward": 8, "batch_first": True},
        {"d_model": 4},
        (2, 5, 4),
    ),
    Probe(
        "layer",
        "Transformer",
        {
            "d_model": 4,
            "nhead": 2,
            "num_encoder_layers": 1,
            "num_decoder_layers": 1,
            "dim_feedforward": 8,
        },
        {},
        (2, 5, 4),
        inputs=2,
        skip=("d_model",),  # must match the input's size
    ),
    Probe("layer", "Dropout", {"p": 0.5}),
    Probe("layer", "Dropout2d", {"p": 0.5}, {}, IMG),
    Probe("layer", "AlphaDropout", {"p": 0.5}),
    Probe("layer", "Upsample", {"scale_factor": 2}, {}, IMG, skip=("size",)),
    Probe("layer", "PixelShuffle", {"upscale_factor": 1}, {}, IMG),
    Probe("layer", "PixelUnshuffle", {"downscale_factor": 1}, {}, IMG),
    Probe("layer", "ChannelShuffle", {"groups": 2}, {}, IMG),
    Probe("layer", "PReLU", {"num_parameters": 1}),
    Probe("layer", "Softshrink", {"lambd": 0.5}),
    Probe("layer", "RReLU", {"lower": 0.0, "upper": 0.3}),
    Probe("layer", "PairwiseDistance", {}, {}, (2, 4), inputs=2),
    Probe("function", "dropout", {"p": 0.5}),
    Probe("function", "max_pool2d", {"kernel_size": 2}, {}, IMG),
    Probe("function", "chunk", {"chunks": 2}),
    Probe("function", "interpolate", {"scale_factor": 2}, {}, IMG, skip=("size",)),
    Probe("function", "normalize", {}),
    Probe("loss", "CrossEntropyLoss", run=_pair(_X, torch.tensor([0, 1, 2, 1]))),
    Probe("loss", "HuberLoss", run=_pair(_X, torch.randn(4, 3))),
    Probe("loss", "SmoothL1Loss", run=_pair(_X, torch.randn(4, 3))),
    Probe("loss", "GaussianNLLLoss", run=lambda m: m(_X, torch.randn(4, 3), torch.ones(4, 3))),
    Probe("loss", "PoissonNLLLoss", run=_pair(_X, torch.rand(4, 3))),
    Probe("loss", "MultiMarginLoss", run=_pair(_X, torch.tensor([0, 1, 2, 1]))),
    Probe("loss", "CTCLoss", run=lambda m: None),  # needs sequences: only the range is probed
    Probe("loss", "TripletMarginLoss", run=lambda m: m(_X, _X + 1, _X - 1)),
    Probe(
        "loss",
        "TripletMarginWithDistanceLoss",
        run=lambda m: m(_X, _X + 1, _X - 1),
    ),
    Probe(
        "loss",
        "CosineEmbeddingLoss",
        run=lambda m: m(_X, _X + 1, torch.tensor([1, -1, 1, -1])),
    ),
    *(
        Probe("optimizer", name, {"lr": 0.01})
        for name in (
            "SGD Adam AdamW Adamax NAdam RAdam RMSprop Adagrad Adadelta ASGD Rprop"
        ).split()
    ),
    Probe("optimizer", "Adafactor", {"lr": 0.01}, skip=("eps",)),  # eps is a pair there
    Probe("scheduler", "StepLR", {"step_size": 2}),
    Probe("scheduler", "MultiStepLR", {"milestones": [2, 4]}),
    Probe("scheduler", "ExponentialLR", {"gamma": 0.9}),
    Probe("scheduler", "CosineAnnealingLR", {"T_max": 4}),
    Probe("scheduler", "CosineAnnealingWarmRestarts", {"T_0": 2}),
    Probe("scheduler", "ReduceLROnPlateau", {}),
    Probe("scheduler", "ConstantLR", {}),
    Probe("scheduler", "LinearLR", {}),
    Probe("scheduler", "PolynomialLR", {}),
    Probe("scheduler", "OneCycleLR", {"max_lr": 0.1, "total_steps": 10}),
    Probe("scheduler", "CyclicLR", {"base_lr": 0.01, "max_lr": 0.1}),
]

# Classes whose torch call needs more than this test builds (CTCLoss: sequences and lengths):
# torch builds them with the value, nndsl checks the rest
CONSTRUCT_ONLY = {"CTCLoss"}


# ---------------------------------------------------------------------------------------------
# Values outside and inside a range
# ---------------------------------------------------------------------------------------------


def outside(r: Range) -> list[float]:
    step = 1 if r.integer else 0.5
    out = []
    if r.low is not None:
        out.append(r.low if r.low_open else r.low - step)
    if r.high is not None:
        out.append(r.high if r.high_open else r.high + step)
    return [_typed(v, r) for v in out]


def inside(r: Range) -> list[float]:
    step = 1 if r.integer else 0.5
    lo = None if r.low is None else (r.low + (step if r.low_open else 0))
    hi = None if r.high is None else (r.high - (step if r.high_open else 0))
    if r.low_open and r.high is not None and not r.integer:
        lo = r.low + (r.high - r.low) / 4
    if r.high_open and r.low is not None and not r.integer:
        hi = r.high - (r.high - r.low) / 4
    values = [v for v in (lo, hi) if v is not None]
    if lo is not None and hi is not None and not r.integer:
        values.append((lo + hi) / 2)
    if lo is None:
        values.append(hi - 1)
    return [_typed(v, r) for v in dict.fromkeys(values)]


def _typed(v: float, r: Range) -> float:
    return int(v) if r.integer else float(v)


# The (probe, argument, value, expected) cases
def _cases() -> list[tuple[Probe, str, Any, bool]]:
    cases = []
    for probe in PROBES:
        for arg in probe.signature():
            if arg in probe.inferred or arg in probe.skip:
                continue  # inferred from the input: see test_inferred_sizes_are_checked
            r = ranges.rule(probe.table, probe.name, arg)
            if r is None:
                continue
            base = probe.base.get(arg)
            if isinstance(r, tuple):  # one range per position: vary one, keep the defaults
                default = _default(probe, arg)
                for i, ri in enumerate(r):
                    for v, ok in _values(ri):
                        value = tuple(v if j == i else d for j, d in enumerate(default))
                        cases.append((probe, arg, value, ok))
                continue
            items = len(base) if isinstance(base, list) else None
            for v, ok in _values(r):
                cases.append((probe, arg, [v] * items if items else v, ok))
    return cases


def _values(r: Range) -> list[tuple[float, bool]]:
    return [(v, False) for v in outside(r)] + [(v, True) for v in inside(r)]


def _default(probe: Probe, arg: str) -> tuple:
    sig = api.optimizer_signature(probe.name) if probe.family == "optimizer" else ()
    return next(d for n, _, d in sig or () if n == arg)


CASES = _cases()


def _id(case: tuple[Probe, str, Any, bool]) -> str:
    probe, arg, v, ok = case
    return f"{probe.name}-{arg}={v}-{'in' if ok else 'out'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_range(case: tuple[Probe, str, Any, bool]) -> None:
    probe, arg, value, ok = case
    args = {**probe.base, arg: value}
    errors = probe.check(args)
    if not ok:
        assert errors, f"nndsl accepts {probe.name}({arg}={value!r})"
        assert any(f"`{arg}" in d.message for d in errors), [d.message for d in errors]
        line = probe.spec(args).splitlines()
        d = next(d for d in errors if f"`{arg}" in d.message)
        written = line[d.span.line - 1][d.span.col - 1 : d.span.end_col - 1]
        assert _nn(value) in written or written.startswith(arg), written
        return
    assert not errors, [d.message for d in errors]
    if probe.name in CONSTRUCT_ONLY:
        kwargs = {**probe.inferred, **args}
        getattr(nn, probe.name)(**kwargs)
    else:
        probe.torch(args)


def test_every_rule_is_probed() -> None:
    probed: dict[str, set[str]] = {}
    for case in CASES:
        probe, arg = case[0], case[1]
        probed.setdefault(probe.table, set()).add(arg)
        probed.setdefault(f"{probe.table}:{probe.name}", set()).add(arg)
    inferred_only = {"in_features", "in1_features", "in2_features", "in_channels", "num_features"}
    inferred_only |= {"num_channels", "input_size", "embed_dim", "d_model"}
    missing = []
    for family, (table, overrides) in ranges.FAMILIES.items():
        for arg in table:
            if arg not in probed.get(family, ()) and arg not in inferred_only:
                missing.append(f"{family}: {arg}")
        for name, rules in overrides.items():
            for arg, r in rules.items():
                if r is not None and arg not in probed.get(f"{family}:{name}", ()):
                    if any(arg in probed.get(f"{family}:{n}", ()) for n in _same_rules(name)):
                        continue
                    missing.append(f"{family}: {name}.{arg}")
    assert not missing, f"rules without a probe in tests/test_ranges.py: {missing}"


def _same_rules(name: str) -> list[str]:
    """Classes whose override rows are the same as `name`'s (the dropout family, the pads)."""
    own = ranges.MODULE_OVERRIDES.get(name)
    return [n for n, rules in ranges.MODULE_OVERRIDES.items() if rules is own or rules == own]


@pytest.mark.parametrize(
    "family, signatures",
    [
        ("module", lambda: {n: api.module_signature(n) for n in api.module_names()}),
        ("optimizer", lambda: {n: api.optimizer_signature(n) for n in _names("optimizer")}),
        ("scheduler", lambda: {n: api.scheduler_signature(n) for n in _names("scheduler")}),
    ],
)
def test_torch_defaults_are_within_the_ranges(family: str, signatures) -> None:
    """torch's own defaults never break a rule (a rule that did would be wrong)."""
    bad = []
    for name, sig in signatures().items():
        defaults = {n: d for n, _, d in sig or () if d not in (api.REQUIRED, api.OBJECT)}
        for p in ranges.check(family, name, defaults):
            bad.append(f"{name}: {p.message}")
    assert not bad


def _names(family: str) -> list[str]:
    from nndsl.catalog import torch_api

    return list(torch_api.OPTIMIZERS if family == "optimizer" else torch_api.SCHEDULERS)


def test_pads_may_be_negative() -> None:
    text = "model M {\n    input x: [B, 1, 8, 8]\n    ZeroPad2d(-1) -> pad((1, 1, -1, -1))\n}\n"
    assert not [d for d in check_file("m.nn", text).diagnostics if d.is_error]


@pytest.mark.parametrize(
    "shape, layer, arg",
    [("[B, 0]", "Linear(3)", "in_features"), ("[B, 0, 8, 8]", "Conv2d(4, 3)", "in_channels")],
)
def test_inferred_sizes_are_checked(shape: str, layer: str, arg: str) -> None:
    text = f"model M {{\n    input x: {shape}\n    {layer}\n}}\n"
    errors = [d for d in check_file("m.nn", text).diagnostics if d.is_error]
    assert [d.message.split(": ", 1)[1] for d in errors] == [
        f"`{arg}` must be a positive integer, not 0"
    ]


def test_block_parameters_are_checked_where_the_block_is_used() -> None:
    text = (
        "block Head(out: int) {\n    Linear(32) -> relu -> Linear(out)\n}\n\n"
        "model M {\n    input x: [B, 4]\n    Head(8) -> Head(-5)\n}\n"
    )
    (d,) = [d for d in check_file("m.nn", text).diagnostics if d.is_error]
    assert d.message == "Linear: `out_features` must be a positive integer, not -5"
    assert (d.span.line, d.span.col) == (2, 34)
    assert [(n.span.line, n.span.col) for n in d.notes] == [(7, 16)]  # the call `Head(-5)`


def test_symbolic_sizes_are_left_to_instantiation() -> None:
    text = "model M(n) {\n    input x: [B, 4]\n    Linear(n)\n}\n"
    assert not [d for d in check_file("m.nn", text).diagnostics if d.is_error]


@pytest.mark.parametrize(
    "r, words",
    [
        (ranges.POSITIVE_INT, "a positive integer"),
        (ranges.NON_NEGATIVE_INT, "a non-negative integer"),
        (ranges.POSITIVE, "positive"),
        (ranges.NON_NEGATIVE, "at least 0"),
        (ranges.PROBABILITY, "between 0 and 1"),
        (ranges.BETA, "at least 0 and less than 1"),
        (Range(1, 2, integer=True), "1 or 2"),
        (Range(high=0), "at most 0"),
        (Range(1, low_open=True), "greater than 1"),
    ],
)
def test_words(r: Range, words: str) -> None:
    assert r.words == words


def test_summary_never_prints_a_negative_total(tmp_path, capsys) -> None:
    from nndsl.cli import main

    spec = tmp_path / "m.nn"
    spec.write_text("model M {\n    input x: [B, 4]\n    Linear(-5)\n}\n", encoding="utf-8")
    assert main(["--color", "never", "summary", str(spec)]) == 1
    out = capsys.readouterr()
    assert "Total params" not in out.out
    assert "`out_features` must be a positive integer, not -5" in out.err
