"""Tests of the symbolic dimension algebra: canonical forms, printing, and properties checked
against plain Python integer arithmetic on random expression trees."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from math import floor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.dims import (
    DimError,
    FloorDiv,
    Sym,
    equal,
    evaluate,
    exact_div,
    floordiv,
    format_dim,
    format_shape,
    free_symbols,
    is_const,
    mod,
    substitute,
    sym,
    to_python,
)

B, C, H, T, W = (sym(n) for n in "BCHTW")
x = sym("x")


# --- canonical forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (H + 2 - 2, H),
        (H - 1 + 1, H),
        (2 * H // 2, H),
        ((2 * H + 1) // 2, H),
        ((H // 2) // 2, H // 4),
        (x // 1, x),
        ((H + 2 * 1 - 3) // 1 + 1, H),
        ((H - 1) // 2 + 1, (H + 1) // 2),
        ((H + 2) // 2, H // 2 + 1),
        ((2 * H + 1) // 4, H // 2),
        ((H // 2 + W) // 2, (H + 2 * W) // 4),
        (H * W - W * H + B, B),
        ((H + W) * (H - W), H * H - W * W),
        (H % 2, (H + 4) % 2),
        (-H % 2, H % 2),
        ((H % 4) % 2, H % 2),
        ((2 * H) % 4, 2 * (H % 2)),
        (H**2, H * H),
    ],
)
def test_canonical_equalities(left: Sym, right: Sym) -> None:
    assert left == right
    assert hash(left) == hash(right)
    assert equal(left, right) is True


def test_constant_results_are_plain_ints() -> None:
    for d in (H - H, H + 3 - H, (H // 2) * 0, 2 * H // 2 - H + 7, (2 * H) % 2, H % 1, 0 * H):
        assert type(d) is int
    assert H - H == 0 and H + 3 - H == 3 and 2 * H // 2 - H + 7 == 7


def test_int_semantics() -> None:
    assert floordiv(-7, 2) == -4 and mod(-7, 2) == 1
    assert floordiv(7, -2) == -4
    assert exact_div(6, 3) == 2
    assert exact_div(4 * H, 2) == 2 * H
    assert exact_div(B * T, T) == B
    assert exact_div(B * T + B, T + 1) == B
    assert (6 * H) / 3 == 2 * H
    assert exact_div(0, H) == 0


@pytest.mark.parametrize(
    "thunk",
    [
        lambda: exact_div(H, 2),
        lambda: exact_div(7, 2),
        lambda: exact_div(H, W),
        lambda: exact_div(H + 1, H),
        lambda: exact_div(H, 0),
        lambda: H // W,
        lambda: 6 // H,
        lambda: H // 0,
        lambda: H // -2,
        lambda: H % 0,
        lambda: H % W,
        lambda: floordiv(3, 0),
        lambda: H + True,
        lambda: True * H,
        lambda: is_const(True),
        lambda: evaluate(H, {"H": True}),
        lambda: sym("not a name"),
        lambda: H**-1,
    ],
)
def test_errors(thunk) -> None:
    with pytest.raises(DimError):
        thunk()


def test_other_types_are_not_dims() -> None:
    with pytest.raises(TypeError):
        H + 1.5  # noqa: B018
    with pytest.raises(TypeError):
        "a" * H  # noqa: B018


def test_queries() -> None:
    assert is_const(3) and not is_const(H)
    assert free_symbols(3) == frozenset()
    assert free_symbols(B * (H // 2) + W % 3) == {"B", "H", "W"}
    assert equal(H, W) is None
    assert equal(H + 1, H) is False
    assert equal(3, 4) is False and equal(3, 3) is True
    assert equal(H // 2, (H + 1) // 2) is None


def test_evaluate_and_substitute() -> None:
    d = (H + 2 * W - 3) // 2 + B * H
    assert evaluate(d, {"H": 9, "W": 4, "B": 2}) == (9 + 8 - 3) // 2 + 18
    with pytest.raises(DimError, match="W"):
        evaluate(d, {"H": 1, "B": 1})
    assert substitute(d, {"H": 9, "W": 4, "B": 2}) == evaluate(d, {"H": 9, "W": 4, "B": 2})
    assert substitute(d, {"B": 0}) == (H + 2 * W - 3) // 2
    assert substitute(H // 2, {"H": 2 * W}) == W
    assert substitute((H - 1) // 2 + 1, {"H": 2 * T + 1}) == T + 1
    assert substitute(H % 2, {"H": 2 * T + 1}) == 1


# --- printing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (H, "H"),
        (2 * C, "2*C"),
        (T * B, "B*T"),
        (H - 2, "H - 2"),
        (H // 2, "H//2"),
        ((H - 1) // 2 + 1, "(H + 1)//2"),
        ((H - 3) // 2 + 1, "(H - 1)//2"),
        (H // 2 + 1, "(H + 2)//2"),
        (H * W * C, "C*H*W"),  # atoms sorted by name, whatever the order written
        (-H + 3, "3 - H"),
        (-H, "-H"),
        (-H - W, "-H - W"),
        (64 * (H // 4), "64*(H//4)"),
        (-(H // 2), "-(H//2)"),
        (W - H // 2, "W - H//2"),
        (3 * H // 2, "(3*H)//2"),
        (H * H + H + 1, "H**2 + H + 1"),
        ((H // 2) ** 2, "(H//2)**2"),
        (H % 3 + 1, "H%3 + 1"),
        (5, "5"),
        (-5, "-5"),
    ],
)
def test_format_dim(d, text: str) -> None:
    assert format_dim(d) == text
    assert str(d) == text


def test_format_shape_and_to_python() -> None:
    assert format_shape([B, 64, H // 2, W // 2]) == "[B, 64, H//2, W//2]"
    assert format_shape([]) == "[]"
    assert to_python((H - 1) // 2 + 1, {"H": "h"}) == "(h + 1) // 2"
    assert to_python(64 * (H // 4)) == "64 * (H // 4)"
    assert to_python(B * T, {"B": "x.shape[0]", "T": "n + 1"}) == "x.shape[0] * (n + 1)"
    assert to_python(7) == "7"
    assert repr(H + 1) == "Sym('H + 1')"


def test_printing_does_not_depend_on_hash_seed() -> None:
    code = (
        "from nndsl.dims import sym, format_dim\n"
        "a, b, c, z = map(sym, ['alpha', 'beta', 'gamma', 'zeta'])\n"
        "d = (z*c + b*a - 3) // 4 + c*c*z + (a + b) % 3 - a*b*c + 2*(z // 2)\n"
        "print(format_dim(d))\n"
    )
    outs = set()
    for seed in ("0", "1", "12345"):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": path}
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        outs.add(res.stdout)
    assert len(outs) == 1


# --- properties -----------------------------------------------------------------------------

NAMES = ("B", "H", "W")
SYMS = {n: sym(n) for n in NAMES}

leaves = st.one_of(st.sampled_from(NAMES), st.integers(-10, 10))


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*"]), children, children),
        st.tuples(st.sampled_from(["//", "%"]), children, st.integers(1, 8)),
        st.tuples(st.just("neg"), children),
    )


trees = st.recursive(leaves, _extend, max_leaves=10)
envs = st.fixed_dictionaries({n: st.integers(1, 300) for n in NAMES})


def build(t, leaf):
    """Fold a tree with `leaf` mapping names to values: plain ints or Syms alike."""
    if isinstance(t, str):
        return leaf(t)
    if isinstance(t, int):
        return t
    if t[0] == "neg":
        return -build(t[1], leaf)
    a = build(t[1], leaf)
    b = t[2] if t[0] in ("//", "%") else build(t[2], leaf)
    return {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "//": lambda: a // b,
        "%": lambda: a % b,
    }[t[0]]()


def canon(t):
    return build(t, SYMS.__getitem__)


def plain(t, env):
    return build(t, env.__getitem__)


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(trees, envs)
def test_canonical_form_evaluates_like_ints(t, env) -> None:
    d = canon(t)
    assert evaluate(d, env) == plain(t, env)
    assert substitute(d, env) == plain(t, env)
    assert type(substitute(d, env)) is int


@SETTINGS
@given(trees, st.fixed_dictionaries({n: st.integers(-300, 300) for n in NAMES}))
def test_rules_hold_for_negative_values_too(t, env) -> None:
    assert evaluate(canon(t), env) == plain(t, env)


@SETTINGS
@given(trees, envs)
def test_printing_is_python_and_deterministic(t, env) -> None:
    d = canon(t)
    text = format_dim(d)
    assert format_dim(canon(t)) == text
    assert eval(text, {}, dict(env)) == evaluate(d, env)  # noqa: S307
    renamed = {n: f"v_{n.lower()}" for n in NAMES}
    code = to_python(d, renamed)
    assert eval(code, {}, {renamed[n]: v for n, v in env.items()}) == evaluate(d, env)  # noqa: S307
    assert eval(to_python(d, {n: f"{n} + 0" for n in NAMES}), {}, dict(env)) == evaluate(d, env)  # noqa: S307


@SETTINGS
@given(trees, trees)
def test_sums_and_products_commute(a, b) -> None:
    for op in ("+", "*"):
        assert format_dim(canon((op, a, b))) == format_dim(canon((op, b, a)))
    assert canon(("-", ("+", a, b), b)) == canon(a)


@SETTINGS
@given(trees, trees, st.lists(envs, min_size=3, max_size=3))
def test_equal_is_sound(a, b, bindings) -> None:
    for x_, y_ in ((a, b), (a, ("-", ("+", a, b), b)), (("+", a, 0), a)):
        verdict = equal(canon(x_), canon(y_))
        values = [(plain(x_, env), plain(y_, env)) for env in bindings]
        if verdict is True:
            assert all(u == v for u, v in values)
        elif verdict is False:
            assert all(u != v for u, v in values)


@SETTINGS
@given(trees, st.integers(-6, 6).filter(bool), trees)
def test_exact_div_inverts_multiplication(t, k, u) -> None:
    d = canon(t)
    assert exact_div(d * k, k) == d
    if not is_const(canon(u)) and canon(u) != 0:
        assert exact_div(d * canon(u), canon(u)) == d


def torch_conv_out(h: int, k: int, p: int, s: int, d: int) -> int:
    """The formula of torch.nn.Conv2d's documentation, with exact rational arithmetic."""
    return floor(Fraction(h + 2 * p - d * (k - 1) - 1, s) + 1)


@SETTINGS
@given(
    st.integers(1, 9),
    st.integers(0, 4),
    st.integers(1, 5),
    st.integers(1, 4),
    st.lists(st.integers(1, 300), min_size=1, max_size=5),
)
def test_conv_output_formula(k, p, s, d, heights) -> None:
    out = (H + 2 * p - d * (k - 1) - 1) // s + 1
    for h in heights:
        assert evaluate(out, {"H": h}) == torch_conv_out(h, k, p, s, d)
    # the same formula with symbolic hyper-parameters, bound later, gives the same canonical form
    K, P, D = sym("K"), sym("P"), sym("D")
    general = (H + 2 * P - D * (K - 1) - 1) // s + 1
    assert substitute(general, {"K": k, "P": p, "D": d}) == out


def test_common_conv_shapes() -> None:
    same = (H + 2 * 1 - 1 * (3 - 1) - 1) // 1 + 1
    assert same == H
    strided = (H + 2 * 1 - 1 * (3 - 1) - 1) // 2 + 1
    assert strided == (H + 1) // 2 and format_dim(strided) == "(H + 1)//2"
    pool = (H - 1 * (2 - 1) - 1) // 2 + 1
    assert pool == H // 2
    assert isinstance(pool, Sym) and pool.terms[0][0][0][0] == FloorDiv(H, 2)


def _extend_poly(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(st.sampled_from(["+", "-", "*"]), children, children)


poly_trees = st.recursive(leaves, _extend_poly, max_leaves=8)


@SETTINGS
@given(poly_trees, st.integers(1, 6), st.integers(1, 6), st.integers(-20, 20))
def test_floor_division_identities_are_structural(t, m, n, c) -> None:
    p = canon(t)
    assert (p // m) // n == p // (m * n)
    assert (p + c * m) // m == p // m + c
    assert (m * p + c) // m == p + c // m
    assert (p + c * m) % m == p % m
