"""Python expressions of generated code as values, not text.

An `Expr` holds the pieces of one expression: fixed Python text, and holes, the compile-time
symbols (`out`, `x__1`, `c__2`) whose Python spelling is only decided when the class is written
(a constructor argument, `self.out`, a size read from the input in forward).  Alongside it
carries the facts that code generation decides by: how tightly it binds (`prec`: whether it
needs brackets as an operand) and the local names of `__init__` it reads (`refs`: whether a
value computed in `__init__` is still needed).  Holes are filled by `bind`, over the pieces;
nothing ever reads generated text back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from nndsl import dims
from nndsl.dims import Sym


class Prec(IntEnum):
    """How loosely an expression binds, loosest first (Python's operator precedence, with the
    arithmetic operators as one level)."""

    OR = 1  # also `a if c else b`
    AND = 2
    NOT = 3
    CMP = 4
    ARITH = 5
    ATOM = 6  # a name, number, call, subscript, display or bracketed expression


Piece = str | Sym  # a Sym piece is a hole: a size expression over symbols, spelt by `bind`


@dataclass(frozen=True, slots=True)
class Expr:
    pieces: tuple[Piece, ...]
    prec: Prec = Prec.ATOM
    refs: frozenset[str] = frozenset()  # the local names of `__init__` it reads

    # ---- making ---------------------------------------------------------------------------

    @staticmethod
    def code(text: str, prec: Prec = Prec.ATOM) -> Expr:
        """Fixed Python text (`self.out`, `2`, `x.device`)."""
        return Expr((text,), prec)

    @staticmethod
    def local(name: str) -> Expr:
        """A local name of `__init__` (a constructor argument, a computed value)."""
        return Expr((name,), Prec.ATOM, frozenset({name}))

    @staticmethod
    def dim(d: Sym | int) -> Expr:
        """A size: one hole per symbol it reads (`(h + 1) // 2`)."""
        if isinstance(d, int):
            return Expr.code(str(d), Prec.ARITH if d < 0 else Prec.ATOM)
        return Expr((d,), Prec.ATOM if _lone_symbol(d) is not None else Prec.ARITH)

    @staticmethod
    def join(parts: Iterable[str | Expr], prec: Prec = Prec.ATOM) -> Expr:
        """The concatenation of fixed text and expressions, which bind as `prec`."""
        pieces: list[Piece] = []
        refs: set[str] = set()
        for p in parts:
            if isinstance(p, Expr):
                refs |= p.refs
                for q in p.pieces:
                    _append(pieces, q)
            else:
                _append(pieces, p)
        return Expr(tuple(pieces), prec, frozenset(refs))

    def operand(self, min_prec: Prec = Prec.ATOM) -> Expr:
        """This expression where an operator binding as `min_prec` takes it: bracketed if it
        binds more loosely."""
        return self if self.prec >= min_prec else self.bracketed()

    def bracketed(self) -> Expr:
        """`(expr)`."""
        return Expr.join(["(", self, ")"])

    # ---- facts ----------------------------------------------------------------------------

    @property
    def symbols(self) -> frozenset[str]:
        """The symbols of its holes."""
        out: set[str] = set()
        for p in self.pieces:
            if isinstance(p, Sym):
                out |= dims.free_symbols(p)
        return frozenset(out)

    @property
    def text(self) -> str:
        """Its Python source; every hole must have been bound."""
        if any(isinstance(p, Sym) for p in self.pieces):
            raise ValueError(f"unbound symbols {sorted(self.symbols)} in generated code")
        return "".join(str(p) for p in self.pieces)

    def raw(self) -> str:
        """Its source with each symbol spelt by its own name (for messages and keys)."""
        return self.bind(lambda s: Expr.code(s)).text

    # ---- binding --------------------------------------------------------------------------

    def bind(self, spell: Callable[[str], Expr]) -> Expr:
        """Every hole filled: each symbol spelt by `spell(symbol)`, bracketed where the size
        expression around it needs that."""
        if len(self.pieces) == 1 and isinstance(self.pieces[0], Sym):
            lone = _lone_symbol(self.pieces[0])
            if lone is not None:  # the whole expression is one symbol: it is its spelling
                return spell(lone)
        pieces: list[Piece] = []
        refs = set(self.refs)
        for p in self.pieces:
            if not isinstance(p, Sym):
                _append(pieces, p)
                continue
            spelt = {s: spell(s).operand() for s in sorted(dims.free_symbols(p))}
            for e in spelt.values():
                refs |= e.refs
            lone = _lone_symbol(p)
            if lone is not None:
                for q in spelt[lone].pieces:
                    _append(pieces, q)
            else:
                texts = {s: e.text for s, e in spelt.items()}
                _append(pieces, dims.to_python(p, texts, operands=True))
        return Expr(tuple(pieces), self.prec, frozenset(refs))


def _lone_symbol(d: Sym) -> str | None:
    """The symbol `d` is, when it is one symbol alone."""
    free = dims.free_symbols(d)
    if len(free) == 1:
        (name,) = free
        if dims.sym(name) == d:
            return name
    return None


def _append(pieces: list[Piece], p: Piece) -> None:
    if isinstance(p, str) and pieces and isinstance(pieces[-1], str):
        pieces[-1] += p
    elif p != "":
        pieces.append(p)
