"""Value ranges: which numbers each size, count, rate and factor a spec writes may take.

One table per family, by argument name, because an argument's name says what it is across
torch (`out_channels` is a count, `padding` a non-negative size, `dropout` a probability), plus
per-class overrides where torch gives a name another meaning (`p` is a dropout probability in
`Dropout` but a norm degree in `PairwiseDistance`; `padding` may be negative in `ZeroPad2d`,
which crops).  Adding a rule is adding a row.

Each range is what torch itself enforces (`Dropout(1.5)`, `Adam(betas=(0.9, 1.5))` raise in
torch) or what makes the computation meaningful (`Linear(0)` builds, but outputs nothing;
`StepLR(gamma=-2)` silently makes the learning rate negative).  tests/test_ranges.py checks every
row against torch: a value just outside is refused by nndsl, values inside are accepted by nndsl
and by torch.

Pure data and arithmetic, no torch: the layer checker (nndsl/check/infer.py) applies `MODULES`
and `FUNCTIONS` to layers and functions, the train checker (nndsl/check/train.py) `MODULES` to
losses and `OPTIMIZERS`, `SCHEDULERS` to the optimizer and the scheduler.  Only concrete numbers
are checked: a block's parameter is checked at each instantiation, where its value is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

from nndsl.records import dataclass


@dataclass(frozen=True, slots=True)
class Range:
    """The numbers in [low, high] (either end open or absent)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    high_open: bool = False  # high itself is excluded
    integer: bool = False  # only for the words: the type is checked elsewhere
    hint: str | None = None

    def __contains__(self, v: float) -> bool:
        if v != v:  # nan: in no range (every comparison with it is false)
            return self.low is None and self.high is None
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            return False
        return True

    @property
    def words(self) -> str:
        """What the value must be, in words: "a positive integer", "between 0 and 1"."""
        lo, hi = _num(self.low), _num(self.high)
        if self.high is None:
            if self.low == 0:
                if self.integer:
                    return "a positive integer" if self.low_open else "a non-negative integer"
                return "positive" if self.low_open else "at least 0"
            if self.low == 1 and self.integer and not self.low_open:
                return "a positive integer"
            return f"greater than {lo}" if self.low_open else f"at least {lo}"
        if self.low is None:
            return f"less than {hi}" if self.high_open else f"at most {hi}"
        if self.integer and not self.low_open and not self.high_open and self.high - self.low == 1:
            return f"{lo} or {hi}"
        left = "greater than" if self.low_open else "at least"
        right = "less than" if self.high_open else "at most"
        if not self.low_open and not self.high_open:
            return f"between {lo} and {hi}"
        return f"{left} {lo} and {right} {hi}"


def _num(v: float | None) -> str:
    return "" if v is None else (str(int(v)) if float(v).is_integer() else repr(v))


# A rule: one range for a number (also applied to each item of a tuple or list: `kernel_size=(3,
# 3)`, `milestones=[10, 20]`), or one range per position (`etas=(0.5, 1.2)`).
Rule = Union[Range, tuple[Range, ...]]

# The seeds a run takes: those numpy and Lightning's seed_everything accept (generated
# train.py scripts, which cannot import nndsl, write the same bound).
SEED_MAX = 2**32 - 1

POSITIVE_INT = Range(1, integer=True)
NON_NEGATIVE_INT = Range(0, integer=True)
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
PROBABILITY = Range(0, 1)
# a moving-average coefficient: 1 would never update
BETA = Range(0, 1, high_open=True, hint="the usual betas are (0.9, 0.999)")

# ---------------------------------------------------------------------------------------------
# torch.nn modules (layers and losses) and the functions of the catalog
# ---------------------------------------------------------------------------------------------

_SIZES = (
    "in_features out_features in1_features in2_features in_channels out_channels kernel_size "
    "num_features num_channels num_groups num_embeddings embedding_dim input_size hidden_size "
    "num_layers num_encoder_layers num_decoder_layers nhead num_heads embed_dim d_model "
    "dim_feedforward groups stride dilation upscale_factor downscale_factor output_size size "
    "num_parameters chunks"
).split()

MODULES: dict[str, Rule] = {
    **{name: POSITIVE_INT for name in _SIZES},
    "padding": NON_NEGATIVE_INT,
    "output_padding": NON_NEGATIVE_INT,
    "proj_size": NON_NEGATIVE_INT,  # 0: no projection
    "blank": NON_NEGATIVE_INT,
    "dropout": PROBABILITY,
    "label_smoothing": PROBABILITY,
    "momentum": PROBABILITY,  # the running statistics' averaging factor of a norm layer
    "eps": POSITIVE,
    "layer_norm_eps": POSITIVE,
    "scale_factor": POSITIVE,
    "max_norm": POSITIVE,
    "norm_type": POSITIVE,
    "output_ratio": Range(0, 1, low_open=True, high_open=True),
}

_DROPOUT = Range(0, 1, hint="`p` is the probability of zeroing an element")
_NO_RULE: dict[str, Rule | None] = {"padding": None}  # negative padding crops

# Where an argument means something else than in `MODULES`: class or function → {argument: rule}
# (None: no rule)
MODULE_OVERRIDES: dict[str, dict[str, Rule | None]] = {
    **{
        name: {"p": _DROPOUT}
        for name in (
            "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout dropout "
            "dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout"
        ).split()
    },
    **{
        f"{kind}Pad{n}d": _NO_RULE
        for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
        for n in (1, 2, 3)
    },
    "pad": _NO_RULE,
    "expand": {"size": None},  # -1 keeps a size
    "HuberLoss": {"delta": POSITIVE},
    "SmoothL1Loss": {"beta": NON_NEGATIVE},  # 0 is the L1 loss
    "TripletMarginLoss": {"margin": POSITIVE, "p": POSITIVE},
    "TripletMarginWithDistanceLoss": {"margin": POSITIVE},
    "CosineEmbeddingLoss": {"margin": Range(-1, 1, hint="it is compared with a cosine")},
    "MultiMarginLoss": {"p": Range(1, 2, integer=True)},
    "PairwiseDistance": {"p": POSITIVE},
    "Softshrink": {"lambd": NON_NEGATIVE},
    "RReLU": {"lower": NON_NEGATIVE, "upper": NON_NEGATIVE},
    "LocalResponseNorm": {"size": POSITIVE_INT, "k": POSITIVE},
    "Threshold": {"threshold": None},
}

# ---------------------------------------------------------------------------------------------
# torch.optim optimizers and torch.optim.lr_scheduler schedulers
# ---------------------------------------------------------------------------------------------

OPTIMIZERS: dict[str, Rule] = {
    "lr": Range(0, low_open=True, hint="typical learning rates: 1e-3 for Adam, 0.1 for SGD"),
    "betas": (BETA, BETA),
    "eps": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "momentum": NON_NEGATIVE,
    "dampening": PROBABILITY,
    "rho": PROBABILITY,
    "lr_decay": NON_NEGATIVE,
    "initial_accumulator_value": NON_NEGATIVE,
    "momentum_decay": NON_NEGATIVE,
    "lambd": NON_NEGATIVE,
    "t0": NON_NEGATIVE,
    "etas": (
        Range(0, 1, low_open=True, high_open=True),
        Range(1, low_open=True, hint="`etas` are (decrease factor < 1, increase factor > 1)"),
    ),
    "step_sizes": (POSITIVE, POSITIVE),
    "beta2_decay": Range(high=0),
}
OPTIMIZER_OVERRIDES: dict[str, dict[str, Rule | None]] = {
    "RMSprop": {"alpha": PROBABILITY},  # the smoothing constant
    "Adafactor": {"d": Range(1, hint="`d` is the clipping threshold")},
}

_FACTOR = Range(0, 1, low_open=True, high_open=True, hint="it multiplies the learning rate")
SCHEDULERS: dict[str, Rule] = {
    "gamma": Range(0, low_open=True, hint="it multiplies the learning rate: 0.1 divides it by 10"),
    "step_size": POSITIVE_INT,
    "T_max": POSITIVE_INT,
    "T_0": POSITIVE_INT,
    "T_mult": POSITIVE_INT,
    "eta_min": NON_NEGATIVE,
    "milestones": POSITIVE_INT,
    "patience": NON_NEGATIVE_INT,
    "cooldown": NON_NEGATIVE_INT,
    "threshold": NON_NEGATIVE,
    "min_lr": NON_NEGATIVE,
    "eps": NON_NEGATIVE,
    "total_iters": POSITIVE_INT,
    "power": NON_NEGATIVE,
    "max_lr": POSITIVE,
    "base_lr": NON_NEGATIVE,
    "total_steps": POSITIVE_INT,
    "epochs": POSITIVE_INT,
    "steps_per_epoch": POSITIVE_INT,
    "pct_start": PROBABILITY,
    "div_factor": POSITIVE,
    "final_div_factor": POSITIVE,
    "step_size_up": POSITIVE_INT,
    "step_size_down": POSITIVE_INT,
    "base_momentum": PROBABILITY,
    "max_momentum": PROBABILITY,
}
SCHEDULER_OVERRIDES: dict[str, dict[str, Rule | None]] = {
    "ReduceLROnPlateau": {"factor": _FACTOR},
    "ConstantLR": {"factor": Range(0, 1, low_open=True, hint="it multiplies the learning rate")},
    "LinearLR": {"start_factor": Range(0, 1, low_open=True), "end_factor": PROBABILITY},
}

FAMILIES: dict[str, tuple[dict[str, Rule], dict[str, dict[str, Rule | None]]]] = {
    "module": (MODULES, MODULE_OVERRIDES),
    "optimizer": (OPTIMIZERS, OPTIMIZER_OVERRIDES),
    "scheduler": (SCHEDULERS, SCHEDULER_OVERRIDES),
}


def rule(family: str, name: str, arg: str) -> Rule | None:
    """The rule for argument `arg` of `name` (a class or function of `family`)."""
    table, overrides = FAMILIES[family]
    own = overrides.get(name, {})
    return own[arg] if arg in own else table.get(arg)


# ---------------------------------------------------------------------------------------------
# hints: what an argument is, said with a value outside its range (a rule's own `hint` first)
# ---------------------------------------------------------------------------------------------


def _each(names: str, hint: str) -> dict[str, str]:
    return {name: hint for name in names.split()}


_LAYER_SIZE = "a layer's sizes are positive integers: numbers of features, channels or units"
HINTS: dict[str, dict[str, str]] = {
    "module": {
        **_each(
            "in_features out_features in1_features in2_features in_channels out_channels "
            "num_features num_channels embedding_dim input_size hidden_size embed_dim d_model "
            "dim_feedforward",
            _LAYER_SIZE + ", such as 64",
        ),
        "kernel_size": "a kernel covers at least one element on each side, such as 3",
        "stride": "a stride is at least 1: 1 keeps every position, 2 halves the size",
        "dilation": "1 is an ordinary kernel; 2 spreads its taps one element apart",
        "groups": "1 is an ordinary convolution; with `groups` = g, both channel counts are "
        "multiples of g",
        "output_size": "an output size is at least 1 on each side",
        "size": "a size is at least 1 on each side",
        **_each(
            "num_layers num_encoder_layers num_decoder_layers",
            "the number of stacked layers: 1 or more",
        ),
        **_each(
            "nhead num_heads",
            "the number of attention heads: 1 or more, dividing the embedding size",
        ),
        "num_groups": "the number of groups the channels are split into: 1 or more, dividing "
        "the number of channels",
        "num_embeddings": "the vocabulary size: one more than the largest token id",
        **_each(
            "upscale_factor downscale_factor",
            "the factor each spatial side is scaled by: 1 or more",
        ),
        "num_parameters": "1 (one value shared by every channel) or the number of channels",
        "chunks": "the number of pieces: 1 or more",
        **_each("padding output_padding", "the number of elements added on each side: 0 for none"),
        "proj_size": "0 for no projection, else a size smaller than `hidden_size`",
        "blank": "the index of the blank class (0 by default)",
        "dropout": "a probability: 0 never drops an element, 1 always does",
        "label_smoothing": "the share of the target spread over all classes: 0 for none, "
        "0.1 is usual",
        "momentum": "the weight of each batch in the running statistics (0.1 by default)",
        **_each(
            "eps layer_norm_eps",
            "a small number added to avoid dividing by zero, such as 1e-5",
        ),
        "scale_factor": "sizes are multiplied by it: 2 doubles them, 0.5 halves them",
        "max_norm": "the largest norm an embedding vector is renormalised to",
        "norm_type": "the p of the p-norm: 2 for the Euclidean norm",
        "output_ratio": "the output size as a fraction of the input size: 0.5 halves it",
        "delta": "where the loss turns from quadratic to linear (1.0 by default)",
        "beta": "where the loss turns from quadratic to linear: 0 makes it the L1 loss",
        "margin": "the distance the loss asks for between the pairs (1.0 by default)",
        "p": "the p of the p-norm: 2 for the Euclidean norm",
        "lambd": "the threshold below which values become 0 (0.5 by default)",
        **_each("lower upper", "the bounds of the random slope: 0 <= lower <= upper"),
        "k": "the additive constant of the normalisation (1.0 by default)",
    },
    "optimizer": {
        "eps": "a small number added to avoid dividing by zero, such as 1e-8",
        "weight_decay": "0 for none; 1e-4 to 1e-2 is usual",
        "momentum": "0 for none; 0.9 is usual",
        "dampening": "0 (the default) applies the whole gradient to the momentum",
        "rho": "the averaging coefficient of the squared gradients (0.9 by default)",
        "alpha": "the smoothing constant of the squared gradients (0.99 by default)",
        **_each(
            "lr_decay initial_accumulator_value momentum_decay lambd t0",
            "0 or more (torch's default is usually the right one)",
        ),
        "step_sizes": "the smallest and largest step: (1e-6, 50) by default",
        "beta2_decay": "a negative number (-0.8 by default)",
        "etas": "(decrease factor < 1, increase factor > 1): (0.5, 1.2) by default",
    },
    "scheduler": {
        "step_size": "the number of epochs between two decays of the learning rate",
        "T_max": "the number of epochs of the cosine's half period, usually the number of epochs",
        "T_0": "the number of epochs of the first period, before the first restart",
        "T_mult": "the factor each period grows by after a restart: 1 for equal periods",
        **_each("eta_min min_lr", "the lowest learning rate: 0 by default"),
        "milestones": "the epochs at which the learning rate is multiplied by `gamma`, such as "
        "[30, 60]",
        "patience": "the number of epochs without improvement before the rate is lowered",
        "cooldown": "the number of epochs to wait after lowering the rate: 0 for none",
        "threshold": "the smallest change that counts as an improvement",
        "eps": "the smallest change of the learning rate that is applied",
        "total_iters": "the number of epochs the change lasts",
        "power": "the power of the polynomial decay: 1 is linear",
        **_each("max_lr base_lr", "a learning rate, such as 0.1"),
        **_each(
            "total_steps epochs steps_per_epoch step_size_up step_size_down",
            "a number of epochs or steps: 1 or more",
        ),
        **_each(
            "start_factor end_factor", "the learning rate is multiplied by it: 1 leaves it as is"
        ),
        "pct_start": "the share of the cycle spent raising the learning rate (0.3 by default)",
        **_each("div_factor final_div_factor", "the learning rate is divided by it"),
        **_each("base_momentum max_momentum", "a momentum, between 0 and 1, such as 0.9"),
    },
    "train": {
        "epochs": "the number of passes over the training data, such as `epochs = 10`",
        "batch_size": "the number of samples in each step, such as `batch_size = 32`",
        "accumulate": "the number of batches whose gradients are summed before each step: 1 "
        "for none",
        "seed": "any whole number from 0 to 2**32 - 1",
        "patience": "the number of epochs without improvement before training stops",
        "every": "a checkpoint is saved every this many epochs: 1 or more",
        **_each("n length", "the number of samples: 1 or more"),
        "classes": "a classification tells at least 2 classes apart",
        "noise": "the standard deviation of the added noise: 0 for none",
        "workers": "the number of loader processes: 0 loads in the main process",
    },
}


def hint_for(family: str, arg: str, r: Range | None = None) -> str | None:
    """The hint of a value of `arg` outside its range: the rule's own, else what the argument
    is (`HINTS`), else which values the range holds."""
    if r is not None and r.hint:
        return r.hint
    known = HINTS.get(family, {}).get(arg)
    if known or r is None:
        return known
    return f"`{arg}` takes any value {r.words}" if not r.integer else f"`{arg}` is {r.words}"


@dataclass(frozen=True, slots=True)
class RangeProblem:
    arg: str
    message: str
    hint: str | None = None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: float) -> str:
    return str(v)


def check_value(arg: str, value: Any, r: Rule, family: str = "module") -> RangeProblem | None:
    """A complaint if `value` (a number, or a tuple or list of them) is outside `r`.  Values that
    are not concrete numbers (symbols, strings such as "same", `none`) are left alone."""
    if isinstance(r, tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(r):
            return None  # the type check's business
        for i, (item, ri) in enumerate(zip(value, r)):
            if _is_number(item) and item not in ri:
                return RangeProblem(
                    arg,
                    f"`{arg}[{i}]` must be {ri.words}, not {_fmt(item)}",
                    hint_for(family, arg, ri),
                )
        return None
    if _is_number(value):
        if value not in r:
            return RangeProblem(
                arg, f"`{arg}` must be {r.words}, not {_fmt(value)}", hint_for(family, arg, r)
            )
        return None
    if isinstance(value, (tuple, list)):
        for item in value:
            if _is_number(item) and item not in r:
                return RangeProblem(
                    arg,
                    f"each of `{arg}` must be {r.words}, not {_fmt(item)}",
                    hint_for(family, arg, r),
                )
    return None


def check(
    family: str, name: str, args: Mapping[str, Any], only: Iterable[str] | None = None
) -> list[RangeProblem]:
    """Every argument of `name(**args)` outside its range (`only`: just these arguments)."""
    out = []
    keys = list(args) if only is None else [k for k in only if k in args]
    for key in keys:
        r = rule(family, name, key)
        if r is None:
            continue
        problem = check_value(key, args[key], r, family)
        if problem is not None:
            out.append(problem)
    return out
