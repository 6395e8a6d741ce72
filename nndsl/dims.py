"""Symbolic dimension algebra for static shape inference.

A dimension (`Dim`) is either a plain `int` or a `Sym`: a polynomial with integer coefficients
over *atoms*, where an atom is a symbol name (`"H"`), a `FloorDiv(numerator, k)` or a
`Mod(numerator, k)` that could not be simplified further.  Every operation canonicalises its
result, so two expressions that the rules below can prove equal are equal *and* hash alike;
shape inference can therefore compare and memoise dimensions with `==` and dicts.  Whenever a
result is a constant it is returned as a plain `int`, never as a `Sym`.

Why a polynomial normal form rather than an expression tree: the shapes met in networks are
sums, products and floor divisions of a few symbols (`(H + 2*p - k)//s + 1`), and collecting
like terms is what makes `H + 2 - 2 == H` or `(H - 1)//2 + 1 == (H + 1)//2` true structurally.

Floor-division rules (k > 0, all atoms integer-valued):
  * p = k*q + r, where q takes every term whose coefficient k divides and the constant is reduced
    mod k, gives p//k = q + r//k; if r is then a constant in [0, k) the division is exact;
  * if g = gcd(coefficients of r, k) > 1, r//k = (r/g)//(k/g) (the constant floored by g);
  * (a//m + rest)//n = (a + m*rest)//(m*n) when a//m is the only floor-division term of r.
So a FloorDiv atom always has a numerator constant in [0, k).  Printing folds a trailing
constant back into a lone floor-division term, so `(H - 3)//2 + 1` prints as `(H - 1)//2`.

Division by a `Sym` (`//`, `%`) raises `DimError` (no opaque atoms: a shape that depends on
such a quotient is better reported than silently carried).  Term order is grlex, i.e. degree
descending and then atoms by name, so it depends neither on hash seeds nor on insertion order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from nndsl.records import dataclass

__all__ = [
    "Dim",
    "DimError",
    "FloorDiv",
    "Mod",
    "Sym",
    "differ",
    "equal",
    "evaluate",
    "exact_div",
    "floordiv",
    "format_dim",
    "format_shape",
    "free_symbols",
    "is_const",
    "mod",
    "opaque_symbol",
    "substitute",
    "sym",
    "to_python",
]


class DimError(ValueError):
    """A dimension operation that cannot be carried out (bad operand, inexact division, ...)."""


@dataclass(frozen=True, slots=True)
class FloorDiv:
    """The atom `num // k`: `num` is a non-constant Sym, `k >= 2`, num's constant in [0, k)."""

    num: Sym
    k: int


@dataclass(frozen=True, slots=True)
class Mod:
    """The atom `num % k`: `num` is a non-constant Sym with coefficients in [0, k), `k >= 2`."""

    num: Sym
    k: int


Atom = str | FloorDiv | Mod
Mono = tuple[tuple[Atom, int], ...]  # (atom, exponent >= 1), sorted by _atom_key
Terms = tuple[tuple[Mono, int], ...]  # (monomial, nonzero coefficient), sorted by _mono_key


@dataclass(frozen=True, slots=True, repr=False)
class Sym:
    """A non-constant symbolic dimension in canonical form; build with `sym()` and operators.

    `==` and `hash` are structural on the canonical form: `a == b` means provably equal, while
    `a != b` only means "not proved equal" (use `equal()` for the three-valued answer).
    """

    terms: Terms

    def __repr__(self) -> str:
        return f"Sym({_raw_text(self)!r})"

    def __str__(self) -> str:
        return format_dim(self)

    def __add__(self, other: object) -> Dim:
        return _add(self, other) if _operand(other) else NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> Dim:
        return _add(self, _scale(other, -1)) if _operand(other) else NotImplemented

    def __rsub__(self, other: object) -> Dim:
        return _add(other, _scale(self, -1)) if _operand(other) else NotImplemented

    def __mul__(self, other: object) -> Dim:
        return _mul(self, other) if _operand(other) else NotImplemented

    __rmul__ = __mul__

    def __neg__(self) -> Dim:
        return _scale(self, -1)

    def __pos__(self) -> Sym:
        return self

    def __pow__(self, n: object) -> Dim:
        if not _operand(n) or not isinstance(n, int) or n < 0:
            raise DimError(f"the exponent of {format_dim(self)} must be a non-negative int")
        out: Dim = 1
        for _ in range(n):
            out = _mul(out, self)
        return out

    def __floordiv__(self, other: object) -> Dim:
        return floordiv(self, other) if _operand(other) else NotImplemented

    def __rfloordiv__(self, other: object) -> Dim:
        return floordiv(other, self) if _operand(other) else NotImplemented

    def __mod__(self, other: object) -> Dim:
        return mod(self, other) if _operand(other) else NotImplemented

    def __rmod__(self, other: object) -> Dim:
        return mod(other, self) if _operand(other) else NotImplemented

    def __truediv__(self, other: object) -> Dim:
        return exact_div(self, other) if _operand(other) else NotImplemented

    def __rtruediv__(self, other: object) -> Dim:
        return exact_div(other, self) if _operand(other) else NotImplemented


Dim = int | Sym


def _operand(x: object) -> bool:
    """True for an int or Sym; bools are refused loudly since `True` as a size is a bug."""
    if isinstance(x, bool):
        raise DimError(f"a dimension must be an int or a symbol, not the bool {x}")
    return isinstance(x, (int, Sym))


def _check(x: object) -> Dim:
    if not _operand(x):
        raise DimError(f"a dimension must be an int or a symbol, not {type(x).__name__} {x!r}")
    return x  # type: ignore[return-value]


# --- ordering -------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _atom_key(a: Atom) -> tuple:
    """A total order on atoms: by leading symbol name, then names before // before %."""
    if isinstance(a, str):
        return (a, 0, a, (), 0)
    return (
        min(free_symbols(a.num)),
        1 if isinstance(a, FloorDiv) else 2,
        "",
        _poly_key(a.num),
        a.k,
    )


def _mono_key(m: Mono) -> tuple:
    """Graded lex: higher degree first, then the monomial richer in the smallest atom."""
    return (-sum(e for _, e in m), tuple((_atom_key(a), -e) for a, e in m))


def _poly_key(s: Sym) -> tuple:
    return tuple((_mono_key(m), c) for m, c in s.terms)


# --- polynomial core ------------------------------------------------------------------------


def _terms(d: Dim) -> dict[Mono, int]:
    if isinstance(d, Sym):
        return dict(d.terms)
    return {(): d} if d else {}


def _make(terms: Mapping[Mono, int]) -> Dim:
    """The canonical Dim of a term map: zero coefficients dropped, constants as plain ints."""
    items = [(m, c) for m, c in terms.items() if c]
    if all(not m for m, _ in items):
        return items[0][1] if items else 0
    return Sym(tuple(sorted(items, key=lambda mc: _mono_key(mc[0]))))


def _mono_mul(a: Mono, b: Mono) -> Mono:
    exps: dict[Atom, int] = dict(a)
    for atom, e in b:
        exps[atom] = exps.get(atom, 0) + e
    return tuple(sorted(exps.items(), key=lambda ae: _atom_key(ae[0])))


def _atom(a: Atom) -> Sym:
    return Sym(((((a, 1),), 1),))


def _add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    out = _terms(a)
    for m, c in _terms(b).items():
        out[m] = out.get(m, 0) + c
    return _make(out)


def _scale(a: Dim, k: int) -> Dim:
    if isinstance(a, int):
        return a * k
    return _make({m: c * k for m, c in a.terms})


def _mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int):
        return _scale(b, a)
    if isinstance(b, int):
        return _scale(a, b)
    out: dict[Mono, int] = {}
    for ma, ca in a.terms:
        for mb, cb in b.terms:
            m = _mono_mul(ma, mb)
            out[m] = out.get(m, 0) + ca * cb
    return _make(out)


def _split_const(d: Dim) -> tuple[dict[Mono, int], int]:
    terms = _terms(d)
    return terms, terms.pop((), 0)


def _has_floordiv(m: Mono) -> bool:
    return any(isinstance(a, FloorDiv) for a, _ in m)


# --- public API -----------------------------------------------------------------------------


def sym(name: str) -> Sym:
    """The symbol `name` (an identifier such as `B`, `T` or a block parameter `out`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise DimError(f"a symbol name must be an identifier, not {name!r}")
    return _atom(name)


def is_const(d: Dim) -> bool:
    """True when `d` is a plain int (constants are never Syms)."""
    return isinstance(_check(d), int)


def free_symbols(d: Dim) -> frozenset[str]:
    """Every symbol name `d` depends on, inside floor divisions and mods too."""
    if isinstance(_check(d), int):
        return frozenset()
    names: set[str] = set()
    for m, _ in d.terms:  # type: ignore[union-attr]
        for a, _e in m:
            names |= {a} if isinstance(a, str) else free_symbols(a.num)
    return frozenset(names)


def opaque_symbol(op: str, a: Dim, b: Dim) -> Sym:
    """An opaque symbol (named `_<hash>`, printed as `?` by `format_dim`) for `a <op> b`.

    `floordiv`, `mod` and `exact_div` give one, instead of raising, when called with
    `opaque=True` and a divisor that is a symbol: the code generator evaluates blocks with
    symbolic strides and groups, where only the channel sizes matter.  The mode is an argument,
    never a global: the checker's arithmetic is always strict."""
    return _opaque(op, a, b)


def _opaque(op: str, a: Dim, b: Dim, mode: object = None) -> Sym:
    import hashlib  # here, not at the top: most runs never need it (and it costs at start-up)

    digest = hashlib.sha1(f"{op}|{_raw_text(a)}|{_raw_text(b)}".encode()).hexdigest()[:10]
    name = f"_{digest}"
    record = getattr(mode, "record", None)
    if record is not None:  # the code generator's mode notes what the symbol stands for
        record(name, op, a, b)
    return sym(name)


def is_opaque_symbol(name: str) -> bool:
    return name.startswith("_")


def floordiv(a: Dim, b: Dim, *, opaque: bool = False) -> Dim:
    """`a // b` with Python's rounding; a Sym may be divided only by a positive int (with
    `opaque`, a division by a Sym gives an opaque symbol)."""
    a, b = _check(a), _check(b)
    if isinstance(b, Sym) and opaque:
        return _opaque("//", a, b, opaque)
    if isinstance(b, Sym):
        raise DimError(f"cannot divide {format_dim(a)} by the symbolic {format_dim(b)}")
    if isinstance(a, int):
        if b == 0:
            raise DimError(f"division of {a} by zero")
        return a // b
    if b <= 0:
        raise DimError(f"cannot floor-divide {format_dim(a)} by {b}: the divisor must be positive")
    if b == 1:
        return a
    terms, const = _split_const(a)
    q: dict[Mono, int] = {(): const // b}
    r: dict[Mono, int] = {}
    for m, c in terms.items():
        if c % b == 0:
            q[m] = c // b
        else:
            r[m] = c
    rc = const % b
    if not r:  # what is left is a constant in [0, b): exactly divisible
        return _make(q)
    g = math.gcd(b, *r.values())
    if g > 1:
        r, rc, b = {m: c // g for m, c in r.items()}, rc // g, b // g
    fd = [m for m in r if _has_floordiv(m)]
    if len(fd) == 1 and len(fd[0]) == 1 and fd[0][0][1] == 1 and r[fd[0]] == 1:
        inner = fd[0][0][0]
        assert isinstance(inner, FloorDiv)
        del r[fd[0]]
        rest = _add(_make(r), rc)
        return _add(_make(q), floordiv(_add(inner.num, _scale(rest, inner.k)), inner.k * b))
    r[()] = rc
    return _add(_make(q), _atom(FloorDiv(_make(r), b)))  # type: ignore[arg-type]


def mod(a: Dim, b: Dim, *, opaque: bool = False) -> Dim:
    """`a % b` with Python's sign rule; a Sym may be reduced only modulo a positive int (with
    `opaque`, modulo a Sym gives an opaque symbol)."""
    a, b = _check(a), _check(b)
    if isinstance(b, Sym) and opaque:
        return _opaque("%", a, b, opaque)
    if isinstance(b, Sym):
        raise DimError(f"cannot reduce {format_dim(a)} modulo the symbolic {format_dim(b)}")
    if isinstance(a, int):
        if b == 0:
            raise DimError(f"{a} modulo zero")
        return a % b
    if b <= 0:
        raise DimError(f"cannot reduce {format_dim(a)} modulo {b}: the modulus must be positive")
    red = _make({m: c % b for m, c in a.terms})  # integer-valued terms: same residue
    if isinstance(red, int):
        return red % b
    g = math.gcd(b, *(c for _, c in red.terms))  # (g*p) % (g*n) == g * (p % n)
    p = red if g == 1 else _make({m: c // g for m, c in red.terms})
    n = b // g  # >= 2: red has a coefficient in (0, b), which g divides but b does not
    assert isinstance(p, Sym)
    (m0, c0), *more = p.terms
    if not more and c0 == 1 and len(m0) == 1 and m0[0][1] == 1 and isinstance(m0[0][0], Mod):
        inner = m0[0][0]
        if inner.k % n == 0:
            return _scale(mod(inner.num, n), g)
        if inner.k <= n:
            return _scale(p, g)
    return _scale(_atom(Mod(p, n)), g)


def exact_div(a: Dim, b: Dim, *, opaque: bool = False) -> Dim:
    """`a / b` when the quotient is provably exact (`(4*H)/2 -> 2*H`), else DimError.

    Division by a Sym uses polynomial long division in graded-lex order, which recovers the
    quotient whenever b divides a as polynomials (`(B*T)/T -> B`); the result is re-checked.
    With `opaque`, a quotient of symbols that is not provably exact is an opaque symbol.
    """
    a, b = _check(a), _check(b)
    if b == 0:
        raise DimError(f"division of {format_dim(a)} by zero")
    if opaque and (isinstance(a, Sym) or isinstance(b, Sym)):
        try:
            return _exact_div(a, b)
        except DimError:
            return _opaque("/", a, b, opaque)
    return _exact_div(a, b)


def _exact_div(a: Dim, b: Dim) -> Dim:
    if isinstance(b, int):
        terms = _terms(a)
        if all(c % b == 0 for c in terms.values()):
            return _make({m: c // b for m, c in terms.items()})
        raise DimError(f"{format_dim(a)} is not divisible by {b}")
    (lead_m, lead_c), rem, quot = b.terms[0], a, 0
    for _ in range(10_000):
        if rem == 0:
            break
        rm, rc = rem.terms[0] if isinstance(rem, Sym) else ((), rem)
        qm = _mono_quot(rm, lead_m)
        if qm is None or rc % lead_c:
            break
        t = _make({qm: rc // lead_c})
        quot, rem = _add(quot, t), _add(rem, _scale(_mul(t, b), -1))
    if rem != 0:  # rem == a - quot*b throughout, so rem == 0 proves the quotient
        raise DimError(f"{format_dim(a)} is not provably divisible by {format_dim(b)}")
    return quot


def _mono_quot(m: Mono, d: Mono) -> Mono | None:
    exps = dict(m)
    for atom, e in d:
        if exps.get(atom, 0) < e:
            return None
        exps[atom] -= e
    return tuple(sorted(((a, e) for a, e in exps.items() if e), key=lambda ae: _atom_key(ae[0])))


def evaluate(d: Dim, env: Mapping[str, int]) -> int:
    """The value of `d` with every symbol bound by `env`; DimError names a missing symbol."""
    if isinstance(_check(d), int):
        return d  # type: ignore[return-value]
    total = 0
    for m, c in d.terms:  # type: ignore[union-attr]
        v = c
        for a, e in m:
            v *= _eval_atom(a, env) ** e
        total += v
    return total


def _eval_atom(a: Atom, env: Mapping[str, int]) -> int:
    if isinstance(a, FloorDiv):
        return evaluate(a.num, env) // a.k
    if isinstance(a, Mod):
        return evaluate(a.num, env) % a.k
    if a not in env:
        raise DimError(f"no value for the symbol {a}")
    v = env[a]
    if isinstance(v, bool) or not isinstance(v, int):
        raise DimError(f"the value of {a} must be an int, not {v!r}")
    return v


def substitute(d: Dim, env: Mapping[str, Dim]) -> Dim:
    """`d` with symbols replaced by ints or Syms from `env` (others kept), re-canonicalised."""
    if isinstance(_check(d), int):
        return d
    total: Dim = 0
    for m, c in d.terms:  # type: ignore[union-attr]
        v: Dim = c
        for a, e in m:
            if isinstance(a, FloorDiv):
                x = floordiv(substitute(a.num, env), a.k)
            elif isinstance(a, Mod):
                x = mod(substitute(a.num, env), a.k)
            else:
                x = _check(env[a]) if a in env else _atom(a)
            for _ in range(e):
                v = _mul(v, x)
        total = _add(total, v)
    return total


def equal(a: Dim, b: Dim) -> bool | None:
    """True if provably equal, False if provably different (constant difference), else None."""
    diff = _add(_check(a), _scale(_check(b), -1))
    return diff == 0 if isinstance(diff, int) else None


def differ(a: Dim, b: Dim) -> bool:
    """True if `a` and `b` differ whatever their symbols' values, each symbol being a size (at
    least 1): `a - b` is a nonzero constant, or a polynomial over plain symbols whose terms all
    have the same sign (`10*B - 7*B = 3*B`).  False when they may be equal (`10*B` and `B*T`)."""
    diff = _add(_check(a), _scale(_check(b), -1))
    if isinstance(diff, int):
        return diff != 0
    for m, _ in diff.terms:
        if any(not isinstance(atom, str) or is_opaque_symbol(atom) for atom, _ in m):
            return False  # a floor division or mod may be 0
    return len({c > 0 for _, c in diff.terms}) == 1


# --- printing -------------------------------------------------------------------------------

_SIMPLE = r"[A-Za-z_][\w.]*(\[[^\[\]]*\])*"  # (compiled on first use, not at every start)


class _Printer:
    """The layout shared by `format_dim` (compact `H//2`) and `to_python` (spaced `h // 2`).

    `+` and `-` are always spaced; a floor division or mod is parenthesised unless it is a whole
    term on its own, so the text means the same under Python's operator precedence.
    """

    def __init__(
        self,
        spaced: bool,
        names: Mapping[str, str] | None = None,
        opaque: str | None = None,
        operands: bool = False,
    ):
        self.spaced = spaced
        self.names = names
        self.operands = operands  # the texts of `names` are operands already (bracketed)
        self.opaque = opaque  # how an opaque symbol prints (None: its own name)

    def op(self, o: str) -> str:
        return f" {o} " if self.spaced else o

    def name(self, a: str) -> str:
        if self.opaque is not None and is_opaque_symbol(a):
            return self.opaque
        if self.names is None or a not in self.names:
            return a
        text = self.names[a]
        return text if self.operands or re.fullmatch(_SIMPLE, text) else f"({text})"

    def div(self, num: Dim, op: str, k: int) -> str:
        text = self.poly(num)
        lone = isinstance(num, Sym) and len(num.terms) == 1 and num.terms[0][1] == 1
        lone = lone and len(num.terms[0][0]) == 1 and num.terms[0][0][0][1] == 1  # type: ignore[union-attr]
        if not (lone and isinstance(num.terms[0][0][0][0], str)):  # type: ignore[union-attr]
            text = f"({text})"
        return f"{text}{self.op(op)}{k}"

    def mono(self, m: Mono, coeff: int) -> tuple[str, bool]:
        """A monomial with a positive coefficient, and whether it is a bare `//` or `%`."""
        bare = coeff == 1 and len(m) == 1 and m[0][1] == 1
        parts = [] if coeff == 1 else [str(coeff)]
        for a, e in m:
            if isinstance(a, str):
                s = self.name(a)
            else:
                s = self.div(a.num, "//" if isinstance(a, FloorDiv) else "%", a.k)
                s = s if bare else f"({s})"
            if self.spaced and e <= 4:
                # Python source: `ws * ws`, an int in TorchScript too (where `ws ** 2` is float)
                parts.extend([s] * e)
            else:
                parts.append(s if e == 1 else f"{s}{self.op('**')}{e}")
        return self.op("*").join(parts), bare and not isinstance(m[0][0], str)

    def poly(self, d: Dim) -> str:
        """A sum led by a positive term when there is one (`3 - H`); the constant goes last or
        into the first lone `//` term (`(H + 1)//2 - 1` reads `(H - 1)//2`)."""
        if isinstance(d, int):
            return str(d)
        const = dict(d.terms).get((), 0)
        texts: list[tuple[bool, str, bool]] = []  # (negative, text, bare division)
        for m, c in d.terms:
            if not m:
                continue
            a = m[0][0]
            if const and c == 1 and len(m) == 1 and m[0][1] == 1 and isinstance(a, FloorDiv):
                texts.append((False, self.div(_add(a.num, const * a.k), "//", a.k), True))
                const = 0
            else:
                text, bare = self.mono(m, abs(c))
                texts.append((c < 0, text, bare))
        if const:
            texts.append((const < 0, str(abs(const)), False))
        if texts[0][0]:
            first_pos = next((i for i, t in enumerate(texts) if not t[0]), None)
            if first_pos is not None:
                texts.insert(0, texts.pop(first_pos))
        neg, head, bare = texts[0]
        out = [(f"-({head})" if bare else f"-{head}") if neg else head]
        out += [f" {'-' if neg else '+'} {text}" for neg, text, _ in texts[1:]]
        return "".join(out)


def format_dim(d: Dim) -> str:
    """Readable text for diagnostics: `H`, `2*C`, `3 - H`, `(H + 1)//2`, `64*(H//4)`, `5`.

    It is also valid Python with the same value, which the tests rely on, but for a size nndsl
    cannot know statically (an opaque symbol), which prints as `?`.
    """
    return _Printer(spaced=False, opaque="?").poly(_check(d))


def _raw_text(d: Dim) -> str:
    """`format_dim` with opaque symbols by their own names: a key, never shown to a user."""
    return _Printer(spaced=False).poly(_check(d))


def format_shape(dims: Iterable[Dim]) -> str:
    """`[B, 64, H//2, W//2]`."""
    return "[" + ", ".join(format_dim(d) for d in dims) + "]"


def to_python(d: Dim, names: Mapping[str, str] | None = None, *, operands: bool = False) -> str:
    """Python source computing `d` (`(h + 1) // 2`), each symbol replaced by `names[symbol]`
    (default: the symbol itself); non-trivial replacement texts are parenthesised, unless
    `operands` says the caller has bracketed them where needed (it knows their precedence)."""
    return _Printer(spaced=True, names=names, operands=operands).poly(_check(d))
