"""`dataclass` without the cost of `dataclasses` at import: the checker's records.

`dataclasses.dataclass` writes the source of every generated method (`__init__`, `__repr__`,
`__eq__`, `__hash__`, the frozen `__setattr__`, ...) and compiles it when the class is created:
0.5 to 1 ms per class, on every start of `nndsl check`, for ~50 classes (and importing
`dataclasses` imports `inspect`, `ast`, `dis` and `tokenize`).  This module's `dataclass` makes
the same methods from the same kind of source, but the compiled code comes from
`nndsl/_records_gen.py`, which `tools/gen_records.py` writes for every class declared with it
(so it is in the bytecode cache like any module).  A class whose shape is not in that file
(edited since it was generated) gets its methods compiled on the spot, as `dataclasses` does:
never wrong, only slower.  tests/test_records.py checks that the file is current and that a
record behaves as the dataclass it replaces.

Supported: the `dataclass` parameters `init`, `repr`, `eq`, `frozen`, `slots` and `kw_only`, and
`field(default=..., default_factory=..., init=, repr=, hash=, compare=, kw_only=)`, base classes
declared with this module, `__post_init__`.  Anything else (`order`, `unsafe_hash`, `ClassVar`
or `InitVar` annotations, a real dataclass as a base) is handed to `dataclasses.dataclass`.

`dataclasses.is_dataclass`, `fields`, `replace` and `asdict` keep working on records: their
`__dataclass_fields__` and `__dataclass_params__` are built (importing `dataclasses`) the first
time something asks for them.  `replace` and `fields` here do the same without that import.
"""

from __future__ import annotations

from _thread import get_ident
from typing import Any

__all__ = ["MISSING", "Field", "dataclass", "field", "fields", "replace"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_FACTORY: Any = type("_HAS_DEFAULT_FACTORY_CLASS", (), {"__repr__": lambda self: "<factory>"})()
_set = object.__setattr__
_RESERVED = ("_holder", "_set", "_FACTORY", "_frozen_error")

# key (the class's shape) -> what `factory_source` needs, for every record created in this
# process: tools/gen_records.py writes their factories into nndsl/_records_gen.py
SEEN: dict[str, tuple[Any, ...]] = {}


class Field:
    """What `field()` returns and what a record's `__record_fields__` lists."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare")
    __slots__ += ("kw_only",)

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        init: bool = True,
        repr: bool = True,
        hash: bool | None = None,
        compare: bool = True,
        kw_only: Any = MISSING,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name: str = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.kw_only = kw_only

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    init: bool = True,
    repr: bool = True,
    hash: bool | None = None,
    compare: bool = True,
    kw_only: Any = MISSING,
) -> Any:
    """As `dataclasses.field` (without `metadata`)."""
    return Field(default, default_factory, init, repr, hash, compare, kw_only)


def dataclass(
    cls: type | None = None,
    /,
    *,
    init: bool = True,
    repr: bool = True,
    eq: bool = True,
    order: bool = False,
    unsafe_hash: bool = False,
    frozen: bool = False,
    slots: bool = False,
    kw_only: bool = False,
) -> Any:
    """As `dataclasses.dataclass`, with precompiled methods (see the module's docstring)."""
    params = dict(init=init, repr=repr, eq=eq, frozen=frozen, slots=slots, kw_only=kw_only)
    if order or unsafe_hash:
        params.update(order=order, unsafe_hash=unsafe_hash)

    def wrap(c: type) -> type:
        return _process(c, params)

    return wrap if cls is None else wrap(cls)


# --------------------------------------------------------------------------------------------


def _real_dataclass(cls: type, params: dict) -> type:
    import dataclasses

    for name, value in list(cls.__dict__.items()):
        if isinstance(value, Field):
            setattr(cls, name, _real_field(dataclasses, value))
    return dataclasses.dataclass(cls, **params)


def _real_field(dataclasses: Any, f: Field) -> Any:
    """The `dataclasses.Field` that `f` stands for."""

    def real(value: Any) -> Any:
        return dataclasses.MISSING if value is MISSING else value

    return dataclasses.field(
        default=real(f.default),
        default_factory=real(f.default_factory),
        init=f.init,
        repr=f.repr,
        hash=f.hash,
        compare=f.compare,
        kw_only=real(f.kw_only),
    )


def _own_fields(cls: type, kw_only: bool) -> list[Field] | None:
    """The fields the class body declares, or None if it needs `dataclasses` itself."""
    out = []
    for name, ann in cls.__dict__.get("__annotations__", {}).items():
        text = ann if isinstance(ann, str) else getattr(ann, "__name__", repr(ann))
        if "ClassVar" in text or "InitVar" in text or "KW_ONLY" in text:
            return None
        if name == "self" or name.startswith(("_d_", "_f_")) or name in _RESERVED:
            return None  # would collide with the generated methods' own names
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, ann
        if f.kw_only is MISSING:
            f.kw_only = kw_only
        out.append(f)
    return out


def _process(cls: type, params: dict) -> type:
    if "order" in params or "__setattr__" in cls.__dict__ and params["frozen"]:
        return _real_dataclass(cls, params)
    all_fields: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        if "__record_fields__" in base.__dict__:
            for f in base.__dict__["__record_fields__"]:
                all_fields[f.name] = f
        elif "__dataclass_fields__" in base.__dict__:
            return _real_dataclass(cls, params)
    own = _own_fields(cls, params["kw_only"])
    if own is None:
        return _real_dataclass(cls, params)
    for f in own:
        all_fields[f.name] = f
    flist = tuple(all_fields.values())
    d = cls.__dict__
    frozen, eq = params["frozen"], params["eq"]
    methods = []
    if params["init"] and "__init__" not in d:
        methods.append("init")
    if params["repr"] and "__repr__" not in d:
        methods.append("repr")
    if eq and "__eq__" not in d:
        methods.append("eq")
    class_hash = d.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in d))
    hash_action = ""
    if eq and frozen and not explicit_hash:
        hash_action = "hash"
        methods.append("hash")
    elif eq and not frozen and not explicit_hash:
        hash_action = "none"
    if frozen:
        methods.append("frozen")
    post_init = hasattr(cls, "__post_init__")
    key = _key(flist, frozen, post_init, methods)
    make = _factory(key, flist, frozen, post_init, methods)
    args: list[Any] = [_set, _FACTORY, _frozen_error]
    for f in flist:
        if f.default is not MISSING:
            args.append(f.default)
        elif f.default_factory is not MISSING:
            args.append(f.default_factory)
    holder: list[type] = []
    made = make(holder, *args)

    if params["slots"]:
        cls_dict = dict(d)
        inherited = set()
        for base in cls.__mro__[1:-1]:
            s = base.__dict__.get("__slots__", ())
            inherited.update((s,) if isinstance(s, str) else s)
        cls_dict["__slots__"] = tuple(f.name for f in flist if f.name not in inherited)
        for f in flist:
            cls_dict.pop(f.name, None)
        cls_dict.pop("__dict__", None)
        cls_dict.pop("__weakref__", None)
        qualname = cls.__qualname__
        cls = type(cls)(cls.__name__, cls.__bases__, cls_dict)
        cls.__qualname__ = qualname
        if frozen:
            if "__getstate__" not in cls_dict:
                cls.__getstate__ = _getstate  # type: ignore[attr-defined]
            if "__setstate__" not in cls_dict:
                cls.__setstate__ = _setstate  # type: ignore[attr-defined]
    else:
        for f in own:
            if isinstance(d.get(f.name), Field):
                if f.default is MISSING:
                    delattr(cls, f.name)
                else:
                    setattr(cls, f.name, f.default)
    holder.append(cls)
    for name, fn in made.items():
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        if name == "__repr__":
            fn = _recursive_repr(fn)
        setattr(cls, name, fn)
    if hash_action == "none":
        cls.__hash__ = None  # type: ignore[assignment]
    if "__match_args__" not in d:
        cls.__match_args__ = tuple(f.name for f in flist if f.init and not f.kw_only)
    cls.__record_fields__ = flist  # type: ignore[attr-defined]
    cls.__record_params__ = params  # type: ignore[attr-defined]
    cls.__dataclass_fields__ = _LAZY_FIELDS  # type: ignore[attr-defined]
    cls.__dataclass_params__ = _LAZY_PARAMS  # type: ignore[attr-defined]
    return cls


def _key(flist: tuple[Field, ...], frozen: bool, post_init: bool, methods: list[str]) -> str:
    parts = [",".join(methods), "frozen" if frozen else "", "post" if post_init else ""]
    for f in flist:
        kind = "f" if f.default_factory is not MISSING else "d" if f.default is not MISSING else ""
        flags = (f.init, f.repr, f.compare, f.kw_only, f.hash)
        parts.append(f.name + ":" + kind + ":" + "".join("1" if x else "0" for x in flags[:4]))
        if f.hash is not None:
            parts[-1] += ":h" + ("1" if f.hash else "0")
    return "|".join(parts)


def _factory(key: str, flist, frozen: bool, post_init: bool, methods: list[str]):
    try:
        from nndsl._records_gen import FACTORIES
    except ImportError:  # while tools/gen_records.py writes it
        FACTORIES = {}
    SEEN[key] = (flist, frozen, post_init, methods)
    make = FACTORIES.get(key)
    if make is None:
        ns: dict[str, Any] = {}
        source = factory_source(flist, frozen, post_init, methods)
        exec(compile(source, f"<record {key}>", "exec"), ns)
        make = ns["make"]
    return make


def factory_source(flist, frozen: bool, post_init: bool, methods: list[str]) -> str:
    """Source of `make(_holder, _set, _FACTORY, _frozen_error, <defaults>)`, which returns the
    record's methods (`_holder[0]` is the class, known once the methods exist)."""
    params = ["_holder", "_set", "_FACTORY", "_frozen_error"]
    for f in flist:
        if f.default is not MISSING:
            params.append(f"_d_{f.name}")
        elif f.default_factory is not MISSING:
            params.append(f"_f_{f.name}")
    lines = [f"def make({', '.join(params)}):", "    out = {}"]
    if "init" in methods:
        pos, kw = [], []
        for f in flist:
            if not f.init:
                continue
            arg = f.name
            if f.default is not MISSING:
                arg += f"=_d_{f.name}"
            elif f.default_factory is not MISSING:
                arg += "=_FACTORY"
            (kw if f.kw_only else pos).append(arg)
        sig = ["self", *pos] + (["*", *kw] if kw else [])
        lines.append(f"    def __init__({', '.join(sig)}):")
        body = []
        for f in flist:
            if f.init:
                value = f.name
                if f.default_factory is not MISSING:
                    value = f"_f_{f.name}() if {f.name} is _FACTORY else {f.name}"
            elif f.default_factory is not MISSING:
                value = f"_f_{f.name}()"
            elif f.default is not MISSING:
                value = f"_d_{f.name}"
            else:
                continue
            if frozen:
                body.append(f"_set(self, {f.name!r}, {value})")
            else:
                body.append(f"self.{f.name} = {value}")
        if post_init:
            body.append("self.__post_init__()")
        lines += [f"        {b}" for b in body or ["pass"]]
        lines.append("    out['__init__'] = __init__")
    if "repr" in methods:
        shown = ", ".join(f"{f.name}={{self.{f.name}!r}}" for f in flist if f.repr)
        lines.append("    def __repr__(self):")
        lines.append(f'        return self.__class__.__qualname__ + f"({shown})"')
        lines.append("    out['__repr__'] = __repr__")
    compared = [f.name for f in flist if f.compare]
    if "eq" in methods:
        mine = "".join(f"self.{n}," for n in compared)
        theirs = "".join(f"other.{n}," for n in compared)
        lines.append("    def __eq__(self, other):")
        lines.append("        if other.__class__ is self.__class__:")
        lines.append(f"            return ({mine}) == ({theirs})")
        lines.append("        return NotImplemented")
        lines.append("    out['__eq__'] = __eq__")
    if "hash" in methods:
        hashed = [f.name for f in flist if (f.compare if f.hash is None else f.hash)]
        lines.append("    def __hash__(self):")
        lines.append(f"        return hash(({''.join(f'self.{n},' for n in hashed)}))")
        lines.append("    out['__hash__'] = __hash__")
    if "frozen" in methods:
        names = repr(tuple(f.name for f in flist))
        for op, args, call in (
            ("set", "self, name, value", "__setattr__(name, value)"),
            ("del", "self, name", "__delattr__(name)"),
        ):
            verb = "assign to" if op == "set" else "delete"
            lines.append(f"    def __{op}attr__({args}):")
            lines.append(f"        if type(self) is _holder[0] or name in {names}:")
            lines.append(f'            raise _frozen_error()(f"cannot {verb} field {{name!r}}")')
            lines.append(f"        super(_holder[0], self).{call}")
            lines.append(f"    out['__{op}attr__'] = __{op}attr__")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def _frozen_error() -> type[Exception]:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in type(self).__record_fields__]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(type(self).__record_fields__, state):
        _set(self, f.name, value)


def _recursive_repr(fn: Any) -> Any:
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = id(self), get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            return fn(self)
        finally:
            running.discard(key)

    __repr__.__qualname__ = fn.__qualname__
    __repr__.__wrapped__ = fn  # type: ignore[attr-defined]
    return __repr__


class _LazyDataclassAttr:
    """`__dataclass_fields__` / `__dataclass_params__` of a record, made with `dataclasses`'s
    own classes on first access (and then stored on the class)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, owner: type) -> Any:
        import dataclasses

        for klass in owner.__mro__:
            if klass.__dict__.get(self.attr) is self:
                break
        else:  # pragma: no cover
            raise AttributeError(self.attr)
        if self.attr == "__dataclass_fields__":
            value: Any = {}
            for f in klass.__record_fields__:
                real = _real_field(dataclasses, f)
                real.name, real.type = f.name, f.type
                real._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
                value[f.name] = real
        else:
            p = klass.__record_params__
            known = dict(p, order=False, unsafe_hash=False, match_args=True, weakref_slot=False)
            names = dataclasses._DataclassParams.__init__.__code__.co_varnames  # type: ignore
            value = dataclasses._DataclassParams(  # type: ignore[attr-defined]
                **{k: v for k, v in known.items() if k in names}
            )
        type.__setattr__(klass, self.attr, value)
        return value


_LAZY_FIELDS = _LazyDataclassAttr("__dataclass_fields__")
_LAZY_PARAMS = _LazyDataclassAttr("__dataclass_params__")


def fields(obj: Any) -> tuple[Any, ...]:
    """As `dataclasses.fields`; for a record, its `Field`s (no `dataclasses` import)."""
    rec = getattr(obj, "__record_fields__", None)
    if rec is not None:
        return rec
    import dataclasses

    return dataclasses.fields(obj)


def replace(obj: Any, /, **changes: Any) -> Any:
    """As `dataclasses.replace`; for a record without importing `dataclasses`."""
    cls = type(obj)
    names = _REPLACE_NAMES.get(cls)
    if names is None:
        rec = getattr(cls, "__record_fields__", None)
        if rec is None:
            import dataclasses

            return dataclasses.replace(obj, **changes)
        names = _REPLACE_NAMES[cls] = (
            tuple(f.name for f in rec if f.init),
            frozenset(f.name for f in rec if not f.init),
            _plain_init(cls),
        )
    init, not_init, plain = names
    if plain and changes.keys() <= plain:
        # what the generated __init__ would do with these arguments: each field set in the
        # new instance's __dict__, in order (nothing else: see _plain_init)
        old = obj.__dict__
        try:
            # (the instance's own dict when it holds exactly the fields, in order)
            values = old.copy() if tuple(old) == init else {name: old[name] for name in init}
        except KeyError:  # (a field deleted from the instance: as below)
            pass
        else:
            values.update(changes)  # (fields already there: their order stays)
            new = object.__new__(cls)
            new.__dict__.update(values)
            return new
    if not_init:
        for name in changes:
            if name in not_init:
                raise ValueError(
                    f"field {name} is declared with init=False, it cannot be specified with "
                    "replace()"
                )
    for name in init:
        if name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)


def _plain_init(cls: type) -> frozenset[str] | None:
    """For `replace`: the names of the fields of a record class whose instances `replace` may
    make by filling a new instance's `__dict__`: a frozen class declared with this module (not
    only inheriting from one), with the generated `__init__`, which only sets each field in
    order with `object.__setattr__` (every field given to it, no `__post_init__`), instances
    with a `__dict__` (no slots) and `object.__new__`.  None for any other class."""
    d = cls.__dict__
    params = d.get("__record_params__")
    fields_ = d.get("__record_fields__")
    if params is None or fields_ is None or not params["frozen"] or params["slots"]:
        return None
    init = d.get("__init__")
    if (
        init is None
        or getattr(init, "__code__", None) is None
        or init.__code__.co_name != "__init__"
        or init.__qualname__ != f"{cls.__qualname__}.__init__"
        or not (
            init.__code__.co_filename.endswith("_records_gen.py")
            or init.__code__.co_filename.startswith("<record ")
        )
        or hasattr(cls, "__post_init__")
        or "__slots__" in d
        or cls.__new__ is not object.__new__
        or not all(f.init for f in fields_)
    ):
        return None
    return frozenset(f.name for f in fields_)


# a record class → the names of its fields given to __init__, of those that are not, and
# whether replace may fill a new instance's __dict__ (_plain_init)
_REPLACE_NAMES: dict[type, tuple[tuple[str, ...], frozenset[str], frozenset[str] | None]] = {}
