"""Static checks of `train { ... }` sections (nndsl/check/train.py), on in-memory specs.

The rendered output of whole bad specs is covered by the golden fixtures in
`tests/fixtures/errors/semantic/`; these tests pin down the individual rules: what is accepted,
what is rejected, where the diagnostic points and what it suggests.
"""

from __future__ import annotations

import pytest

from nndsl.check import check_file
from nndsl.check.train import DataFacts, data_facts
from nndsl.errors import Diagnostic

IRIS_MLP = """model IrisMLP {
    input x: [B, 4]
    Linear(32) -> relu -> Linear(32) -> relu -> Linear(3)
}
"""

DIGITS_CNN = """model DigitsCNN {
    input x: [B, 1, 8, 8]
    Conv2d(16, 3, padding=1) -> BatchNorm2d -> relu -> max_pool2d(2)
    Conv2d(32, 3, padding=1) -> BatchNorm2d -> relu -> max_pool2d(2)
    flatten -> Dropout(0.25) -> Linear(10)
}
"""

BASE = {
    "data": "iris(val_split=0.2)",
    "loss": "CrossEntropyLoss()",
    "optimizer": "Adam(lr=0.01)",
    "epochs": "100",
}


def spec(source: str = IRIS_MLP, /, **entries: str | None) -> str:
    """A spec with `model` and a train section: BASE overridden by `entries` (None drops a key)."""
    merged = {"model": entries.pop("model", None), **BASE, **entries}
    body = "".join(f"    {k} = {v}\n" for k, v in merged.items() if v is not None)
    return f"{source}\ntrain {{\n{body}}}\n"


def check(text: str) -> list[Diagnostic]:
    return check_file("spec.nn", text).diagnostics


def errors(text: str) -> list[Diagnostic]:
    return [d for d in check(text) if d.is_error]


def warnings(text: str) -> list[Diagnostic]:
    return [d for d in check(text) if not d.is_error]


def one_error(text: str) -> Diagnostic:
    found = errors(text)
    assert len(found) == 1, [d.message for d in found]
    return found[0]


def one_warning(text: str) -> Diagnostic:
    found = warnings(text)
    assert len(found) == 1, [d.message for d in found]
    assert not errors(text)
    return found[0]


def text_at(text: str, d: Diagnostic) -> str:
    """The source text a single-line diagnostic points at."""
    assert d.span is not None and d.span.line == d.span.end_line
    return text.splitlines()[d.span.line - 1][d.span.col - 1 : d.span.end_col - 1]


# ---- valid sections --------------------------------------------------------------------------


def test_language_examples_are_clean() -> None:
    iris = spec(
        batch_size="16",
        metrics="[accuracy]",
        stop_when="val_accuracy >= 0.95",
        seed="0",
    )
    digits = spec(
        DIGITS_CNN,
        data="digits(val_split=0.2)",
        loss="CrossEntropyLoss(label_smoothing=0.05)",
        optimizer="AdamW(lr=3e-3, weight_decay=1e-4)",
        scheduler="CosineAnnealingLR(T_max=30)",
        epochs="30",
        batch_size="64",
        metrics="[accuracy]",
        clip_grad_norm="1.0",
        early_stopping="EarlyStopping(monitor=val_loss, patience=5)",
        checkpoint="Checkpoint(every=1, keep_best=val_accuracy)",
        seed="0",
        device="auto",
    )
    autoencoder = spec(
        """model AutoEncoder(latent: int = 16) {
    input x: [B, 1, 8, 8]
    z = x -> flatten -> Linear(32) -> relu -> Linear(latent)
    z -> Linear(32) -> relu -> Linear(64) -> sigmoid -> reshape(-1, 1, 8, 8)
}
""",
        model="AutoEncoder",
        data="digits(target=input, val_split=0.1)",
        loss="MSELoss()",
        optimizer="Adam(lr=1e-3)",
        epochs="20",
        batch_size="32",
    )
    for text in (iris, digits, autoencoder):
        assert check(text) == []


@pytest.mark.parametrize(
    "entries",
    [
        {"precision": "bf16"},
        {"precision": '"fp16"'},
        {"precision": "32"},
        {"device": '"cpu"'},
        {"device": "cuda"},
        {"optimizer": "SGD(0.1, 0.9)"},
        {"optimizer": "Adam(lr=0.01, betas=(0.9, 0.99))"},
        {"scheduler": "OneCycleLR(max_lr=0.1)"},
        {"scheduler": 'ReduceLROnPlateau(mode="min", patience=3)'},
        {
            "scheduler": "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), "
            "CosineAnnealingLR(T_max=95)], milestones=[5])"
        },
        {"metrics": "[accuracy, f1, top2]"},
        {"metrics": '["accuracy"]', "stop_when": '"val_accuracy" > 0.9'},
        {"metrics": "[accuracy]", "stop_when": "0.9 <= val_accuracy or val_loss < 0.01"},
        {"metrics": "[accuracy]", "stop_when": "(val_loss < 0.1) and (train_accuracy > 0.99)"},
        {"early_stopping": "EarlyStopping(val_loss, 5, min)"},
        {"early_stopping": "EarlyStopping(monitor=train_loss)", "data": "iris()"},
        {"checkpoint": "Checkpoint(keep_best=none)"},
        {"checkpoint": "Checkpoint(every=5)"},
        {"loss": "CrossEntropyLoss(weight=[1.0, 2.0, 1.0], ignore_index=-1)"},
        {"data": "random(shape=[4], classes=3, n=100, val_split=0.1)"},
        {"data": "random(shape=4, classes=3)"},
        {"data": "iris(normalize=true, val_split=0.25)"},
        {"model": "IrisMLP()"},
        {"accumulate": "4", "clip_grad_norm": "5", "seed": "123", "batch_size": "8"},
    ],
)
def test_valid_values(entries: dict[str, str]) -> None:
    assert check(spec(**entries)) == []


def test_constants_are_values() -> None:
    text = "const LR = 0.01\nconst EPOCHS = 10 * 2\n" + spec(
        optimizer="Adam(lr=LR)", epochs="EPOCHS"
    )
    assert check(text) == []


def test_undefined_name_as_value_suggests_a_constant() -> None:
    text = "const LR = 0.01\n" + spec(optimizer="Adam(lr=LRR)")
    d = one_error(text)
    assert d.message == "undefined name `LRR`"
    assert d.hint == "did you mean `LR`?"


# ---- losses, optimizers, schedulers ----------------------------------------------------------


def test_unknown_loss_suggests_the_torch_class() -> None:
    text = spec(loss="CrossEntropy()")
    d = one_error(text)
    assert d.message == "unknown loss `CrossEntropy`"
    assert d.hint == "did you mean `CrossEntropyLoss()`?"
    assert text_at(text, d) == "CrossEntropy"


def test_functional_loss_name_suggests_the_module() -> None:
    d = one_error(spec(loss="mse_loss()"))
    assert d.hint == "did you mean `MSELoss()`?"


def test_a_layer_is_not_a_loss() -> None:
    d = one_error(spec(loss="Linear()"))
    assert d.message == "`Linear` is not a loss"


def test_loss_argument_typo_uses_torch_signature() -> None:
    text = spec(loss="CrossEntropyLoss(label_smothing=0.1)")
    d = one_error(text)
    assert d.message == "CrossEntropyLoss has no argument `label_smothing`"
    assert d.hint == "did you mean `label_smoothing`?"
    assert text_at(text, d) == "label_smothing=0.1"


def test_loss_argument_type() -> None:
    d = one_error(spec(loss="CrossEntropyLoss(label_smoothing=true)"))
    assert "`label_smoothing` must be a number" in d.message


def test_loss_reduction() -> None:
    assert "one per sample" in one_error(spec(loss='CrossEntropyLoss(reduction="none")')).message
    d = one_error(spec(loss='CrossEntropyLoss(reduction="avg")'))
    assert d.message == '`reduction` is "mean", "sum" or "none", not "avg"'


def test_loss_class_weights_count() -> None:
    d = one_error(spec(loss="CrossEntropyLoss(weight=[1.0, 2.0])"))
    assert d.message == "`weight` has 2 entries, but `iris` has 3 classes"


def test_loss_must_be_called() -> None:
    d = one_error(spec(loss="CrossEntropyLoss"))
    assert d.message == "`CrossEntropyLoss` must be called: `CrossEntropyLoss()`"


def test_unknown_optimizer() -> None:
    d = one_error(spec(optimizer="adam(lr=0.01)"))
    assert d.message == "unknown optimizer `adam`"
    assert d.hint == "did you mean `Adam`?"


def test_optimizer_argument_aliases_and_other_optimizers() -> None:
    assert one_error(spec(optimizer="Adam(learning_rate=0.1)")).hint == "did you mean `lr`?"
    hint = one_error(spec(optimizer="Adam(lr=0.1, momentum=0.9)")).hint
    assert hint is not None and "betas" in hint
    hint = one_error(spec(optimizer="AdamW(lr=0.1, nesterov=true)")).hint
    assert hint is not None and "SGD" in hint


def test_optimizer_lr_must_be_positive() -> None:
    assert one_error(spec(optimizer="SGD(lr=0)")).message == "`lr` must be positive, not 0"


def test_optimizer_tuple_argument() -> None:
    d = one_error(spec(optimizer="Adam(betas=(0.9, 0.99, 0.999))"))
    assert "`betas` must be a tuple of 2 numbers" in d.message


def test_optimizer_written_as_a_scheduler_and_back() -> None:
    assert "scheduler = StepLR" in (one_error(spec(optimizer="StepLR(step_size=3)")).hint or "")
    assert "optimizer = SGD" in (one_error(spec(scheduler="SGD(lr=0.1)")).hint or "")


def test_scheduler_required_argument() -> None:
    text = spec(scheduler="CosineAnnealingLR()")
    d = one_error(text)
    assert d.message == "CosineAnnealingLR needs `T_max`"
    assert text_at(text, d) == "CosineAnnealingLR()"


def test_scheduler_integer_argument() -> None:
    d = one_error(spec(scheduler="StepLR(step_size=7.0)"))
    assert d.message == "StepLR: `step_size` must be an integer, not the number `7.0`"
    assert d.hint == "write `step_size=7`"


def test_scheduler_with_a_function_argument() -> None:
    d = one_error(spec(scheduler="LambdaLR(lr_lambda=0.9)"))
    assert "needs a Python function" in d.message


def test_nested_schedulers_are_checked() -> None:
    text = spec(
        scheduler="SequentialLR(schedulers=[LinearLR(start_factr=0.1), "
        "CosineAnnealingLR(T_max=9)], milestones=[1])"
    )
    d = one_error(text)
    assert d.message == "LinearLR has no argument `start_factr`"
    assert text_at(text, d) == "start_factr=0.1"


# ---- numbers, precision, device --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", "0", "`epochs` must be a positive integer, not 0"),
        ("epochs", "1.5", "`epochs` must be a positive integer, not the number `1.5`"),
        ("batch_size", '"32"', '`batch_size` must be a positive integer, not the string "32"'),
        ("accumulate", "-2", "`accumulate` must be a positive integer, not -2"),
        ("seed", "-1", "`seed` must be a non-negative integer up to 4,294,967,295, not -1"),
        (
            "seed",
            "4294967296",
            "`seed` must be a non-negative integer up to 4,294,967,295, not 4294967296",
        ),
        ("seed", "true", "`seed` must be a non-negative integer, not the boolean `true`"),
        ("clip_grad_norm", "0.0", "`clip_grad_norm` must be a positive number, not 0.0"),
        ("clip_grad_norm", '"1"', '`clip_grad_norm` must be a positive number, not the string "1"'),
    ],
)
def test_number_keys(key: str, value: str, message: str) -> None:
    text = spec(**{key: value})
    d = one_error(text)
    assert d.message == message
    assert text_at(text, d) == value


def test_integer_written_as_float_gets_a_hint() -> None:
    assert one_error(spec(epochs="10.0")).hint == "write `epochs = 10`"


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [("16", "fp16"), ("fp32", "32"), ('"float16"', "fp16"), ("bfloat16", "bf16")],
)
def test_precision(value: str, suggestion: str) -> None:
    d = one_error(spec(precision=value))
    assert d.message.startswith("unknown precision")
    assert d.hint is not None and d.hint.startswith(f"did you mean `{suggestion}`?")


@pytest.mark.parametrize(("value", "suggestion"), [("gpu", "cuda"), ("cpus", "cpu"), ("mp", "mps")])
def test_device(value: str, suggestion: str) -> None:
    d = one_error(spec(device=value))
    assert d.message == f"unknown device `{value}`"
    assert d.hint is not None and d.hint.startswith(f"did you mean `{suggestion}`?")


def test_device_with_index() -> None:
    hint = one_error(spec(device='"cuda:0"')).hint
    assert hint is not None and "CUDA_VISIBLE_DEVICES" in hint


# ---- metrics and monitored quantities --------------------------------------------------------


def test_unknown_metrics_each_reported() -> None:
    found = errors(spec(metrics="[acuracy, f1_score, top0]"))
    assert [d.message for d in found] == [
        "unknown metric `acuracy`",
        "unknown metric `f1_score`",
        "unknown metric `top0`",
    ]
    assert [d.hint for d in found[:2]] == ["did you mean `accuracy`?", "did you mean `f1`?"]


def test_metric_must_fit_the_task() -> None:
    d = one_error(spec(metrics="[mae]"))
    assert d.message == (
        "`mae` is a regression metric, but this is multi-class classification: `iris` gives "
        "class labels"
    )
    assert "needs at least 5 classes" in one_error(spec(metrics="[top5]")).message


def test_metric_listed_twice() -> None:
    assert one_error(spec(metrics="[f1, f1]")).message == "metric `f1` is listed twice"


def test_metrics_must_be_a_list() -> None:
    assert one_error(spec(metrics="accuracy")).hint == "write `metrics = [accuracy]`"


def test_monitor_needs_the_metric() -> None:
    d = one_error(spec(stop_when="val_accuracy > 0.9"))
    assert d.message == "`val_accuracy` is not computed: `accuracy` is not in `metrics`"
    assert d.hint == "add it: `metrics = [accuracy]`"


def test_monitor_typo() -> None:
    text = spec(early_stopping="EarlyStopping(monitor=val_los)")
    d = one_error(text)
    assert d.message == "unknown quantity `val_los`"
    assert d.hint == "did you mean `val_loss`?"
    assert text_at(text, d) == "val_los"


def test_validation_quantities_need_a_validation_split() -> None:
    d = one_error(spec(data="iris()", stop_when="val_loss < 0.1"))
    assert d.message == "`val_loss` needs a validation set, but the data has none"
    assert d.hint is not None and "iris(val_split=0.2)" in d.hint
    d = one_error(spec(data="iris(val_split=0)", early_stopping="EarlyStopping(patience=3)"))
    assert d.message.startswith("EarlyStopping watches `val_loss` by default")
    # without a data source nothing is known about validation
    assert check(spec(data=None, stop_when="val_loss < 0.1")) == []


def test_early_stopping_arguments() -> None:
    assert one_error(spec(early_stopping="EarlyStopping(patients=3)")).hint == (
        "did you mean `patience`?"
    )
    assert one_error(spec(early_stopping="EarlyStopping(mode=minimum)")).hint == (
        "did you mean `min`?"
    )
    assert (
        "must be a non-negative integer"
        in one_error(spec(early_stopping="EarlyStopping(patience=2.5)")).message
    )
    assert "at least 0" in one_error(spec(early_stopping="EarlyStopping(min_delta=-1)")).message
    assert one_error(spec(early_stopping="EarlyStop(patience=3)")).hint == (
        "did you mean `EarlyStopping`?"
    )
    assert "must be called" in one_error(spec(early_stopping="EarlyStopping")).message


def test_early_stopping_mode_against_the_quantity() -> None:
    d = one_warning(
        spec(metrics="[accuracy]", early_stopping="EarlyStopping(monitor=val_accuracy, mode=min)")
    )
    assert d.message == "`mode=min` waits for `val_accuracy` to fall, but higher is better for it"


def test_checkpoint_arguments() -> None:
    found = errors(spec(checkpoint="Checkpoint(every=0, keep_best=val_acc, keep=3)"))
    assert [d.message for d in found] == ["`Checkpoint` has no argument `keep`"]
    found = errors(spec(checkpoint="Checkpoint(every=0, keep_best=val_acc)"))
    assert [d.message for d in found] == [
        "`every` must be a positive integer, not 0",
        "unknown quantity `val_acc`",
    ]


def test_stop_when_shapes() -> None:
    assert (
        one_error(spec(stop_when="val_loss")).hint == "compare it with a number: `val_loss < 0.05`"
    )
    assert "never exactly equal" in one_error(spec(stop_when="val_loss == 0")).message
    assert (
        "compares a quantity with a number"
        in one_error(spec(stop_when="val_loss < train_loss")).message
    )
    both = errors(spec(stop_when="val_los < 0.1 or val_acuracy > 0.9"))
    assert [d.message for d in both] == [
        "unknown quantity `val_los`",
        "unknown quantity `val_acuracy`",
    ]


def test_stop_when_percent_is_a_warning() -> None:
    d = one_warning(spec(metrics="[accuracy]", stop_when="val_accuracy >= 95"))
    assert d.hint == "did you mean `0.95`?"


# ---- data ------------------------------------------------------------------------------------


def test_data_option_typo() -> None:
    text = spec(data="iris(val_splt=0.2)")
    d = one_error(text)
    assert d.message == "`iris` has no option `val_splt`"
    assert d.hint == "did you mean `val_split`?"
    assert text_at(text, d) == "val_splt=0.2"


def test_data_option_values() -> None:
    assert one_error(spec(data="iris(val_split=20)")).hint == "did you mean `val_split=0.2`?"
    assert "must be `true` or `false`" in one_error(spec(data="iris(normalize=1)")).message
    assert "can only be `input`" in one_error(spec(data="iris(target=species)")).message
    assert "must be an integer" in one_error(spec(data="moons(n=10.5)")).message
    assert "must be at least 2" in one_error(spec(data="spirals(classes=1)")).message
    assert "takes its options by keyword" in one_error(spec(data="iris(0.2)")).message


def test_data_sources_that_need_options() -> None:
    assert one_error(spec(data='csv(target="y")')).message == "`csv` needs `path`"
    assert one_error(spec(data="random(classes=3)")).message.startswith("`random` needs `shape`")
    assert one_error(spec(data="npz")).message == "`npz` needs options"


def test_files_are_not_checked_statically() -> None:
    text = spec(data='csv("flowers.csv", target="species", val_split=0.2)')
    assert check(text) == []


def test_data_must_fit_the_model_input() -> None:
    text = spec(data="digits(val_split=0.2)")
    d = one_error(text)
    assert d.message == (
        "model `IrisMLP` takes [B, 4], but `digits` gives [B, 1, 8, 8] "
        "(8x8 grayscale images of digits)"
    )
    assert text_at(text, d) == "digits(val_split=0.2)"
    assert d.notes[0].span is not None and d.notes[0].span.line == 2
    assert "[B, 4]" in one_error(spec(DIGITS_CNN, data="iris()")).message


def test_generated_data_shapes() -> None:
    assert "gives [B, 2]" in one_error(spec(data="moons()")).message
    assert "gives [B, 32, 1]" in one_error(spec(data="sine()")).message
    assert check(spec(data="random(shape=[4], classes=3)")) == []


def test_integer_model_input_with_float_data() -> None:
    model = "model Tok {\n    input t: long[B, 4]\n    Embedding(10, 4) -> mean(dim=1) -> Linear(3)\n}\n"
    d = one_error(spec(model))
    assert "integer ids" in d.message


def test_data_facts() -> None:
    assert data_facts("digits", {}) == DataFacts("digits", (1, 8, 8), "classification", 10)
    assert data_facts("iris", {"target": "input"}) == DataFacts(
        "iris", (4,), "regression", target=(4,), reconstruct=True
    )
    assert data_facts("spirals", {"classes": 4}) == DataFacts("spirals", (2,), "classification", 4)
    assert data_facts("sine", {"length": 10}) == DataFacts(
        "sine", (10, 1), "regression", target=(1,)
    )
    assert data_facts("random", {"shape": [3, 8, 8]}) == DataFacts(
        "random", (3, 8, 8), "regression", target=(1,)
    )
    assert data_facts("csv", {"path": "x.csv"}) is None


# ---- the model and its arguments -------------------------------------------------------------

MLP_PARAMS = """model MLP(hidden: int = 32, classes: int = 10) {
    input x: [B, 4]
    Linear(hidden) -> relu -> Linear(classes)
}
"""


def test_model_arguments_are_used_for_the_checks() -> None:
    # the default gives 10 classes: a warning; `classes=3` fits iris
    assert one_warning(spec(MLP_PARAMS)).message == (
        "`MLP` outputs 10 class scores, but `iris` has 3 classes"
    )
    assert check(spec(MLP_PARAMS, model="MLP(classes=3)")) == []
    assert check(spec(MLP_PARAMS, model="MLP(64, 3)")) == []


def test_model_argument_hint_names_the_parameter() -> None:
    assert one_warning(spec(MLP_PARAMS)).hint == "train it with `model = MLP(classes=3)`"
    d = one_warning(spec(MLP_PARAMS, model="MLP(hidden=64, classes=4)"))
    assert d.hint == "the train section builds it with `classes=4`: write `classes=3`"


def test_model_argument_errors() -> None:
    d = one_error(spec(MLP_PARAMS, model="MLP(hiden=64, classes=3)"))
    assert d.message == "model `MLP` has no parameter `hiden`"
    assert d.hint == "did you mean `hidden`?"
    d = one_error(spec(MLP_PARAMS, model='MLP(classes="3")'))
    assert d.message == '`MLP`\'s parameter `classes` must be an int, not the string "3"'
    d = one_error(spec(MLP_PARAMS, model="MLP(1, 2, 3)"))
    assert d.message == "model `MLP` takes 2 arguments (hidden, classes), but 3 were given"


def test_model_parameter_without_default_must_be_given() -> None:
    model = MLP_PARAMS.replace("hidden: int = 32", "hidden: int")
    d = one_error(spec(model, model="MLP(classes=3)"))
    assert d.message == "model `MLP` needs its parameter `hidden` to be trained"
    assert check(spec(model, model="MLP(hidden=8, classes=3)")) == []


def test_errors_that_only_the_arguments_cause_say_so() -> None:
    model = """model Conv(width: int = 16) {
    input x: [B, 1, 8, 8]
    Conv2d(width, 3, padding=1) -> Conv2d(8, 3, groups=4) -> flatten -> Linear(10)
}
"""
    assert check(spec(model, data="digits()")) == []
    d = one_error(spec(model, model="Conv(width=6)", data="digits()"))
    assert "not divisible by groups" in d.message
    assert any("with the arguments of the train section" in n.message for n in d.notes)


def test_model_with_several_outputs() -> None:
    model = "model Two {\n    input x: [B, 4]\n    return x -> Linear(3), x -> Linear(2)\n}\n"
    assert "returns several values" in one_error(spec(model)).message


# ---- lints: the model's output against the loss and the data ---------------------------------


def test_softmax_before_cross_entropy() -> None:
    model = IRIS_MLP.replace("Linear(3)", "Linear(3) -> softmax(dim=1)")
    text = spec(model)
    d = one_warning(text)
    assert d.message == (
        "`IrisMLP` ends with `softmax`, but CrossEntropyLoss applies log-softmax itself"
    )
    assert text_at(text, d) == "softmax(dim=1)"
    assert d.notes[0].message.startswith("the loss is `CrossEntropyLoss`")


def test_softmax_module_inside_a_block_is_found() -> None:
    model = """block Head(n: int) {
    Linear(n) -> Softmax(dim=1)
}

model Net {
    input x: [B, 4]
    Linear(16) -> relu -> head: Head(3)
}
"""
    assert "ends with `Softmax`" in one_warning(spec(model)).message


def test_sigmoid_before_bce_with_logits_through_a_reshape() -> None:
    model = "model M {\n    input x: [B, 2]\n    Linear(1) -> sigmoid -> flatten\n}\n"
    text = spec(model, data="moons(val_split=0.2)", loss="BCEWithLogitsLoss()")
    d = one_warning(text)
    assert "BCEWithLogitsLoss applies a sigmoid itself" in d.message
    assert text_at(text, d) == "sigmoid"


def test_bce_without_sigmoid() -> None:
    model = "model M {\n    input x: [B, 2]\n    Linear(1)\n}\n"
    d = one_warning(spec(model, data="moons(val_split=0.2)", loss="BCELoss()"))
    assert d.message == "BCELoss needs probabilities between 0 and 1, but `M` ends with `Linear`"


def test_log_softmax_with_nll_is_fine() -> None:
    model = IRIS_MLP.replace("Linear(3)", "Linear(3) -> log_softmax(dim=1)")
    assert check(spec(model, loss="NLLLoss()")) == []
    assert (
        "NLLLoss needs log-probabilities"
        in one_warning(
            spec(IRIS_MLP.replace("Linear(3)", "Linear(3) -> softmax(dim=1)"), loss="NLLLoss()")
        ).message
    )


def test_output_shape_against_class_labels() -> None:
    scalar = "model S {\n    input x: [B, 4]\n    Linear(1) -> squeeze(1)\n}\n"
    assert one_warning(spec(scalar)).message == (
        "CrossEntropyLoss needs one score per class, [B, C], but `S` outputs [B]"
    )
    assert one_warning(spec(scalar, data=None)).hint == (
        "end the model with `Linear(<number of classes>)`"
    )


def test_regression_loss_on_class_labels() -> None:
    model = "model R {\n    input x: [B, 4]\n    Linear(1)\n}\n"
    d = one_warning(spec(model, loss="MSELoss()"))
    assert d.message == "MSELoss compares `R`'s output with `iris`'s class labels (integers 0 to 2)"


def test_reconstruction_shape() -> None:
    model = "model AE {\n    input x: [B, 1, 8, 8]\n    flatten -> Linear(64)\n}\n"
    text = spec(model, data="digits(target=input)", loss="MSELoss()")
    d = one_warning(text)
    assert d.message == (
        "`AE` outputs [B, 64], but the input (`target=input`) is [B, 1, 8, 8]; "
        "MSELoss needs equal shapes"
    )
    assert d.hint == "reshape the output: `reshape(-1, 1, 8, 8)`"


def test_bce_on_several_classes() -> None:
    d = one_warning(spec(loss="BCEWithLogitsLoss()"))
    assert d.message == "BCEWithLogitsLoss is for yes/no targets, but `iris` has 3 classes"


# ---- robustness ------------------------------------------------------------------------------


def test_values_are_checked_even_when_names_do_not_resolve() -> None:
    text = spec(IRIS_MLP.replace("relu", "relU", 1), optimizer="Adam(lr=0.1, wd=0.1)")
    messages = [d.message for d in errors(text)]
    assert messages == ["unknown function `relU`", "Adam has no argument `wd`"]


def test_several_train_sections_are_all_checked() -> None:
    text = (
        spec() + "\ntrain Long {\n    loss = MSELos()\n    optimizer = Adam()\n    epochs = 0\n}\n"
    )
    assert [d.message for d in errors(text)] == [
        "unknown loss `MSELos`",
        "`epochs` must be a positive integer, not 0",
    ]


@pytest.mark.parametrize(
    "value",
    ["3", '"x"', "[1, 2]", "(a, b)", "Adam", "a -> b", "x.shape", "-Adam()", "none", "true"],
)
@pytest.mark.parametrize(
    "key",
    [
        "model", "data", "loss", "optimizer", "scheduler", "epochs", "metrics", "early_stopping",
        "stop_when", "checkpoint", "clip_grad_norm", "precision", "seed", "device",
    ],
)  # fmt: skip
def test_odd_values_never_crash(key: str, value: str) -> None:
    result = check_file("spec.nn", spec(**{key: value}))
    assert all(d.span is not None for d in result.diagnostics)
