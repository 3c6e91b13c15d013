"""The one IR of the engine: `UOp(op, dtype, src, arg)`, immutable and interned.

Equal fields give the same object, so UOps compare and hash by identity. Python operators build ALU UOps;
`//` and `%` build IDIV and MOD, which truncate toward zero like C (not like Python).
Every integer-valued UOp has interval bounds `vmin`/`vmax` (sound: the value is always inside).
"""

from __future__ import annotations

import math
import weakref
from enum import IntEnum, auto
from typing import Any, Callable, Iterator

from engine.dtype import DType, dtypes, promote


class Ops(IntEnum):
    """Every operation of the IR, grouped; later work adds code, not ops."""

    # constants and variables
    CONST = auto()  # arg: the value
    VCONST = auto()  # arg: tuple of values (vector constant)
    DEFINE_VAR = auto()  # arg: (name, lo, hi), inclusive bounds
    BIND = auto()  # src: (DEFINE_VAR, value): a variable bound to a value at run time
    # unary ALU
    NEG = auto()
    RECIPROCAL = auto()
    SQRT = auto()
    EXP2 = auto()
    LOG2 = auto()
    SIN = auto()
    TRUNC = auto()
    # binary ALU
    ADD = auto()
    SUB = auto()
    MUL = auto()
    IDIV = auto()  # integer division, truncating toward zero
    MOD = auto()  # remainder with the sign of the dividend
    FDIV = auto()  # float division
    MAX = auto()
    MIN = auto()
    POW = auto()
    CMPLT = auto()
    CMPLE = auto()
    CMPNE = auto()
    CMPEQ = auto()
    AND = auto()
    OR = auto()
    XOR = auto()
    SHL = auto()
    SHR = auto()  # arithmetic shift right for signed, logical for unsigned
    # ternary ALU
    WHERE = auto()
    MULACC = auto()  # a*b+c (floats: rounded once, a fused multiply-add)
    # casts
    CAST = auto()
    BITCAST = auto()
    # movement ops (tensor level); arg: the new shape / order / padding / bounds / axes
    RESHAPE = auto()
    PERMUTE = auto()
    EXPAND = auto()
    PAD = auto()
    SHRINK = auto()
    FLIP = auto()
    # reduce
    REDUCE_AXIS = auto()  # tensor level; arg: (Ops.ADD|MUL|MAX, axes)
    REDUCE = auto()  # kernel level; src: (value, *ranges), arg: Ops.ADD|MUL|MAX
    # buffers and memory
    DEVICE = auto()  # arg: device name
    BUFFER = auto()  # src: (DEVICE,), arg: (id, size)
    BUFFER_VIEW = auto()
    COPY = auto()
    CONTIGUOUS = auto()
    ASSIGN = auto()
    DEFINE_GLOBAL = auto()  # kernel parameter; arg: position
    DEFINE_LOCAL = auto()  # shared memory; arg: name
    DEFINE_REG = auto()  # register (accumulator); arg: id
    INDEX = auto()  # src: (buffer, idx[, valid]) -> pointer
    LOAD = auto()  # src: (pointer[, alt]) -> value
    STORE = auto()  # src: (pointer, value)
    # control flow and launch
    RANGE = auto()  # src: (end,), arg: (axis id, kind); values 0..end-1
    END = auto()  # src: (store or value, *ranges): closes ranges
    IF = auto()
    ENDIF = auto()
    BARRIER = auto()
    SPECIAL = auto()  # launch index; src: (size,), arg: name like "gidx0"
    # vectors (upcast / unroll)
    VECTORIZE = auto()
    GEP = auto()  # arg: tuple of lane indices
    UNROLL = auto()
    CONTRACT = auto()
    # graph structure
    SINK = auto()
    KERNEL = auto()
    NOOP = auto()
    # tensor cores (engine/codegen/tc.py): src = (A fragment, B fragment, C fragment) of one lane, arg = (instruction,
    # input dtype name); dtype: float32.vec(4), that lane's D fragment (GEP picks one)
    WMMA = auto()

    def __repr__(self) -> str:
        return f"Ops.{self.name}"

    __str__ = __repr__


class GroupOp:
    """Sets of ops that rules and passes dispatch on."""

    Unary = frozenset({Ops.NEG, Ops.RECIPROCAL, Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC})
    Binary = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.FDIV, Ops.MAX, Ops.MIN, Ops.POW,
                        Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR, Ops.SHL, Ops.SHR})
    Ternary = frozenset({Ops.WHERE, Ops.MULACC})
    ALU = Unary | Binary | Ternary
    Comparison = frozenset({Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ})
    Commutative = frozenset({Ops.ADD, Ops.MUL, Ops.MAX, Ops.MIN, Ops.CMPNE, Ops.CMPEQ, Ops.AND, Ops.OR, Ops.XOR})
    Movement = frozenset({Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP})
    Associative = frozenset({Ops.ADD, Ops.MUL, Ops.AND, Ops.OR, Ops.MAX, Ops.MIN})


_SYMBOLS = {Ops.ADD: "+", Ops.SUB: "-", Ops.MUL: "*", Ops.IDIV: "//", Ops.MOD: "%", Ops.FDIV: "/", Ops.CMPLT: "<",
            Ops.CMPLE: "<=", Ops.CMPNE: "!=", Ops.CMPEQ: "==", Ops.AND: "&", Ops.OR: "|", Ops.XOR: "^",
            Ops.SHL: "<<", Ops.SHR: ">>"}


LEAF_OPS = frozenset({Ops.CONST, Ops.VCONST, Ops.DEFINE_VAR})  # what op_count does not count
# enum members as module globals for hot paths: `Ops.X` goes through EnumType.__getattr__ on Python 3.11
_CONST, _DEFINE_VAR, _RANGE, _SPECIAL, _BIND = Ops.CONST, Ops.DEFINE_VAR, Ops.RANGE, Ops.SPECIAL, Ops.BIND
_ADD, _SUB, _NEG, _MUL, _MAX, _MIN, _WHERE = Ops.ADD, Ops.SUB, Ops.NEG, Ops.MUL, Ops.MAX, Ops.MIN, Ops.WHERE
_IDIV, _MOD, _CAST, _AND, _SHL, _SHR = Ops.IDIV, Ops.MOD, Ops.CAST, Ops.AND, Ops.SHL, Ops.SHR
_CMPLT, _CMPLE, _CMPNE, _CMPEQ, _OR = Ops.CMPLT, Ops.CMPLE, Ops.CMPNE, Ops.CMPEQ, Ops.OR
_INDEX = dtypes.index
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_TOPO_CACHE_MIN = 64  # toposorts of at least this many UOps are cached on the root


# one DType object per dtype value: UOps hold these, so a dtype can be keyed by id() and compared with `is`
_DTYPES: dict[DType, DType] = {d: d for d in vars(dtypes).values() if isinstance(d, DType)}
_DTYPE_IDS: set[int] = {id(d) for d in _DTYPES}  # stable: _DTYPES keeps these objects alive


def canonical_dtype(dt: DType) -> DType:
    """The one object UOps use for dtypes equal to `dt`."""
    if id(dt) in _DTYPE_IDS:
        return dt
    c = _DTYPES.get(dt)
    if c is None:
        c = _DTYPES[dt] = dt
        _DTYPE_IDS.add(id(dt))
    return c


_new_object: Any = object.__new__


class _KeyedRef(weakref.ref):
    """A weak reference that carries its table key (what weakref.KeyedRef does, without its Python-level __new__
    and __init__: 0.12 us instead of 0.45 us per new UOp). The key is set right after creation."""

    __slots__ = ("key",)
    key: tuple


class _Interned(type):
    """Metaclass that returns the existing UOp for equal fields.

    One dict per op maps (id of the canonical dtype, src, arg) to a weak reference; a dead reference removes
    its own entry. Cheaper than a WeakValueDictionary keyed by the dataclass-hashed dtype.
    """

    def __init__(cls, name: str, bases: tuple, ns: dict) -> None:
        super().__init__(name, bases, ns)
        cls._tables: list[dict[tuple, _KeyedRef]] = [{} for _ in range(max(Ops) + 1)]
        cls._removers = [_remover(t) for t in cls._tables]

    def __call__(cls, op: Ops, dtype: DType = dtypes.void, src: tuple[UOp, ...] = (), arg: Any = None) -> UOp:
        if id(dtype) not in _DTYPE_IDS:
            dtype = canonical_dtype(dtype)
        # -0.0 == 0.0 (and hashes alike): a negative zero gets a key of its own, or the constant folder's -0.0
        # would come back as the +0.0 interned first (found by the graph fuzzer: min(+0, +0) gave -0.0)
        key = (id(dtype), src, arg if arg.__class__ is not float or arg else _zero_key(arg))
        table = cls._tables[op]
        ref = table.get(key)
        if ref is not None:
            ret = ref()
            if ret is not None:
                return ret
        # object.__new__ and plain slot stores: no type.__call__ / __init__ round trip on this hot path
        new: UOp = _new_object(cls)  # type: ignore[arg-type]
        new.op, new.dtype, new.src, new.arg = op, dtype, src, arg
        ref = table[key] = _KeyedRef(new, cls._removers[op])
        ref.key = key
        return new


_NEG_ZERO_KEY = ("-0.0",)


def _zero_key(z: float) -> Any:
    """The table key of a float zero argument: -0.0 apart from 0.0."""
    return _NEG_ZERO_KEY if math.copysign(1.0, z) < 0 else z


def existing(op: Ops, dtype: DType, src: tuple, arg: Any = None) -> UOp | None:
    """The interned UOp with these fields if one is alive, else None (creates nothing)."""
    key_arg = arg if arg.__class__ is not float or arg else _zero_key(arg)
    ref = UOp._tables[op].get((id(canonical_dtype(dtype)), src, key_arg))
    return ref() if ref is not None else None


def _remover(table: dict[tuple, _KeyedRef]) -> Any:
    def remove(ref: _KeyedRef) -> None:
        if table.get(ref.key) is ref:  # a newer UOp may already hold the key
            del table[ref.key]
    return remove


def _check_int_operand(dtype: DType, value: Any) -> None:
    if dtype.kind in "xiu" and isinstance(value, float):
        raise TypeError(f"float value {value!r} in {dtype.name} arithmetic: index arithmetic is integer-only")


class UOp(metaclass=_Interned):
    """One node of the IR. Build with the constructors below or Python operators; never mutate."""

    __slots__ = ("op", "dtype", "src", "arg", "__weakref__", "__dict__")

    def __init__(self, op: Ops, dtype: DType = dtypes.void, src: tuple[UOp, ...] = (), arg: Any = None):
        self.op, self.dtype, self.src, self.arg = op, dtype, src, arg

    def __reduce__(self) -> tuple:  # pickling rebuilds through the interning constructor
        return (UOp, (self.op, self.dtype, self.src, self.arg))

    def replace(self, **kw: Any) -> UOp:
        """The UOp with some fields changed."""
        return UOp(kw.get("op", self.op), kw.get("dtype", self.dtype), kw.get("src", self.src), kw.get("arg", self.arg))

    # ---------------------------------------------------------------- constructors
    @staticmethod
    def const(dtype: DType, value: Any) -> UOp:
        """A constant of `dtype`; floats are rejected in integer/index dtypes."""
        if dtype is _INDEX and type(value) is int:  # the common case, already normalized
            return UOp(_CONST, dtype, (), value)
        if dtype.kind == "b":
            value = bool(value)
        elif dtype.kind in "xiu":
            _check_int_operand(dtype, value)
            if not isinstance(value, (int, bool)):
                value = int(value)
            value = int(value)
        elif dtype.kind == "f":
            value = float(value)
        return UOp(Ops.CONST, dtype, (), value)

    @staticmethod
    def variable(name: str, lo: int, hi: int, dtype: DType = dtypes.index) -> UOp:
        """A named integer variable with inclusive bounds [lo, hi]."""
        if isinstance(lo, float) or isinstance(hi, float):
            raise TypeError(f"variable {name!r}: bounds must be integers, got {lo!r}, {hi!r}")
        if lo > hi:
            raise ValueError(f"variable {name!r}: empty range [{lo}, {hi}]")
        return UOp(Ops.DEFINE_VAR, dtype, (), (name, int(lo), int(hi)))

    @staticmethod
    def range(end: UOp | int, axis: int, kind: str = "loop") -> UOp:
        """A loop index taking values 0..end-1."""
        end_u = end if isinstance(end, UOp) else UOp.const(dtypes.index, end)
        return UOp(Ops.RANGE, dtypes.index, (end_u,), (axis, kind))

    @staticmethod
    def sink(*srcs: UOp) -> UOp:
        return UOp(Ops.SINK, dtypes.void, tuple(srcs))

    def const_like(self, value: Any) -> UOp:
        """A constant with this UOp's dtype."""
        return UOp.const(self.dtype, value)

    def _operand(self, x: UOp | int | float | bool) -> UOp:
        if isinstance(x, UOp):
            return x
        if self.dtype.kind in "xiu" and isinstance(x, float):
            _check_int_operand(self.dtype, x)
        return UOp.const(self.dtype.scalar, x)

    def alu(self, op: Ops, *srcs: UOp | int | float | bool) -> UOp:
        """An ALU UOp of `op` on self and `srcs`, with the result dtype of the op."""
        operands = (self, *(self._operand(s) for s in srcs))
        if op is Ops.WHERE:
            dtype = operands[1].dtype
            if operands[2].dtype != dtype:
                dtype = promote(operands[1].dtype, operands[2].dtype)
        elif op in GroupOp.Comparison:
            dtype = dtypes.bool
            if operands[0].dtype.kind != operands[1].dtype.kind:
                promote(operands[0].dtype, operands[1].dtype)  # raises for float with index
        else:
            dtype = operands[0].dtype
            for o in operands[1:]:
                if o.dtype != dtype:
                    dtype = promote(dtype, o.dtype)
        return UOp(op, dtype, operands)

    # ---------------------------------------------------------------- Python operators
    def __add__(self, x: Any) -> UOp: return self.alu(Ops.ADD, x)
    def __radd__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.ADD, self)
    def __sub__(self, x: Any) -> UOp: return self.alu(Ops.SUB, x)
    def __rsub__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.SUB, self)
    def __mul__(self, x: Any) -> UOp: return self.alu(Ops.MUL, x)
    def __rmul__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.MUL, self)
    def __floordiv__(self, x: Any) -> UOp: return self.alu(Ops.IDIV, x)
    def __rfloordiv__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.IDIV, self)
    def __mod__(self, x: Any) -> UOp: return self.alu(Ops.MOD, x)
    def __rmod__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.MOD, self)
    def __neg__(self) -> UOp: return self.alu(Ops.NEG)
    def __lt__(self, x: Any) -> UOp: return self.alu(Ops.CMPLT, x)  # type: ignore[override]
    def __le__(self, x: Any) -> UOp: return self.alu(Ops.CMPLE, x)  # type: ignore[override]
    def __gt__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.CMPLT, self)  # type: ignore[override]
    def __ge__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.CMPLE, self)  # type: ignore[override]
    def __and__(self, x: Any) -> UOp: return self.alu(Ops.AND, x)
    def __rand__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.AND, self)
    def __or__(self, x: Any) -> UOp: return self.alu(Ops.OR, x)
    def __ror__(self, x: Any) -> UOp: return self._operand(x).alu(Ops.OR, self)
    def __xor__(self, x: Any) -> UOp: return self.alu(Ops.XOR, x)
    def __lshift__(self, x: Any) -> UOp: return self.alu(Ops.SHL, x)
    def __rshift__(self, x: Any) -> UOp: return self.alu(Ops.SHR, x)

    def __truediv__(self, x: Any) -> UOp:
        if self.dtype.kind in "xiub":
            raise TypeError(f"true division of {self.dtype.name}: use // (IDIV) for integers")
        return self.alu(Ops.FDIV, x)

    def __bool__(self) -> bool:
        raise TypeError("a UOp has no truth value; compare with .eq()/.ne() or use `is`")

    def eq(self, x: Any) -> UOp: return self.alu(Ops.CMPEQ, x)
    def ne(self, x: Any) -> UOp: return self.alu(Ops.CMPNE, x)
    def maximum(self, x: Any) -> UOp: return self.alu(Ops.MAX, x)
    def minimum(self, x: Any) -> UOp: return self.alu(Ops.MIN, x)
    def where(self, a: Any, b: Any) -> UOp:
        a_u = a if isinstance(a, UOp) else (b._operand(a) if isinstance(b, UOp) else UOp.const(dtypes.index, a))
        b_u = b if isinstance(b, UOp) else a_u._operand(b)
        return UOp(Ops.WHERE, promote(a_u.dtype, b_u.dtype) if a_u.dtype != b_u.dtype else a_u.dtype,
                   (self, a_u, b_u))
    def logical_not(self) -> UOp: return self.alu(Ops.CMPNE, True)
    def cast(self, dtype: DType) -> UOp: return self if self.dtype == dtype else UOp(Ops.CAST, dtype, (self,))

    # ---------------------------------------------------------------- graph properties
    @property
    def toposort(self) -> dict[UOp, None]:
        """Every UOp reachable from self, sources before users (iterative: no recursion limit)."""
        below = self.__dict__.get("_below")
        if below is not None:  # cached without self: a dict on self holding self would be a reference cycle
            out = dict(below)
            out[self] = None
            return out
        out = {}
        stack: list[tuple[UOp, bool]] = [(self, False)]
        while stack:
            u, expanded = stack.pop()
            if u in out:
                continue
            if expanded:
                out[u] = None
                continue
            stack.append((u, True))
            for s in reversed(u.src):
                if s not in out:
                    stack.append((s, False))
        if len(out) > _TOPO_CACHE_MIN:  # a small graph is cheaper to walk again than to copy
            below = dict(out)
            del below[self]
            self.__dict__["_below"] = below
        return out

    def op_count(self) -> int:
        """Number of distinct operations in the graph, leaves (constants, variables) not counted.

        This is what `simplify` must never increase.
        """
        n = self.__dict__.get("_opc")
        if n is None:
            n = self.__dict__["_opc"] = self._count_ops(None)
        return n

    def has_ops(self, k: int) -> bool:
        """op_count() >= k, counting only as far as it takes."""
        n = self.__dict__.get("_opc")
        return (n if n is not None else self._count_ops(k)) >= k

    def _count_ops(self, stop_at: int | None) -> int:
        seen: set[UOp] = set()
        stack = [self]
        n = 0
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            if u.src:
                n += 1
                stack.extend(u.src)
            elif u.op not in LEAF_OPS:
                n += 1
            else:
                continue
            if n == stop_at:
                return n
        return n

    def _fill(self, key: str, fn: Any) -> Any:
        """Compute a per-node cached value children-first without recursion."""
        d = self.__dict__
        if key in d:
            return d[key]
        for s in self.src:
            if key not in s.__dict__:
                break
        else:  # sources done (the common case inside a rewrite): no stack
            v = d[key] = fn(self)
            return v
        for u in missing_below(self, key):
            u.__dict__[key] = fn(u)
        return d[key]

    @property
    def key(self) -> tuple:
        """A structural sort key: a total order used to put sums and products in canonical form."""
        k = self.__dict__.get("_key")
        return k if k is not None else _fill_key(self)

    @property
    def bounds(self) -> tuple[Any, Any]:
        """(vmin, vmax) in one lookup."""
        mm = self.__dict__.get("_mm")
        return mm if mm is not None else _fill_bounds(self)

    @property
    def vmin(self) -> Any:
        """Lower bound of the value (ints and bools; -inf for floats)."""
        mm = self.__dict__.get("_mm")
        return (mm if mm is not None else _fill_bounds(self))[0]

    @property
    def vmax(self) -> Any:
        """Upper bound of the value (ints and bools; +inf for floats)."""
        mm = self.__dict__.get("_mm")
        return (mm if mm is not None else _fill_bounds(self))[1]

    @property
    def variables(self) -> list[UOp]:
        """DEFINE_VARs in the graph, sorted by name."""
        return sorted((u for u in self.toposort if u.op is Ops.DEFINE_VAR), key=lambda u: u.arg)

    def divides(self, c: int) -> UOp | None:
        """self // c if c divides self exactly (for every value), else None."""
        if c == 0:
            return None
        if c == 1:
            return self
        out: dict[UOp, UOp | None] = {}
        for u in _arith_post_order(self):
            op, src = u.op, u.src
            if op is Ops.CONST and isinstance(u.arg, int):
                out[u] = u.const_like(u.arg // c) if u.arg % c == 0 else None
            elif op is Ops.ADD or op is Ops.SUB:
                x, y = out[src[0]], out[src[1]]
                out[u] = None if x is None or y is None else x + y if op is Ops.ADD else x - y
            elif op is Ops.MUL:
                x, y = out[src[0]], out[src[1]]
                out[u] = x * src[1] if x is not None else src[0] * y if y is not None else None
            elif op is Ops.NEG:
                x = out[src[0]]
                out[u] = -x if x is not None else None
            else:
                out[u] = None
        return out[self]

    def const_factor(self) -> int:
        """The largest integer known to divide self (1 if none)."""
        out: dict[UOp, int] = {}
        for u in _arith_post_order(self):
            op, src = u.op, u.src
            if op is Ops.CONST and isinstance(u.arg, int) and not isinstance(u.arg, bool):
                out[u] = abs(u.arg)
            elif op is Ops.ADD or op is Ops.SUB:
                out[u] = math.gcd(out[src[0]], out[src[1]])
            elif op is Ops.MUL:
                out[u] = out[src[0]] * out[src[1]] if u.dtype.kind == "x" else max(out[src[0]], out[src[1]])
            elif op is Ops.NEG:
                out[u] = out[src[0]]
            else:
                out[u] = 1
        return out[self]

    def simplify(self) -> UOp:
        """The symbolic simplification of this expression (engine.symbolic)."""
        from engine.symbolic import simplify

        return simplify(self)

    # ---------------------------------------------------------------- printing
    def __repr__(self) -> str:
        if self.op is Ops.CONST:
            return f"UOp.const({self.dtype!r}, {_pyrepr(self.arg)})"
        if self.op is Ops.DEFINE_VAR:
            return f"<var {self.arg[0]}[{self.arg[1]}, {self.arg[2]}]>"
        return f"<UOp {self.op.name} {self.dtype!r} {self.render(max_len=200)}>"

    def render(self, max_len: int | None = None) -> str:
        """A readable infix rendering, e.g. `((x*4)+3)//4`.

        Written left to right by an explicit stack (no recursion limit), in memory proportional to the text: no
        text of a subexpression is kept (a shared one is written again where it is used). With max_len, writing
        stops once the text is longer, and it is cut to max_len with "...".
        """
        pieces: list[str] = []
        length = 0
        limit = -1 if max_len is None else max_len
        todo: list[str | UOp] = [self]
        while todo:
            x = todo.pop()
            if type(x) is str:
                pieces.append(x)
                length += len(x)
                if length > limit >= 0:
                    break
            else:
                todo.extend(reversed(_render_parts(x)))  # type: ignore[arg-type]
        text = "".join(pieces)
        return text if max_len is None or len(text) <= max_len else text[: max_len - 3] + "..."

    def pyrender(self) -> str:
        """A Python expression that rebuilds this UOp: `eval(u.pyrender(), PYRENDER_NAMES) is u`.

        Shared subgraphs are bound once with `:=`, and so is every UOp whose text would nest more than
        _PYRENDER_NESTING calls deep (Python's parser allows 200 nested parentheses): the text grows linearly with the
        graph, however deep, and evaluates back.
        """
        users: dict[UOp, int] = {}
        for u in self.toposort:
            for s in u.src:
                users[s] = users.get(s, 0) + 1
        names: dict[UOp, str] = {}
        text: dict[UOp, str] = {}
        nesting: dict[UOp, int] = {}  # how many UOp(...) calls deep its text is
        bindings: list[str] = []
        for u in self.toposort:
            src = ", ".join(text[s] for s in u.src)
            depth = 1 + max([nesting[s] for s in u.src], default=0)
            if u.op is Ops.CONST and not u.dtype.ptr and u.dtype.count == 1:
                expr = f"UOp.const({u.dtype!r}, {_pyrepr(u.arg)})"
            elif u.op is Ops.DEFINE_VAR and u.dtype == dtypes.index:
                expr = f"UOp.variable({u.arg[0]!r}, {u.arg[1]}, {u.arg[2]})"
            else:
                expr = f"UOp({u.op!r}, {u.dtype!r}, ({src}{',' if len(u.src) == 1 else ''}), {_pyrepr(u.arg)})"
            if (users.get(u, 0) > 1 or depth >= _PYRENDER_NESTING) and u.op not in (Ops.CONST, Ops.DEFINE_VAR):
                names[u] = f"u{len(names)}"
                bindings.append(f"({names[u]} := {expr})")
                text[u], nesting[u] = names[u], 0
            else:
                text[u], nesting[u] = expr, depth
        if not bindings:
            return text[self]
        return f"({', '.join(bindings)}, {text[self]})[-1]"


def _pyrepr(x: Any) -> str:
    """repr that evaluates back (floats inf/nan, Ops, DTypes, nested tuples)."""
    if isinstance(x, float):
        if math.isnan(x):
            return "float('nan')"
        if math.isinf(x):
            return "float('inf')" if x > 0 else "float('-inf')"
        return repr(x)
    if isinstance(x, tuple):
        inner = ", ".join(_pyrepr(v) for v in x)
        return f"({inner}{',' if len(x) == 1 else ''})"
    return repr(x)


PYRENDER_NAMES: dict[str, Any] = {"UOp": UOp, "Ops": Ops, "dtypes": dtypes}
_PYRENDER_NESTING = 32  # UOp(...) calls nested in one pyrender expression before it binds a name (2 parens each)


def _render_parts(u: UOp) -> tuple[str | UOp, ...]:
    """u's rendering as text pieces and the sources rendered in their place."""
    op, src = u.op, u.src
    if op is Ops.CONST:
        return (str(u.arg),)
    if op is Ops.DEFINE_VAR:
        return (u.arg[0],)
    if op is Ops.RANGE:
        return (f"r{u.arg[0]}",)
    if op is Ops.SPECIAL:
        return (str(u.arg),)
    if op in _SYMBOLS and len(src) == 2:
        if op is Ops.CMPNE and src[1].op is Ops.CONST and src[1].arg is True:
            return ("!", src[0])
        return ("(", src[0], _SYMBOLS[op], src[1], ")")
    if op is Ops.NEG:
        return ("(-", src[0], ")")
    if op is Ops.WHERE:
        return ("(", src[0], "?", src[1], ":", src[2], ")")
    if op in (Ops.MAX, Ops.MIN):
        return (f"{op.name.lower()}(", src[0], ", ", src[1], ")")
    if op is Ops.CAST:
        return (f"({u.dtype.name})", src[0])
    parts: list[str | UOp] = [f"{op.name}("]
    for i, s in enumerate(src):
        parts.extend((", ", s) if i else (s,))
    if u.arg is not None:
        parts.append(f", {u.arg!r}" if src else repr(u.arg))
    parts.append(")")
    return tuple(parts)


def missing_below(root: UOp, key: str, sources: Callable[[UOp], tuple[UOp, ...]] | None = None) -> Iterator[UOp]:
    """The UOps under root (itself included) without `key` in their cache, each after its sources, iterative.

    The caller stores each one's value before asking for the next (a UOp reached twice is yielded once).
    sources: which sources a UOp's value depends on (default: all of them); the walk goes no further.
    """
    stack = [root]
    push, pop = stack.append, stack.pop
    while stack:
        u = stack[-1]
        if key in u.__dict__:
            pop()
            continue
        ready = True
        for s in (u.src if sources is None else sources(u)):
            if key not in s.__dict__:
                push(s)
                ready = False
        if ready:
            pop()
            yield u


def _arith_post_order(root: UOp) -> Iterator[UOp]:
    """The UOps of root's +, -, * and negation tree (itself included), each once and after its sources, iterative."""
    done: set[UOp] = set()
    stack = [root]
    while stack:
        u = stack[-1]
        if u in done:
            stack.pop()
            continue
        todo = [s for s in u.src if s not in done] if u.op in _ARITH else []
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        done.add(u)
        yield u


_ARITH = frozenset({Ops.ADD, Ops.SUB, Ops.MUL, Ops.NEG})


_NO_ARG_KEY = (1, repr(None))


def _fill_key(root: UOp) -> tuple:
    """root's structural key, computing the missing ones below it sources first (iterative).

    Keys are `_struct_key`'s; an ALU node without arg (the common case) and an index constant are built inline.
    """
    for u in missing_below(root, "_key"):
        d, src = u.__dict__, u.src
        if len(src) == 2 and u.arg is None:
            d["_key"] = (u.op, _NO_ARG_KEY, u.dtype.name, (src[0].__dict__["_key"], src[1].__dict__["_key"]))
        elif u.op is _CONST and type(u.arg) is int:
            d["_key"] = (u.op, (0, u.arg), u.dtype.name, ())
        else:
            d["_key"] = _struct_key(u)
    return root.__dict__["_key"]


def _arg_key(arg: Any) -> tuple:
    t = type(arg)
    if t is int or t is float:
        return (0, arg)
    if t is bool:
        return (0, int(arg))
    if arg is None:
        return _NO_ARG_KEY
    if isinstance(arg, (int, float)):  # subclasses (Ops, numpy scalars) order by value too
        return (0, arg)
    return (1, repr(arg))


def _struct_key(u: UOp) -> tuple:
    arg_key = _arg_key(u.arg)
    src = u.src
    # an Ops member is an int: ordering by it is ordering by its value, without the enum's `.value` lookup
    if len(src) == 2:
        return (u.op, arg_key, u.dtype.name, (src[0].__dict__["_key"], src[1].__dict__["_key"]))
    return (u.op, arg_key, u.dtype.name, tuple([s.__dict__["_key"] for s in src]))


# ---------------------------------------------------------------- interval bounds
def _dtype_range(dt: DType) -> tuple[Any, Any]:
    return (dt.min, dt.max)


def _clamp(dt: DType, lo: Any, hi: Any) -> tuple[Any, Any]:
    """Bounds that overflow the dtype could wrap: then only the dtype's range is sound."""
    if dt is _INDEX:  # the common case, without DType.min/max properties
        return (_I64_MIN, _I64_MAX) if lo < _I64_MIN or hi > _I64_MAX else (lo, hi)
    if dt.kind in "xiu" and (lo < dt.min or hi > dt.max):
        return (dt.min, dt.max)
    return (lo, hi)


def _fill_bounds(root: UOp) -> tuple[Any, Any]:
    """root's bounds, computing the missing ones below it sources first (iterative: no recursion limit).

    The interval rules are `_bounds`'; the common index cases (constants, variables, +, -, negation, products,
    // and % by a positive constant) are inlined here: this runs for every node the simplifier meets.
    """
    for u in missing_below(root, "_mm"):
        d, src, op = u.__dict__, u.src, u.op
        if u.dtype is _INDEX:
            if op is _CONST:
                d["_mm"] = (u.arg, u.arg)
                continue
            if op is _ADD or op is _SUB:
                (alo, ahi), (blo, bhi) = src[0].__dict__["_mm"], src[1].__dict__["_mm"]
                lo, hi = (alo + blo, ahi + bhi) if op is _ADD else (alo - bhi, ahi - blo)
                d["_mm"] = (lo, hi) if _I64_MIN <= lo and hi <= _I64_MAX else (_I64_MIN, _I64_MAX)
                continue
            if op is _MUL:
                (alo, ahi), (blo, bhi) = src[0].__dict__["_mm"], src[1].__dict__["_mm"]
                if blo == bhi:
                    lo, hi = (alo * blo, ahi * blo) if blo >= 0 else (ahi * blo, alo * blo)
                else:
                    c0, c1, c2, c3 = alo * blo, alo * bhi, ahi * blo, ahi * bhi
                    lo, hi = min(c0, c1, c2, c3), max(c0, c1, c2, c3)
                d["_mm"] = (lo, hi) if _I64_MIN <= lo and hi <= _I64_MAX else (_I64_MIN, _I64_MAX)
                continue
            if op is _NEG:
                alo, ahi = src[0].__dict__["_mm"]
                d["_mm"] = (-ahi, -alo) if -alo <= _I64_MAX else (_I64_MIN, _I64_MAX)
                continue
            if op is _DEFINE_VAR:
                d["_mm"] = (u.arg[1], u.arg[2])
                continue
            if (op is _IDIV or op is _MOD) and src[1].op is _CONST and src[1].arg > 0:
                alo, ahi = src[0].__dict__["_mm"]
                c = src[1].arg
                if op is _IDIV:  # truncation is monotone for c > 0
                    d["_mm"] = (alo // c if alo >= 0 else -(-alo // c), ahi // c if ahi >= 0 else -(-ahi // c))
                else:
                    d["_mm"] = _mod_bounds(alo, ahi, c)
                continue
        d["_mm"] = _bounds(u)
    return root.__dict__["_mm"]


def _bounds(u: UOp) -> tuple[Any, Any]:
    """Sound interval [vmin, vmax] of an integer or bool UOp, from the bounds of its sources."""
    dt = u.dtype
    if dt is not _INDEX and (dt.kind == "f" or dt.ptr or dt.count > 1 or dt.kind == "v"):
        return (-math.inf, math.inf)
    op, src = u.op, u.src
    if op is _CONST:
        return (u.arg, u.arg)
    if op is _DEFINE_VAR:
        return (u.arg[1], u.arg[2])
    if op in (_RANGE, _SPECIAL):
        return (0, max(src[0].__dict__["_mm"][1] - 1, 0))
    if op is _BIND:
        return src[0].__dict__["_mm"]
    mm = [s.__dict__["_mm"] for s in src]
    if dt.kind == "b":
        return _bool_bounds(u, mm)
    if op is _ADD:
        return _clamp(dt, mm[0][0] + mm[1][0], mm[0][1] + mm[1][1])
    if op is _SUB:
        return _clamp(dt, mm[0][0] - mm[1][1], mm[0][1] - mm[1][0])
    if op is _NEG:
        return _clamp(dt, -mm[0][1], -mm[0][0])
    if op is _MUL:
        corners = [a * b for a in mm[0] for b in mm[1]]
        return _clamp(dt, min(corners), max(corners))
    if op is _MAX:
        return (max(mm[0][0], mm[1][0]), max(mm[0][1], mm[1][1]))
    if op is _MIN:
        return (min(mm[0][0], mm[1][0]), min(mm[0][1], mm[1][1]))
    if op is _WHERE:
        c, a, b = mm
        if c[0] == c[1]:
            return a if c[0] else b
        return (min(a[0], b[0]), max(a[1], b[1]))
    if op is _IDIV:
        (alo, ahi), (blo, bhi) = mm
        if blo > 0 or bhi < 0:  # divisor never 0: truncating division is monotone on each corner
            corners = [_c_div(a, b) for a in (alo, ahi) for b in (blo, bhi)]
            return _clamp(dt, min(corners), max(corners))
        m = max(abs(alo), abs(ahi))  # |a // b| <= |a| for |b| >= 1
        return _clamp(dt, -m, m)
    if op is _MOD:
        (alo, ahi), (blo, bhi) = mm
        if blo == bhi and blo > 0:
            return _mod_bounds(alo, ahi, blo)
        m = max(abs(blo), abs(bhi)) - 1  # |a % b| < |b|, sign of the dividend
        if m < 0:
            return _dtype_range(dt)
        lo = 0 if alo >= 0 else max(alo, -m)
        hi = 0 if ahi <= 0 else min(ahi, m)
        return (lo, hi)
    if op is _CAST:
        s = src[0].dtype
        lo, hi = mm[0]
        if s.kind == "f":
            return _dtype_range(dt)
        return (int(lo), int(hi)) if dt.min <= lo and hi <= dt.max else _dtype_range(dt)
    if op is _AND and mm[0][0] >= 0 and mm[1][0] >= 0:
        return (0, min(mm[0][1], mm[1][1]))
    if op in (_SHL, _SHR) and src[1].op is _CONST and 0 <= src[1].arg < dt.bits:
        k = 1 << src[1].arg
        lo, hi = mm[0]
        return _clamp(dt, lo * k, hi * k) if op is _SHL else (lo // k, hi // k)
    return _dtype_range(dt)


def _mod_bounds(alo: int, ahi: int, c: int) -> tuple[int, int]:
    """Bounds of a % c for a in [alo, ahi] and a constant c > 0 (C semantics: the sign of the dividend)."""
    if alo >= 0 and alo // c == ahi // c:  # one period: the remainder grows with the dividend
        return (alo % c, ahi % c)
    return (0 if alo >= 0 else max(alo, 1 - c), 0 if ahi <= 0 else min(ahi, c - 1))


def _bool_bounds(u: UOp, mm: list[tuple[Any, Any]]) -> tuple[bool, bool]:
    op = u.op
    if op is _CMPLT:
        (alo, ahi), (blo, bhi) = mm
        if ahi < blo:
            return (True, True)
        if alo >= bhi:
            return (False, False)
    elif op is _CMPLE:
        (alo, ahi), (blo, bhi) = mm
        if ahi <= blo:
            return (True, True)
        if alo > bhi:
            return (False, False)
    elif op in (_CMPNE, _CMPEQ):
        (alo, ahi), (blo, bhi) = mm
        if alo == ahi == blo == bhi:
            return (op is _CMPEQ, op is _CMPEQ)
        if ahi < blo or bhi < alo:
            return (op is _CMPNE, op is _CMPNE)
    elif op is _AND:
        return (bool(mm[0][0] and mm[1][0]), bool(mm[0][1] and mm[1][1]))
    elif op is _OR:
        return (bool(mm[0][0] or mm[1][0]), bool(mm[0][1] or mm[1][1]))
    elif op is _WHERE:
        c, a, b = mm
        if c[0] == c[1]:
            return a if c[0] else b
        return (bool(min(a[0], b[0])), bool(max(a[1], b[1])))
    elif op is _CAST:
        lo, hi = mm[0]
        if lo > 0 or hi < 0:
            return (True, True)
        if lo == hi == 0:
            return (False, False)
    return (False, True)


def iter_graph(root: UOp) -> Iterator[UOp]:
    """Every UOp of the graph, sources first."""
    return iter(root.toposort)


# the one definition of C division lives with the other scalar semantics (imported last: engine.alu needs Ops)
from engine.alu import c_div as _c_div  # noqa: E402
