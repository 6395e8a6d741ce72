"""Tests for the data layer: nndsl.data.sources (numpy only)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.data import sources
from nndsl.data.errors import DataError
from nndsl.data.sources import SOURCES, Dataset, load, prepare, source_names, source_options


def _load(
    source: str, base: Path | str = ".", /, *, seed: int = 0, **options: Any
) -> sources.Split:
    return load(source, options, seed=seed, base_dir=Path(base))


def _ids(n: int, features: int = 2) -> Dataset:
    """A data set whose x row i is (i, i, ...) so splits can be traced back."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1)
    return Dataset(
        x=x, y=np.arange(n, dtype=np.int64) % 3, task="classification", num_classes=3, name="ids"
    )


# --------------------------------------------------------------------------------------------
# Registry


def test_source_names() -> None:
    expected = {
        "digits",
        "iris",
        "moons",
        "spirals",
        "sine",
        "random",
        "csv",
        "npz",
        "image_folder",
        "torchvision",
    }
    assert set(source_names()) == expected == set(SOURCES)
    assert source_names() == sorted(expected)
    assert source_options("csv") == ("path", "target", "features", "delimiter", "header")
    assert source_options("digits") == ()


def test_data_error_carries_message_and_hint() -> None:
    err = DataError("bad thing", hint="do this")
    assert isinstance(err, Exception)
    assert (err.message, err.hint) == ("bad thing", "do this")
    assert "bad thing" in str(err) and "do this" in str(err)
    assert DataError("x").hint is None and str(DataError("x")) == "x"


# --------------------------------------------------------------------------------------------
# Bundled data sets


def test_digits() -> None:
    d = SOURCES["digits"](seed=0)
    assert d.x.shape == (1797, 1, 8, 8) and d.x.dtype == np.float32
    assert d.y.shape == (1797,) and d.y.dtype == np.int64
    assert d.x.min() == 0.0 and d.x.max() == 1.0
    np.testing.assert_array_equal(d.x * 16, np.round(d.x * 16))  # pixel counts 0..16
    assert set(np.unique(d.y)) == set(range(10))
    assert np.bincount(d.y).min() >= 170
    assert (d.task, d.num_classes, d.name) == ("classification", 10, "digits")
    assert d.class_names == tuple("0123456789")
    # the first image of the UCI/scikit-learn file is a 0
    assert d.y[0] == 0 and d.x[0, 0, 0].tolist() == [v / 16 for v in (0, 0, 5, 13, 9, 1, 0, 0)]


def test_iris() -> None:
    d = SOURCES["iris"](seed=0)
    assert d.x.shape == (150, 4) and d.x.dtype == np.float32
    assert d.y.dtype == np.int64
    assert np.bincount(d.y).tolist() == [50, 50, 50]
    assert (d.task, d.num_classes) == ("classification", 3)
    assert d.class_names == ("setosa", "versicolor", "virginica")
    assert d.feature_names is not None and d.feature_names[0] == "sepal length (cm)"
    np.testing.assert_allclose(d.x[0], [5.1, 3.5, 1.4, 0.2], rtol=1e-6)
    assert 0.0 < d.x.min() and d.x.max() < 8.0


def test_dataset_is_frozen() -> None:
    d = SOURCES["iris"](seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Generated data sets

GENERATED: list[tuple[str, dict[str, Any]]] = [
    ("moons", {}),
    ("spirals", {"classes": 3}),
    ("sine", {"n": 100}),
    ("random", {"shape": (3, 4), "classes": 4}),
    ("random", {"shape": [5]}),
]


@pytest.mark.parametrize(("name", "options"), GENERATED)
def test_generated_is_deterministic(name: str, options: dict[str, Any]) -> None:
    a = SOURCES[name](seed=7, **options)
    b = SOURCES[name](seed=7, **options)
    c = SOURCES[name](seed=8, **options)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert a.x.dtype == np.float32


def test_moons() -> None:
    d = SOURCES["moons"](seed=0, n=301, noise=0.0)
    assert d.x.shape == (301, 2) and d.y.dtype == np.int64
    assert np.bincount(d.y).tolist() == [150, 151]
    upper, lower = d.x[d.y == 0], d.x[d.y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()
    noisy = SOURCES["moons"](seed=0, n=301, noise=0.1)
    assert not np.allclose(noisy.x, d.x)


def test_spirals() -> None:
    d = SOURCES["spirals"](seed=0, n=1000, classes=3, noise=0.0, turns=2)
    assert d.x.shape == (1000, 2) and d.num_classes == 3
    assert np.bincount(d.y).tolist() == [334, 333, 333]
    assert np.hypot(d.x[:, 0], d.x[:, 1]).max() <= 1.0 + 1e-6


def test_sine_targets_continue_the_wave() -> None:
    d = SOURCES["sine"](seed=3, n=200, length=16)
    assert d.x.shape == (200, 16, 1) and d.y.shape == (200, 1)
    assert d.x.dtype == d.y.dtype == np.float32
    assert (d.task, d.num_classes) == ("regression", None)
    assert np.abs(d.x).max() <= 1.0 and np.abs(d.y).max() <= 1.0
    # a sinusoid obeys s[t+1] = 2 cos(w) s[t] - s[t-1]; estimate cos(w) and predict y
    s = d.x[:, :, 0].astype(np.float64)
    ok = np.abs(s[:, 1]) > 0.3
    cos_w = (s[ok, 2] + s[ok, 0]) / (2 * s[ok, 1])
    predicted = 2 * cos_w * s[ok, -1] - s[ok, -2]
    np.testing.assert_allclose(predicted, d.y[ok, 0], atol=1e-3)
    noisy = SOURCES["sine"](seed=3, n=200, length=16, noise=0.5)
    np.testing.assert_array_equal(noisy.y, d.y)  # the target stays clean
    assert not np.allclose(noisy.x, d.x)


def test_random() -> None:
    d = SOURCES["random"](seed=0, shape=(1, 6, 6), classes=5, n=64)
    assert d.x.shape == (64, 1, 6, 6) and d.y.shape == (64,) and d.num_classes == 5
    assert 0 <= d.y.min() and d.y.max() < 5
    r = SOURCES["random"](seed=0, shape=10, n=2000)
    assert r.x.shape == (2000, 10) and r.y.shape == (2000, 1) and r.y.dtype == np.float32
    assert r.task == "regression" and abs(float(r.y.std()) - 1.0) < 0.1
    assert abs(float(r.x.mean())) < 0.05


# --------------------------------------------------------------------------------------------
# Options


def test_unknown_option_suggests() -> None:
    with pytest.raises(DataError) as info:
        _load("moons", nosie=0.3)
    assert "nosie" in info.value.message
    assert info.value.hint is not None and "did you mean 'noise'?" in info.value.hint
    assert "n, noise" in info.value.hint
    with pytest.raises(DataError) as info:
        _load("digits", val_splitt=0.2)
    assert info.value.hint is not None and "val_split" in info.value.hint


def test_unknown_source_suggests() -> None:
    with pytest.raises(DataError) as info:
        _load("digts")
    assert info.value.hint is not None and "did you mean 'digits'?" in info.value.hint


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("moons", {"n": "many"}),
        ("moons", {"n": 2.5}),
        ("moons", {"n": True}),
        ("moons", {"noise": "high"}),
        ("moons", {"noise": -1}),
        ("moons", {"n": 5e16}),
        ("moons", {"n": 10**12}),
        ("moons", {"noise": 1e300}),
        ("spirals", {"n": 2.6e144}),
        ("sine", {"n": 10**6, "length": 10**6}),
        ("random", {"shape": (3,), "n": 10**10}),
        ("spirals", {"classes": 1}),
        ("spirals", {"turns": 0}),
        ("sine", {"length": 0}),
        ("random", {"shape": "3x3"}),
        ("random", {"shape": (3, 0)}),
        ("random", {"shape": ()}),
        ("random", {"shape": (3,), "classes": 1.5}),
        ("random", {"shape": (10**6, 10**6)}),
        ("csv", {"path": 3}),
        ("csv", {"path": "x.csv", "delimiter": ";;"}),
        ("csv", {"path": "x.csv", "features": "a b".split() + [1]}),
        ("image_folder", {"path": ".", "size": (1, 2, 3)}),
        ("image_folder", {"path": ".", "grayscale": "yes"}),
        ("digits", {"normalize": "yes"}),
        ("digits", {"val_split": "0.2"}),
        ("digits", {"target": "labels"}),
    ],
)
def test_bad_option_values(name: str, options: dict[str, Any]) -> None:
    with pytest.raises(DataError):
        _load(name, **options)


def test_seed_is_not_a_source_option() -> None:
    with pytest.raises(DataError, match="no option 'seed'"):
        load("moons", {"seed": 3}, seed=0, base_dir=Path("."))


def test_missing_required_option() -> None:
    with pytest.raises(DataError, match="needs the option 'shape'"):
        _load("random")
    with pytest.raises(DataError, match="needs the option 'path'"):
        _load("csv")


def test_direct_calls_take_positional_path(tmp_path: Path) -> None:
    file = tmp_path / "t.csv"
    file.write_text("a,label\n1,x\n2,y\n")
    d = SOURCES["csv"](file, "label")
    assert d.x.shape == (2, 1)
    with pytest.raises(DataError, match="positional"):
        SOURCES["csv"](file, "label", None, ",", None, None, "extra")
    with pytest.raises(DataError, match="given twice"):
        SOURCES["csv"](file, path=file)
    with pytest.raises(DataError, match="seed"):
        SOURCES["moons"](seed="zero")
    with pytest.raises(DataError, match="seed"):
        SOURCES["moons"](seed=-1)
    with pytest.raises(DataError, match="seed"):
        prepare(_ids(4), seed=-1)


@pytest.mark.parametrize("val_split", [1.0, 1.5, -0.1, "0.2", True, float("nan")])
def test_val_split_validation(val_split: Any) -> None:
    with pytest.raises(DataError) as info:
        prepare(_ids(10), val_split=val_split)
    assert "val_split" in info.value.message


def test_val_split_leaving_an_empty_side() -> None:
    with pytest.raises(DataError, match="no validation samples"):
        prepare(_ids(3), val_split=0.1)
    with pytest.raises(DataError, match="no training samples"):
        prepare(_ids(1), val_split=0.6)


# --------------------------------------------------------------------------------------------
# Splitting and normalisation


def test_split_sizes_disjoint_and_permutation_order() -> None:
    n = 1797
    split = prepare(_ids(n), val_split=0.2, seed=5)
    assert split.val_x is not None and split.val_y is not None
    assert len(split.val_x) == round(n * 0.2) == 359 and len(split.train_x) == n - 359
    val_ids = split.val_x[:, 0].astype(int)
    train_ids = split.train_x[:, 0].astype(int)
    assert not set(val_ids) & set(train_ids)
    assert sorted([*val_ids, *train_ids]) == list(range(n))
    order = np.random.default_rng(5).permutation(n)
    np.testing.assert_array_equal(val_ids, order[:359])
    np.testing.assert_array_equal(train_ids, order[359:])
    np.testing.assert_array_equal(split.train_y, train_ids % 3)
    np.testing.assert_array_equal(split.val_y, val_ids % 3)
    assert split.norm_stats is None and split.task == "classification" and split.num_classes == 3


def test_split_is_deterministic_per_seed() -> None:
    a = _load("digits", seed=1, val_split=0.25)
    b = _load("digits", seed=1, val_split=0.25)
    c = _load("digits", seed=2, val_split=0.25)
    np.testing.assert_array_equal(a.train_x, b.train_x)
    np.testing.assert_array_equal(a.val_y, b.val_y)
    assert not np.array_equal(a.train_y, c.train_y)


def test_no_val_split() -> None:
    split = _load("iris")
    assert split.val_x is None and split.val_y is None
    assert split.train_x.shape == (150, 4)
    assert split.input_shape == (4,) and split.target_shape == ()
    assert split.class_names == ("setosa", "versicolor", "virginica")


def test_normalize_uses_training_statistics_only() -> None:
    raw = SOURCES["iris"](seed=0)
    split = _load("iris", seed=3, val_split=0.3, normalize=True)
    order = np.random.default_rng(3).permutation(150)
    n_val = round(150 * 0.3)
    train_raw = raw.x[order[n_val:]].astype(np.float64)
    val_raw = raw.x[order[:n_val]].astype(np.float64)
    mean, std = train_raw.mean(axis=0), train_raw.std(axis=0)
    assert split.norm_stats is not None
    np.testing.assert_allclose(split.norm_stats.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(split.norm_stats.std, std, rtol=1e-5)
    np.testing.assert_allclose(split.train_x, (train_raw - mean) / std, atol=1e-5)
    np.testing.assert_allclose(split.val_x, (val_raw - mean) / std, atol=1e-5)
    np.testing.assert_allclose(split.train_x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(split.train_x.std(axis=0), 1.0, atol=1e-5)
    # the validation statistics differ from the (all-data) ones: they were not used
    all_mean = raw.x.astype(np.float64).mean(axis=0)
    assert not np.allclose(mean, all_mean, atol=1e-4)
    assert split.train_x.dtype == np.float32 and split.val_x is not None
    np.testing.assert_array_equal(split.train_y, raw.y[order[n_val:]])


def test_normalize_images_per_channel_and_constant_features() -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 3, 4, 5)).astype(np.float32)
    x[:, 2] = 7.0  # a constant channel: std 0 becomes 1
    d = Dataset(x=x, y=np.zeros(40, np.int64), task="classification", num_classes=1, name="img")
    split = prepare(d, val_split=0.25, normalize=True, seed=0)
    stats = split.norm_stats
    assert stats is not None and stats.mean.shape == (3, 1, 1) and stats.std.shape == (3, 1, 1)
    order = np.random.default_rng(0).permutation(40)
    train = x[order[10:]].astype(np.float64)
    np.testing.assert_allclose(stats.mean[:, 0, 0], train.mean(axis=(0, 2, 3)), rtol=1e-5)
    assert stats.std[2, 0, 0] == 1.0
    np.testing.assert_allclose(split.train_x[:, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(split.train_x[:, :2].mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    assert np.isfinite(split.train_x).all() and np.isfinite(split.val_x).all()
    np.testing.assert_allclose(stats.apply(x[order[:10]]), split.val_x, atol=1e-6)


def test_normalize_sequences_per_feature() -> None:
    split = _load("sine", n=50, length=8, normalize=True)
    assert split.norm_stats is not None and split.norm_stats.mean.shape == (1, 1)
    assert abs(float(split.train_x.mean())) < 1e-5


def test_target_input() -> None:
    split = _load("digits", val_split=0.1, normalize=True, target="input")
    assert split.task == "regression" and split.num_classes is None
    np.testing.assert_array_equal(split.train_y, split.train_x)
    np.testing.assert_array_equal(split.val_y, split.val_x)
    assert split.train_y is not split.train_x
    assert split.target_shape == (1, 8, 8)
    assert abs(float(split.train_y.mean())) < 1e-4  # a copy made after normalisation


# --------------------------------------------------------------------------------------------
# CSV


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_string_labels(tmp_path: Path) -> None:
    _write(
        tmp_path / "flowers.csv",
        "a,b,species\n1,2,virginica\n3,4.5,setosa\n5,6,versicolor\n7,8,setosa\n",
    )
    split = _load("csv", tmp_path, path="flowers.csv", target="species")
    d = SOURCES["csv"](path=tmp_path / "flowers.csv", target="species")
    assert d.class_names == ("setosa", "versicolor", "virginica")
    assert d.y.tolist() == [2, 0, 1, 0] and d.num_classes == 3
    np.testing.assert_array_equal(d.x, np.array([[1, 2], [3, 4.5], [5, 6], [7, 8]], np.float32))
    assert d.feature_names == ("a", "b")
    assert split.task == "classification" and split.train_x.shape == (4, 2)


def test_csv_numeric_labels_and_features(tmp_path: Path) -> None:
    _write(tmp_path / "n.csv", "x1;x2;x3;label\n0.5;1;2;3\n1.5;1;2;1\n2.5;1;2;3\n")
    d = SOURCES["csv"](
        path=tmp_path / "n.csv", target="label", features=["x3", "x1"], delimiter=";"
    )
    assert d.task == "classification" and d.class_names == ("1", "3") and d.y.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(d.x[:, 1], [0.5, 1.5, 2.5])
    assert d.feature_names == ("x3", "x1")
    forced = SOURCES["csv"](
        path=tmp_path / "n.csv", target="label", delimiter=";", task="regression"
    )
    assert forced.task == "regression" and forced.y[:, 0].tolist() == [3.0, 1.0, 3.0]


def test_csv_float_target_is_regression(tmp_path: Path) -> None:
    _write(tmp_path / "r.csv", "\ufeffa,price\n1,2.5\n2,3\n\n3,-1e3\n")  # BOM and a blank line
    d = SOURCES["csv"](path=tmp_path / "r.csv", target="price")
    assert d.task == "regression" and d.num_classes is None
    assert d.y.shape == (3, 1) and d.y.dtype == np.float32
    np.testing.assert_array_equal(d.y[:, 0], [2.5, 3.0, -1000.0])


def test_csv_unknown_column_suggests(tmp_path: Path) -> None:
    _write(tmp_path / "c.csv", "sepal_length,species\n1,a\n")
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="c.csv", target="specis")
    assert "specis" in info.value.message
    assert info.value.hint is not None and "did you mean 'species'?" in info.value.hint
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="c.csv", target="species", features=["sepal_lenght"])
    assert info.value.hint is not None and "sepal_length" in info.value.hint


def test_csv_ragged_row_names_the_line(tmp_path: Path) -> None:
    _write(tmp_path / "rag.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="rag.csv", target="c")
    assert "line 4" in info.value.message and "found 2" in info.value.message


def test_csv_not_a_number_names_the_line(tmp_path: Path) -> None:
    _write(tmp_path / "nan.csv", "a,b,y\n1,2,0\n1,oops,1\n")
    with pytest.raises(DataError, match=r"line 3: column 'b'"):
        _load("csv", tmp_path, path="nan.csv", target="y")
    _write(tmp_path / "inf.csv", "a,y\ninf,0\n")
    with pytest.raises(DataError, match="finite"):
        _load("csv", tmp_path, path="inf.csv", target="y")


def test_csv_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(b"name,y\n1,0\n2,caf\xe9\n")
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="latin.csv", target="y")
    assert "UTF-8" in info.value.message and "line 3" in info.value.message
    assert info.value.hint is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("a,b\n", "no data rows"),
        ("a,a\n1,2\n", "twice"),
        ("a,b,\n1,2,\n", "no name"),
    ],
)
def test_csv_malformed(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=message):
        _load("csv", tmp_path, path="m.csv", target="b")


def test_csv_missing_file_and_folder(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", "a,b\n1,2\n")
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="trian.csv", target="b")
    assert "not found" in info.value.message
    assert info.value.hint is not None and "train.csv" in info.value.hint
    with pytest.raises(DataError, match="folder"):
        _load("csv", tmp_path.parent, path=tmp_path.name, target="b")


def test_csv_target_input_and_missing_target(tmp_path: Path) -> None:
    _write(tmp_path / "ae.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    split = _load("csv", tmp_path, path="ae.csv", target="input", normalize=True)
    assert split.task == "regression" and split.train_x.shape == (3, 3)
    np.testing.assert_array_equal(split.train_y, split.train_x)
    with pytest.raises(DataError) as info:
        _load("csv", tmp_path, path="ae.csv")
    assert (
        "no target" in info.value.message
        and info.value.hint is not None
        and "a, b, c" in info.value.hint
    )
    _write(tmp_path / "amb.csv", "input,b\n1,2\n")
    with pytest.raises(DataError, match="ambiguous"):
        _load("csv", tmp_path, path="amb.csv", target="input")


def test_csv_relative_to_base_dir_and_absolute(tmp_path: Path) -> None:
    sub = tmp_path / "specs" / "data"
    sub.mkdir(parents=True)
    _write(sub / "d.csv", "a,y\n1,0\n2,1\n3,0\n4,1\n")
    rel = _load("csv", tmp_path / "specs", path="data/d.csv", target="y", val_split=0.5)
    assert rel.val_x is not None and len(rel.val_x) == 2
    absolute = _load("csv", "/nonexistent", path=str(sub / "d.csv"), target="y")
    assert absolute.train_x.shape == (4, 1)


# --------------------------------------------------------------------------------------------
# npz


def test_npz_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(20, 3, 5)).astype(np.float64)
    y = np.arange(20) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y)
    d = SOURCES["npz"](path=tmp_path / "a.npz")
    assert d.x.dtype == np.float32 and d.x.shape == (20, 3, 5)
    np.testing.assert_allclose(d.x, x, rtol=1e-6)
    assert d.task == "classification" and d.num_classes == 4 and d.y.tolist() == y.tolist()
    np.savez_compressed(tmp_path / "b.npz", inputs=x[:, 0], targets=np.linspace(0, 1, 20))
    split = _load("npz", tmp_path, path="b.npz", x="inputs", y="targets", val_split=0.2)
    assert split.task == "regression" and split.train_y.shape == (16, 1)
    np.savez(tmp_path / "s.npz", x=np.ones(3), y=np.array(["cat", "ant", "cat"]))
    s = SOURCES["npz"](path=tmp_path / "s.npz")
    assert s.x.shape == (3, 1) and s.class_names == ("ant", "cat") and s.y.tolist() == [1, 0, 1]


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "k.npz", features=np.ones((3, 2)), labels=np.zeros(3, np.int64))
    with pytest.raises(DataError) as info:
        _load("npz", tmp_path, path="k.npz", x="feature", y="labels")
    assert info.value.hint is not None and "did you mean 'features'?" in info.value.hint
    with pytest.raises(DataError, match="no array 'x'"):
        _load("npz", tmp_path, path="k.npz")
    np.savez(tmp_path / "len.npz", x=np.ones((3, 2)), y=np.zeros(4, np.int64))
    with pytest.raises(DataError, match="samples"):
        _load("npz", tmp_path, path="len.npz")
    np.savez(tmp_path / "empty.npz", x=np.ones((0, 2)), y=np.zeros(0, np.int64))
    with pytest.raises(DataError, match="no samples"):
        _load("npz", tmp_path, path="empty.npz")
    np.savez(tmp_path / "neg.npz", x=np.ones((2, 2)), y=np.array([0, -1]))
    with pytest.raises(DataError, match="negative"):
        _load("npz", tmp_path, path="neg.npz")
    np.savez(tmp_path / "nan.npz", x=np.array([[np.nan]]), y=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="NaN"):
        _load("npz", tmp_path, path="nan.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match="cannot read|corrupt"):
        _load("npz", tmp_path, path="obj.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(DataError, match="single array"):
        _load("npz", tmp_path, path="single.npy")


def test_npz_corrupt(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.arange(1000.0), y=np.arange(1000) % 2)
    data = buffer.getvalue()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError):
        _load("npz", tmp_path, path="trunc.npz")
    flipped = bytearray(data)
    for i in range(60, 200):
        flipped[i] ^= 0xFF  # inside the first member's compressed data
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(DataError):
        _load("npz", tmp_path, path="flip.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(DataError, match="cannot read"):
        _load("npz", tmp_path, path="text.npz")
    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as archive:
        archive.writestr("x.npy", b"garbage")
        archive.writestr("y.npy", b"garbage")
    with pytest.raises(DataError):
        _load("npz", tmp_path, path="zip.npz")


# --------------------------------------------------------------------------------------------
# image_folder and torchvision


def _png(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> None:
    image_module = pytest.importorskip("PIL.Image")
    image_module.new("RGB", size, color).save(path)


def test_image_folder(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    for name, color in (("dogs", (255, 0, 0)), ("cats", (0, 0, 255))):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(3):
            _png(tmp_path / "imgs" / name / f"{i}.png", (6, 4), color)
    (tmp_path / "imgs" / "cats" / "notes.txt").write_text("ignored")
    (tmp_path / "imgs" / ".hidden").mkdir()
    split = _load("image_folder", tmp_path, path="imgs", val_split=0.5)
    d = SOURCES["image_folder"](path=tmp_path / "imgs")
    assert d.class_names == ("cats", "dogs") and d.num_classes == 2
    assert d.x.shape == (6, 3, 4, 6) and d.x.dtype == np.float32
    assert d.y.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(d.x[0, :, 0, 0], [0, 0, 1])  # cats are blue
    np.testing.assert_allclose(d.x[3, :, 0, 0], [1, 0, 0])  # dogs are red
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0
    assert split.train_x.shape == (3, 3, 4, 6)
    gray = SOURCES["image_folder"](path=tmp_path / "imgs", size=8, grayscale=True)
    assert gray.x.shape == (6, 1, 8, 8)
    rect = SOURCES["image_folder"](path=tmp_path / "imgs", size=(2, 5))
    assert rect.x.shape == (6, 3, 2, 5)


def test_image_folder_errors(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _png(tmp_path / "a" / "1.png", (4, 4), (0, 0, 0))
    _png(tmp_path / "b" / "1.png", (5, 4), (0, 0, 0))
    with pytest.raises(DataError) as info:
        SOURCES["image_folder"](path=tmp_path)
    assert info.value.hint is not None and "size=" in info.value.hint
    (tmp_path / "b" / "2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="2.png"):
        SOURCES["image_folder"](path=tmp_path, size=4)
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="'c' has no images"):
        SOURCES["image_folder"](path=tmp_path, size=4)
    with pytest.raises(DataError, match="no class subfolders"):
        SOURCES["image_folder"](path=tmp_path / "c")
    with pytest.raises(DataError, match="does not exist"):
        _load("image_folder", tmp_path, path="missing")


def test_image_folder_without_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.png").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError) as info:
        SOURCES["image_folder"](path=tmp_path)
    assert info.value.hint == "pip install pillow"


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed"
)
def test_torchvision_missing() -> None:
    with pytest.raises(DataError) as info:
        _load("torchvision", name="MNIST")
    assert info.value.message == "torchvision is not installed"
    assert info.value.hint == "pip install torchvision (and a matching torch)"


def test_torchvision_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DataError, match="torchvision is not installed"):
        SOURCES["torchvision"](name="CIFAR10", root="data", download=False)


def _fake_torchvision() -> types.ModuleType:
    """A stand-in for torchvision with the attributes the source reads."""

    class MNIST:  # data [n, H, W] uint8, targets, classes
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            if not download and root.endswith("empty"):
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            n = 6 if train else 4
            self.data = np.full((n, 5, 5), 255, dtype=np.uint8)
            self.targets = [i % 3 for i in range(n)]
            self.classes = ["zero", "one", "two"]

    class CIFAR10:  # data [n, H, W, C] uint8
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            self.data = np.zeros((5, 4, 4, 3), dtype=np.uint8)
            self.data[..., 0] = 51
            self.targets = [0, 1, 2, 3, 4]

    class SVHN:  # split= instead of train=, data [n, C, H, W], labels
        def __init__(self, root: str, split: str = "train", download: bool = False) -> None:
            self.split = split
            self.data = np.zeros((3, 3, 4, 4), dtype=np.uint8)
            self.labels = np.array([9, 0, 1])

    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(MNIST=MNIST, CIFAR10=CIFAR10, SVHN=SVHN)  # type: ignore[attr-defined]
    return module


def test_torchvision_conversion_with_a_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision())
    mnist = _load("torchvision", tmp_path, name="MNIST", val_split=0.5)
    assert mnist.train_x.shape == (3, 1, 5, 5) and mnist.train_x.max() == 1.0
    assert mnist.num_classes == 3 and mnist.class_names == ("zero", "one", "two")
    assert SOURCES["torchvision"]("MNIST", train=False).x.shape == (4, 1, 5, 5)
    cifar = SOURCES["torchvision"](name="CIFAR10")
    assert cifar.x.shape == (5, 3, 4, 4) and cifar.num_classes == 5
    np.testing.assert_allclose(cifar.x[:, 0], 0.2)
    svhn = SOURCES["torchvision"](name="SVHN", train=False)
    assert svhn.x.shape == (3, 3, 4, 4) and svhn.num_classes == 10
    with pytest.raises(DataError) as info:
        SOURCES["torchvision"](name="MNSIT")
    assert info.value.hint == "did you mean 'MNIST'?"
    with pytest.raises(DataError) as info:
        SOURCES["torchvision"](name="MNIST", root=str(tmp_path / "empty"))
    assert "Dataset not found" in info.value.message
    assert info.value.hint is not None and "download=true" in info.value.hint


# --------------------------------------------------------------------------------------------
# Fuzzing: arbitrary file contents only ever raise DataError


def _valid_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.arange(12.0).reshape(4, 3), y=np.array([0, 1, 0, 1]))
    return buffer.getvalue()


VALID_NPZ = _valid_npz()

csv_text = st.text(alphabet='ab,y;01.5e-\n\r"\t xé\x00', max_size=200).map(
    lambda s: s.encode("utf-8")
)
numeric_cells = st.sampled_from(["1", "2.5", "-3", "0", "7", " 4 ", "1e3"])
odd_cells = st.sampled_from(["cat", "dog", "", " ", "nan", "1e40", '"4,5"', "é", "1_0"])


@st.composite
def csv_tables(draw: st.DrawFn) -> bytes:
    """Mostly well-formed tables, so that parsing gets past the header and the rows."""
    header = draw(st.sampled_from(["a,y", "a,b,y", "y,a", "a;y", "input,y", "a,a"]))
    width = len(header.split(","))
    cell = st.one_of(numeric_cells, numeric_cells, numeric_cells, odd_cells)
    row = st.one_of(
        st.lists(cell, min_size=width, max_size=width),
        st.lists(cell, min_size=1, max_size=4),
    )
    rows = draw(st.lists(row, max_size=8))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (header + end + "".join(",".join(r) + end for r in rows)).encode("utf-8")


csv_bytes = st.one_of(
    st.binary(max_size=300),
    csv_text,
    st.just(b"a,y\n").flatmap(lambda h: csv_text.map(lambda t: h + t)),
    csv_tables(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=csv_bytes,
    options=st.sampled_from([{"target": "y"}, {"target": "a"}, {"target": "input"}, {}]),
)
def test_fuzz_csv_only_raises_data_error(content: bytes, options: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "f.csv").write_bytes(content)
        try:
            split = _load("csv", folder, path="f.csv", val_split=0.0, normalize=True, **options)
        except DataError as err:
            assert err.message
            return
        assert split.train_x.dtype == np.float32 and np.isfinite(split.train_x).all()


@st.composite
def npz_bytes(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.binary(max_size=400))
    data = bytearray(VALID_NPZ)
    if choice == 1:
        return bytes(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=npz_bytes())
def test_fuzz_npz_only_raises_data_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "f.npz").write_bytes(content)
        try:
            split = _load("npz", folder, path="f.npz")
        except DataError as err:
            assert err.message
            return
        assert split.train_x.dtype == np.float32


option_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 300),
    st.floats(allow_nan=True),
    st.floats(min_value=1e10, max_value=1e300),
    st.text(max_size=5),
    st.lists(st.integers(-2, 12), max_size=4),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.just("input"),
)


@st.composite
def source_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(source_names()))
    keys = [k for k in source_options(name) if k not in ("path", "root")]
    keys += ["val_split", "normalize", "target", "bogus"]
    return name, draw(st.dictionaries(st.sampled_from(keys), option_values, max_size=4))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=source_calls(), seed=st.integers(0, 2**40))
def test_fuzz_options_only_raise_data_error(call: tuple[str, dict[str, Any]], seed: int) -> None:
    name, options = call
    try:
        split = load(name, options, seed=seed, base_dir=Path(tempfile.gettempdir()) / "nowhere")
    except DataError as err:
        assert err.message
        return
    assert split.train_x.dtype == np.float32 and len(split.train_x) > 0


# --------------------------------------------------------------------------------------------
# No torch


def test_importing_sources_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import nndsl.data.sources as s\n"
        "import nndsl.data\n"
        "for name, opts in [('digits', {'val_split': 0.2, 'normalize': True}), ('iris', {}),\n"
        "                   ('moons', {}), ('sine', {'target': 'input'}), ('random', {'shape': [3]})]:\n"
        "    s.load(name, opts, seed=0, base_dir=Path('.'))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_generate_decodes_16_bit_images_without_torch(tmp_path: Path) -> None:
    """`nndsl generate` decodes an image folder into data.npz with numpy and Pillow only: why
    sources.eight_bit is a copy of training_utils.eight_bit rather than imported from it."""
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(2):
            pixels = np.full((8, 8), 1000 * (i + 1), dtype=np.uint16)
            Image.fromarray(pixels).save(tmp_path / "photos" / label / f"{i}.png")
    (tmp_path / "spec.nn").write_text(
        "model Net {\n    input x: [B, 1, 8, 8]\n    flatten -> Linear(2)\n}\n\n"
        'train {\n    data = image_folder("photos", grayscale=true)\n'
        "    loss = CrossEntropyLoss()\n    optimizer = Adam(lr=0.01)\n    epochs = 1\n}\n",
        encoding="utf-8",
    )
    probe = (
        "import sys\nfrom nndsl.cli import main\n"
        "code = main(['generate', 'spec.nn', '-o', 'out'])\n"
        "print(code, 'torch' in sys.modules, 'PIL.Image' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.stdout.split()[-3:] == ["0", "False", "True"], proc.stdout + proc.stderr
    x = np.load(tmp_path / "out" / "data.npz")["train_x"]
    assert sorted(set(np.round(x.ravel() * 255).astype(int))) == [3, 7]  # high bytes of 1000, 2000
