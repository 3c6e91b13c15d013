"""The op table of the graph fuzzer: one entry per Tensor operation, read by the generator, the minimizer and
the checker alike (adding an op is adding one entry).

An entry says:
  kind      a family name, for coverage and for the minimizer (elementwise, movement, reduce, ...);
  arity     how many tensor inputs (None: two or more, as cat and stack take);
  sample    sample(rng, pool) -> (inputs, attrs) or None: picks inputs from the pool of (shape, dtype) values
            built so far (an int) or asks for a fresh input ({"new": {"shape", "dtype", "domain"}}), and draws
            attributes; None when nothing in the pool fits;
  infer     infer(types, attrs) -> (shape, dtype) of the result; raises ValueError where the inputs do not fit;
  code      code(names, attrs) -> the Python source of the op on tensors named `names` (the engine's public
            Tensor API only): the checker evaluates exactly this, and reproducers print it;
  ref       ref(refs, attrs, out_type) -> the numpy reference (oracles.numpy_ref);
  defaults  the attributes' neutral values, which the minimizer tries first.
Shapes and dtypes here are written from numpy's rules, not taken from the engine, so a shape or promotion bug
in the engine is a finding and not a shared mistake.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np

from oracles import numpy_ref as R
from oracles.numpy_ref import FLOATS, HALF, INTS, Ref, is_float, is_int, promote

Shape = tuple[int, ...]
TT = tuple[Shape, str]  # a value's (shape, dtype)
Src = Any  # an int (index into the pool) or {"new": {"shape", "dtype", "domain"}}
ALL_DTYPES = ("bool", *INTS, *FLOATS)
DIMS = (1, 2, 3, 4, 5, 7, 8, 13, 16, 33)  # odd sizes next to vector widths
LONG_DIMS = (257, 300, 513, 1031)  # now and then one long axis: past the engine's short paths (a cumsum of up to 256
                                   # is one masked sum, longer ones are blocked; GROUP amounts stop at 256)


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: str
    arity: int | None
    sample: Callable[[random.Random, list[TT]], tuple[list[Src], dict[str, Any]] | None]
    infer: Callable[[list[TT], dict[str, Any]], TT]
    code: Callable[[list[str], dict[str, Any]], str]
    ref: Callable[[list[Ref], dict[str, Any], TT], Ref]
    defaults: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0


OPS: dict[str, OpSpec] = {}
_COMPILED: dict[str, Any] = {}


def run_op(spec: OpSpec, tensors: list[Any], attrs: dict[str, Any]) -> Any:
    """Evaluate the op's code on engine tensors (t0, t1, ...)."""
    from engine.dtype import dtypes
    from engine.tensor import Tensor

    src = spec.code([f"t{i}" for i in range(len(tensors))], attrs)
    code = _COMPILED.get(src)
    if code is None:
        code = _COMPILED[src] = compile(src, f"<{spec.name}>", "eval")
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
    return eval(code, {"Tensor": Tensor, "dtypes": dtypes}, {f"t{i}": t for i, t in enumerate(tensors)})


def _add(spec: OpSpec) -> None:
    OPS[spec.name] = spec


# ------------------------------------------------------------------ helpers for samplers


def pick(rng: random.Random, pool: list[TT], ok: Callable[[TT], bool]) -> int | None:
    """An index of the pool whose entry satisfies `ok`, biased toward recent values (deeper graphs)."""
    cands = [i for i, t in enumerate(pool) if t[1] != "dead" and ok(t)]  # "dead": an input written in place
    if not cands:
        return None
    if rng.random() < 0.6:
        return cands[-1 - int(min(rng.expovariate(0.7), len(cands) - 1))]  # min first: a Hypothesis random may draw inf
    return rng.choice(cands)


def rand_shape(rng: random.Random, ndim: int | None = None, max_numel: int = 2048) -> Shape:
    """A small shape: 0 to 4 dims from DIMS, now and then one long axis or a size-0 axis."""
    if ndim is None:
        ndim = rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4))
    while True:
        shape = tuple(rng.choice(DIMS) for _ in range(ndim))
        if shape and rng.random() < 0.04:
            k = rng.randrange(ndim)
            shape = shape[:k] + (rng.choice(LONG_DIMS),) + shape[k + 1:]
        if shape and rng.random() < 0.03:
            shape = tuple(0 if i == rng.randrange(ndim) else s for i, s in enumerate(shape))
        if math.prod(shape) <= max_numel:
            return shape


# float domains by weight: besides plain values, whole numbers (exact ties for argmax and max, exact quotients for
# // and %), NaN/inf/-0.0 mixed in (the ops that define them, bool casts, NaN-propagating max), and magnitudes up to
# 3e5 (casts past the int and fp8 ranges), and near the dtype's largest value (overflow: its sign, inf or NaN);
# short binary fractions (ties: halves for round, midpoints of narrower floats for casts);
# half-width floats skip wide and huge (their inputs would overflow)
FLOAT_DOMAINS = {"normal": 4, "unit": 2, "wide": 2, "int_valued": 1.2, "ties": 0.8, "special": 1.3, "huge": 0.6,
                 "near_max": 0.4}
HALF_DOMAINS = {"normal": 4, "unit": 2, "int_valued": 1.2, "ties": 0.8, "special": 1.3, "near_max": 0.8}


def domain_for(rng: random.Random, dtype: str, need: str = "") -> str:
    """A value domain for a fresh input of `dtype` (see fuzz.graphs.case.make_values)."""
    if dtype == "bool":
        return "bool"
    if is_int(dtype):
        if need:
            return "int_small"
        r = rng.random()
        return "int_full" if r < 0.15 else "int_edge" if r < 0.25 else "int_small"
    if need == "positive":
        return "positive"
    doms = FLOAT_DOMAINS if dtype not in HALF else HALF_DOMAINS
    return rng.choices(list(doms), list(doms.values()))[0]


def new(shape: Shape, dtype: str, domain: str) -> dict[str, Any]:
    return {"new": {"shape": list(shape), "dtype": dtype, "domain": domain}}


def _bcast(a: Shape, b: Shape) -> Shape:
    n = max(len(a), len(b))
    a2, b2 = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a2, b2):
        if x != y and 1 not in (x, y):
            raise ValueError(f"shapes {a} and {b} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def partner_shape(rng: random.Random, shape: Shape) -> Shape:
    """A shape that broadcasts with `shape`: the same, some dims set to 1, or fewer leading dims."""
    r = rng.random()
    if r < 0.5 or not shape:
        return shape
    if r < 0.8:
        return tuple(1 if rng.random() < 0.4 else s for s in shape)
    return shape[rng.randrange(len(shape) + 1):]


def _axis_set(rng: random.Random, ndim: int) -> Any:
    """None (every axis), one axis (maybe negative), or a tuple of axes."""
    if ndim == 0 or rng.random() < 0.15:
        return None
    if rng.random() < 0.6:
        a = rng.randrange(ndim)
        return a - ndim if rng.random() < 0.35 else a
    k = rng.randint(1, ndim)
    return [a - ndim if rng.random() < 0.3 else a for a in sorted(rng.sample(range(ndim), k))]


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(sorted({a % ndim if ndim else 0 for a in axes}))
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} out of range for {ndim} dims")
    if len(out) != len(axes):
        raise ValueError(f"repeated axis in {axes}")
    return out


def _need(cond: bool, msg: str) -> Literal[False]:
    """Raise ValueError(msg) unless cond (returns False, so `_need(...) or value` reads as value)."""
    if not cond:
        raise ValueError(msg)
    return False


# ------------------------------------------------------------------ elementwise unary


PROMOTE_RATE = 0.25  # a float ufunc (promote=True) given an int or bool tensor: numpy's float of it


def ufunc_float(dt: str) -> str:
    """The float a numpy ufunc such as sqrt computes an int or bool in, as numpy resolves it (float16 for 1-byte
    types, float32 for 2-byte, float64 wider: np.sqrt(np.int16(4)).dtype is float32); a float stays itself."""
    return dt if dt in FLOATS else np.result_type(R.NP_DTYPES[dt], np.float16).name


def _unary(name: str, dtypes: Sequence[str], fn: Callable[..., Any], eng: str,
           domain: Callable[..., Any] | None = None, discrete: bool = False, own: Callable[..., Any] | None = None,
           positive: bool = False, out: Callable[[str], str] | None = None, weight: float = 1.0,
           pole: tuple[int, ...] = (), slope: float | None = None, promote: bool = False,
           steps: Callable[..., Any] | None = None) -> None:
    """An elementwise unary op on `dtypes` (result dtype `out(dt)`, default the input's); `slope`: a bound on |f'|
    for an op that is not monotone, `steps` a step function that must not change within an input's error (its
    jumps or poles; R.elementwise); `promote`: a float ufunc that also takes ints and bools, computed in numpy's float
    of them (`ufunc_float`), drawn for PROMOTE_RATE of its nodes."""
    out = out or (ufunc_float if promote else lambda d: d)
    takes = tuple(dtypes) + (("bool", *INTS) if promote else ())

    def sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
        dts = takes if promote and rng.random() < PROMOTE_RATE else tuple(dtypes)
        i = pick(rng, pool, lambda t: t[1] in dts)
        if i is None or (positive and rng.random() < 0.5):
            dt = rng.choice(list(dts))
            return [new(rand_shape(rng), dt, domain_for(rng, dt, "positive" if positive else ""))], {}
        return [i], {}

    def infer(ts: list[TT], attrs: dict[str, Any]) -> TT:
        _need(ts[0][1] in takes, f"{name} does not take {ts[0][1]}")
        return ts[0][0], out(ts[0][1])

    def ref(rs: list[Ref], attrs: dict[str, Any], ot: TT) -> Ref:
        return R.elementwise(fn, rs, ot[1], domain=domain, discrete=discrete, own=own, pole=pole, slope=slope,
                             steps=steps)

    _add(OpSpec(name, "elementwise", 1, sample, infer, lambda ns, a: eng.format(*ns), ref, weight=weight))


_F, _I, _S = FLOATS, INTS, tuple(d for d in INTS if d.startswith("int"))
_unary("neg", _F + _I, np.negative, "(-{0})")
_unary("abs", _F + _I, np.abs, "{0}.abs()")
_unary("sign", _F + _S, np.sign, "{0}.sign()", discrete=True)
_unary("square", _F + _I, np.square, "{0}.square()")
_unary("reciprocal", _F, lambda x: 1.0 / x, "{0}.reciprocal()", pole=(0,))
_unary("relu", _F, lambda x: np.where(np.isnan(x), x, np.maximum(x, 0)), "{0}.relu()",
       domain=lambda x: ~((x == 0) & np.signbit(x)))  # max(-0.0, 0): either zero
_unary("trunc", _F, np.trunc, "{0}.trunc()", discrete=True)
_unary("floor", _F, np.floor, "{0}.floor()", discrete=True)
_unary("ceil", _F, np.ceil, "{0}.ceil()", discrete=True)
_unary("round", _F, np.round, "{0}.round()", discrete=True)
_unary("exp", _F, np.exp, "{0}.exp()", own=lambda x, o: o * (2 + 1.5 * np.abs(x)), promote=True)
_unary("exp2", _F, np.exp2, "{0}.exp2()", own=lambda x, o: o * (2 + np.abs(x)), promote=True)
_unary("log", _F, np.log, "{0}.log()", domain=lambda x: x > 0, positive=True, pole=(0,),
       own=lambda x, o: 4 * np.abs(o) + 2, promote=True)
_unary("log2", _F, np.log2, "{0}.log2()", domain=lambda x: x > 0, positive=True, pole=(0,),
       own=lambda x, o: 2 * np.abs(o) + 2, promote=True)
_unary("sqrt", _F, np.sqrt, "{0}.sqrt()", domain=lambda x: x >= 0, positive=True, own=lambda x, o: 2 * o,
       promote=True)
_unary("rsqrt", _F, lambda x: 1 / np.sqrt(x), "{0}.rsqrt()", domain=lambda x: x > 0, positive=True, pole=(0,),
       own=lambda x, o: 3 * o, promote=True)
# sin and cos are not monotone: an input error wider than a hump moves the result more than its ends show
_unary("sin", _F, np.sin, "{0}.sin()", domain=lambda x: np.abs(x) < 1e4, own=lambda x, o: 4 + 2 * np.abs(x), slope=1.0,
       promote=True)
_unary("cos", _F, np.cos, "{0}.cos()", domain=lambda x: np.abs(x) < 1e4, own=lambda x, o: 4 + 2 * np.abs(x), slope=1.0,
       promote=True)
_unary("sigmoid", _F, lambda x: 1 / (1 + np.exp(-x)), "{0}.sigmoid()",
       own=lambda x, o: (4 + 2 * np.abs(x)) * np.abs(o), promote=True)
_unary("tanh", _F, np.tanh, "{0}.tanh()", own=lambda x, o: (4 + 4 * np.abs(x)) * np.abs(o) + 4, promote=True)
_unary("silu", _F, lambda x: x / (1 + np.exp(-x)), "{0}.silu()", own=lambda x, o: (4 + 2 * np.abs(x)) *
       (np.abs(o) + 1))
_unary("softplus", _F, lambda x: np.logaddexp(0, x), "{0}.softplus()",
       own=lambda x, o: (4 + np.abs(x)) * np.abs(o) + 4)


def _erf_np(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x) if np.size(x) else np.zeros(np.shape(x))


_unary("erf", _F, _erf_np, "{0}.erf()", own=lambda x, o: 8 * np.abs(o) + 8)
_unary("gelu", _F, lambda x: 0.5 * x * (1 + _erf_np(x / math.sqrt(2))), "{0}.gelu()",
       own=lambda x, o: 8 * (np.abs(o) + np.abs(x)) + 8)
# tan as sin / cos: both off by their own error, divided by cos (large near a pole, undefined right at one, and
# wherever an input's error interval holds a pole: its ends can agree closely with tan unbounded in between)
_unary("tan", _F, np.tan, "{0}.tan()", domain=lambda x: (np.abs(x) < 1e4) & (np.abs(np.cos(x)) > 1e-2),
       own=lambda x, o: (8 + 4 * np.abs(x)) * (1 + o * o) + 4 * np.abs(o), weight=0.5,
       steps=lambda x: np.floor(x / np.pi - 0.5))
_unary("log10", _F, np.log10, "{0}.log10()", domain=lambda x: x > 0, positive=True, pole=(0,),
       own=lambda x, o: 4 * np.abs(o) + 4, weight=0.5)
_unary("isnan", _F, np.isnan, "{0}.isnan()", discrete=True, out=lambda d: "bool", weight=0.3)
_unary("isinf", _F, np.isinf, "{0}.isinf()", discrete=True, out=lambda d: "bool", weight=0.3)
_unary("isfinite", _F, np.isfinite, "{0}.isfinite()", discrete=True, out=lambda d: "bool", weight=0.3)
_unary("invert", _I + ("bool",), np.invert, "(~{0})")
_unary("logical_not", ALL_DTYPES, np.logical_not, "{0}.logical_not()", discrete=True, out=lambda d: "bool",
       weight=0.4)


# ------------------------------------------------------------------ elementwise binary


def _weak(dt: str, scalar: Any) -> str:
    """NEP 50: the result dtype of a `dt` tensor with a Python scalar."""
    if isinstance(scalar, bool):
        return dt
    if isinstance(scalar, int):
        return "int64" if dt == "bool" else dt
    return dt if is_float(dt) else "float64"


def _scalar_for(rng: random.Random, dt: str, op: str) -> Any:
    if op in ("lshift", "rshift"):
        return rng.randrange(0, 8)
    if op == "pow":
        return rng.choice((2, 3, 0.5, 2.0, -1.0, -3.0)) if is_float(dt) else rng.choice((0, 1, 2, 3))
    if dt == "bool":
        return rng.choice((True, False, 1, 2, 1.5))
    if is_int(dt):
        lo = 0 if dt.startswith("u") else -100
        return rng.randint(lo, 100) if rng.random() < 0.9 else rng.choice((0.5, -2.25))
    return rng.choice((0.5, -2.0, 3.0, 1e-3, 100.0, 0.0, 1))


def _binary(name: str, dtypes: Sequence[str], fn: Callable[..., Any], eng: str,
            out: Callable[[str], str] | None = None, compute: Callable[[str, str], str] | None = None,
            domain: Callable[..., Any] | None = None, discrete: bool = False, own: Callable[..., Any] | None = None,
            mixed: bool = True, scalars: bool = True, weight: float = 1.0, own_unit: str = "work",
            pole: tuple[int, ...] = (), rounded_once: bool = False, steps: Callable[..., Any] | None = None) -> None:
    """An elementwise binary op. Operands of one dtype, or (`mixed`) two dtypes promoted as numpy does, or a
    tensor and a Python scalar (attrs["scalar"], on the right; attrs["reverse"] puts it on the left)."""
    out = out or (lambda d: d)

    def sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
        i = pick(rng, pool, lambda t: t[1] in dtypes)
        if i is None:
            dt = rng.choice(list(dtypes))
            a: Src = new(rand_shape(rng), dt, domain_for(rng, dt))
            shape = tuple(a["new"]["shape"])
        else:
            a, shape, dt = i, pool[i][0], pool[i][1]
        if scalars and rng.random() < 0.25:
            s = _scalar_for(rng, dt, name)
            if name in ("lshift", "rshift") or (is_int(dt) and isinstance(s, float) and name in ("and", "or", "xor")):
                s = abs(int(s)) if dt.startswith("u") else int(s)  # -2 does not fit an unsigned operand
            return [a], {"scalar": s, "reverse": name not in ("lshift", "rshift", "pow") and rng.random() < 0.3}
        dt2 = dt
        if mixed and rng.random() < 0.2:
            dt2 = rng.choice([d for d in dtypes if d in ALL_DTYPES])
        want = partner_shape(rng, shape)
        j = pick(rng, pool, lambda t: t[1] == dt2 and _fits(t[0], shape) and t[0] != () or t[0] == want)
        if j is None or rng.random() < 0.3 or name in ("lshift", "rshift"):  # shift amounts: 0..7 only
            dom = "shift" if name in ("lshift", "rshift") else "nonneg_small" if name == "pow" and is_int(dt2) \
                else domain_for(rng, dt2)
            b: Src = new(want, dt2, dom)
        else:
            b = j
        return ([b, a] if rng.random() < 0.2 and name not in ("lshift", "rshift", "pow") else [a, b]), {}

    def types(ts: list[TT], attrs: dict[str, Any]) -> tuple[str, str]:
        _need(len(ts) == (1 if "scalar" in attrs else 2), f"{name} takes two operands (one with a scalar)")
        if "scalar" in attrs:
            p = _weak(ts[0][1], attrs["scalar"])
        else:
            p = promote(ts[0][1], ts[1][1])
        _need(p in dtypes, f"{name} does not take {p}")
        return p, out(p)

    def infer(ts: list[TT], attrs: dict[str, Any]) -> TT:
        _, o = types(ts, attrs)
        shape = ts[0][0] if "scalar" in attrs else _bcast(ts[0][0], ts[1][0])
        return shape, o

    def code(names: list[str], attrs: dict[str, Any]) -> str:
        """`eng` is "({0} + {1})"-like; a method form "{0}.maximum({1})" is used for scalars too."""
        if "scalar" in attrs:
            s = repr(attrs["scalar"])
            if attrs.get("reverse"):
                return eng.format(s, names[0]) if not eng.startswith("{0}.") else eng.format(names[0], s)
            return eng.format(names[0], s)
        return eng.format(names[0], names[1])

    def ref(rs: list[Ref], attrs: dict[str, Any], ot: TT) -> Ref:
        p, o = types([(r.shape, r.dtype) for r in rs], attrs)
        if "scalar" in attrs:
            s = R.exact(np.array(attrs["scalar"], dtype=R.NP_DTYPES[p]))
            rs = [s, rs[0]] if attrs.get("reverse") else [rs[0], s]
        rs = [R.cast(r, p) for r in rs]
        c = compute(p, o) if compute else ("float64" if is_float(o) or is_float(p) else p)
        dom = domain
        if domain is _quotient_domain:  # this domain depends on the dtype the engine divides in
            dom = lambda a, b: _quotient_domain(a, b, p)  # noqa: E731
        return R.elementwise(fn, rs, o, compute=c, domain=dom, discrete=discrete, own=own, own_unit=own_unit,
                             pole=pole, rounded_once=rounded_once and is_float(o), steps=steps, product=name == "mul")

    # arity None: one tensor input with a scalar, else two
    _add(OpSpec(name, "elementwise", None, sample, infer, code, ref, defaults={"reverse": False}, weight=weight))


def _fits(a: Shape, b: Shape) -> bool:
    try:
        return _bcast(a, b) == tuple(b)
    except ValueError:
        return False


_N = _F + _I
_NB = _N + ("bool",)
# +, -, *, / are one IEEE operation each: with exact operands the engine's result is exactly the reference's
_binary("add", _NB, np.add, "({0} + {1})", weight=2.0, rounded_once=True)


def _device_of(n: str) -> str:
    """The expression for one device of a value (a sharded one's first)."""
    return f"{n}.device if isinstance({n}.device, str) else {n}.device[0]"


def _arange_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    i = pick(rng, pool, lambda t: len(t[0]) >= 1 and t[1] != "bool")
    if i is None:
        dt = rng.choice([d for d in ALL_DTYPES if d != "bool"])
        i_src: Src = new(rand_shape(rng) or (5,), dt, domain_for(rng, dt))
    else:
        i_src, dt = i, pool[i][1]
    start: float
    step: float
    if is_int(dt):  # values from the loop index: narrow ranges, wrapping past the dtype's limits now and then
        start, step = rng.choice((0, 0, 1, -5, 100, 250, 32760)), rng.choice((1, 1, 2, 3, -1, -2, 7, 9))
    else:
        start, step = rng.choice((0, 0.5, -2.5, 1000.25)), rng.choice((1, 0.5, -0.25, 3))
    # stop one step past the last value (frac 1), or part of a step past it: the length is rounded up
    frac = 1 if rng.random() < 0.6 else rng.choice((0.5, 0.25, 0.75))
    return [i_src], {"start": start, "step": step, "add": rng.random() < 0.5, "frac": frac}


def _arange_stop(ns: list[str], a: dict[str, Any]) -> str:
    """The stop that gives shape[-1] values: start + step * (n - 1 + frac), frac of a step in (0, 1] (for an int
    step, whole units past the last value, at least one)."""
    start, step, frac = a["start"], a["step"], a.get("frac", 1)
    if frac == 1:
        return f"{start!r} + {step!r} * {ns[0]}.shape[-1]"
    if isinstance(step, int):
        part = max(1, round(frac * abs(step))) * (1 if step > 0 else -1)
        return f"{start!r} + {step!r} * ({ns[0]}.shape[-1] - 1) + {part!r}"
    return f"{start!r} + {step!r} * ({ns[0]}.shape[-1] - 1 + {frac!r})"


def _arange_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    _need(len(ts[0][0]) >= 1 and ts[0][1] != "bool", f"arange along the last axis of {ts[0]}")
    return ts[0]


def _arange_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    n, dt = ot[0][-1], ot[1]
    i = np.arange(n)
    vals = a["start"] + a["step"] * (i if is_int(dt) else i.astype(np.float64))
    row = R.exact(vals.astype(R.NP_DTYPES[dt])) if is_int(dt) else R.cast(R.exact(vals), dt)
    if not a["add"]:  # the index values alone, broadcast to the input's shape
        return Ref(*(np.broadcast_to(v, ot[0]).copy() for v in (row.value, row.err, row.undef)))
    return OPS["add"].ref([rs[0], row], {}, ot)


# Tensor.arange along the last axis, added to a value or alone (expanded to its shape): integers computed from the
# loop index, whose narrow ranges the symbolic layer's fixed-width rules (wrapping, casts) reason about
_add(OpSpec("arange", "elementwise", 1, _arange_sample, _arange_infer,
            lambda ns, a: f"({ns[0]} + " * a["add"] + f"Tensor.arange({a['start']!r}, {_arange_stop(ns, a)}, "
                          f"{a['step']!r}, dtype={ns[0]}.dtype, device={_device_of(ns[0])})" +
                          (")" if a["add"] else f".expand({ns[0]}.shape)"),
            _arange_ref, defaults={"add": True, "frac": 1}, weight=0.6))
def _linspace_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    i = pick(rng, pool, lambda t: len(t[0]) >= 1 and is_float(t[1]))
    src: Src = i if i is not None else new(rand_shape(rng) or (5,), rng.choice(FLOATS), "normal")
    start = rng.choice((0.0, -1.0, 0.1, 2.5, 1000.25))
    stop = rng.choice((1.0, -3.0, 0.7, start, 1e-3, 7.0))  # stop == start: a constant row
    return [src], {"start": start, "stop": stop, "add": rng.random() < 0.5}


def _linspace_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    row = R.cast(R.exact(np.linspace(a["start"], a["stop"], ot[0][-1])), ot[1])
    if not a["add"]:
        return Ref(*(np.broadcast_to(v, ot[0]).copy() for v in (row.value, row.err, row.undef)))
    return OPS["add"].ref([rs[0], row], {}, ot)


# Tensor.linspace along the last axis (numpy's, endpoint included: the last element is stop exactly), added to a
# float value or alone
_add(OpSpec("linspace", "elementwise", 1, _linspace_sample,
            lambda ts, a: (_need(len(ts[0][0]) >= 1 and is_float(ts[0][1]), f"linspace along {ts[0]}"), ts[0])[1],
            lambda ns, a: f"({ns[0]} + " * a["add"] + f"Tensor.linspace({a['start']!r}, {a['stop']!r}, "
                          f"{ns[0]}.shape[-1], dtype={ns[0]}.dtype, device={_device_of(ns[0])})" +
                          (")" if a["add"] else f".expand({ns[0]}.shape)"),
            _linspace_ref, defaults={"add": True}, weight=0.4))


def _eye_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    i = pick(rng, pool, lambda t: len(t[0]) >= 2 and t[1] != "bool")
    src: Src = i if i is not None else new(rand_shape(rng, 2), rng.choice([d for d in ALL_DTYPES if d != "bool"]),
                                          "normal")
    return [src], {"k": rng.choice((0, 0, 1, -1, 2, -3, 5)), "add": rng.random() < 0.6}


def _eye_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    eye = R.exact(np.eye(ot[0][-2], ot[0][-1], a["k"]).astype(R.NP_DTYPES[ot[1]]))
    if not a["add"]:
        return Ref(*(np.broadcast_to(v, ot[0]).copy() for v in (eye.value, eye.err, eye.undef)))
    return OPS["add"].ref([rs[0], eye], {}, ot)


# Tensor.eye of the last two axes' sizes, diagonal k (above or below, or past the matrix), added to a value or alone
_add(OpSpec("eye", "elementwise", 1, _eye_sample,
            lambda ts, a: (_need(len(ts[0][0]) >= 2 and ts[0][1] != "bool", f"eye of {ts[0]}"), ts[0])[1],
            lambda ns, a: f"({ns[0]} + " * a["add"] + f"Tensor.eye({ns[0]}.shape[-2], {ns[0]}.shape[-1], "
                          f"{a['k']}, dtype={ns[0]}.dtype, device={_device_of(ns[0])})" +
                          (")" if a["add"] else f".expand({ns[0]}.shape)"),
            _eye_ref, defaults={"add": True, "k": 0}, weight=0.4))


_binary("sub", _N, np.subtract, "({0} - {1})", weight=1.5, rounded_once=True)
_binary("mul", _NB, np.multiply, "({0} * {1})", weight=2.0, rounded_once=True)
_binary("truediv", _NB, lambda a, b: a / b, "({0} / {1})", out=lambda d: d if is_float(d) else "float64",
        compute=lambda p, o: "float64", domain=lambda a, b: b != 0, pole=(1,), rounded_once=True)


def _quotient_domain(a: np.ndarray, b: np.ndarray, dt: str) -> np.ndarray:
    """Integers: everywhere. Floats: where a/b, rounded in `dt` as the engine computes it, cannot land on the
    other side of an integer (so floor(a/b) is well defined), and where a/b is exactly a whole number small enough
    to be exact in `dt` (6.0 // 3.0 is 2.0 however it is computed)."""
    if not is_float(dt):
        return np.ones(np.shape(a), bool)
    q = a / b
    near = np.abs(q - np.round(q)) <= 8 * R.eps(dt) * np.maximum(np.abs(q), 1)
    whole = (np.fmod(a, b) == 0) & (np.abs(q) * R.eps(dt) < 0.25)
    return (b != 0) & np.isfinite(q) & (~near | whole)


def _int_or_float(int_fn: Callable[..., Any], float_fn: Callable[..., Any]) -> Callable[..., Any]:
    def fn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return float_fn(a, b) if a.dtype.kind == "f" else int_fn(a, b)
    return fn


_binary("floordiv", _N, _int_or_float(np.floor_divide, lambda a, b: np.floor(a / b)), "({0} // {1})",
        discrete=True, domain=_quotient_domain, weight=1.3)
_binary("mod", _N, _int_or_float(np.remainder, lambda a, b: a - np.floor(a / b) * b), "({0} % {1})",
        domain=_quotient_domain, own=lambda a, b, o: 4 * (np.abs(a) + np.abs(b)), own_unit="out", weight=1.3,
        steps=lambda a, b: np.floor(a / b))  # a % b jumps by b where a / b crosses an integer
_binary("pow", _N, lambda a, b: np.power(a, b if a.dtype.kind == "f" else np.maximum(b, 0)), "({0} ** {1})",
        scalars=True, mixed=False,
        # IEEE pow: a negative or zero base is defined with an integral exponent (-0 ** -3 is -inf)
        domain=lambda a, b: ((a > 0) | (b == np.trunc(b))) if a.dtype.kind == "f" else (b >= 0),
        own=lambda a, b, o: np.abs(o) * (4 + 2 * np.abs(b * np.log(np.abs(a) + 1e-300))))
_binary("maximum", _NB, np.maximum, "{0}.maximum({1})", domain=R.signed_zeros_agree)
_binary("minimum", _NB, np.minimum, "{0}.minimum({1})", domain=R.signed_zeros_agree)
for _name, _fn, _op in (("lt", np.less, "({0} < {1})"), ("le", np.less_equal, "({0} <= {1})"),
                        ("gt", np.greater, "({0} > {1})"), ("ge", np.greater_equal, "({0} >= {1})"),
                        ("eq", np.equal, "({0} == {1})"), ("ne", np.not_equal, "({0} != {1})")):
    _binary(_name, _NB, _fn, _op, out=lambda d: "bool", discrete=True, weight=0.6)
for _name, _bfn, _op in (("and", np.bitwise_and, "({0} & {1})"), ("or", np.bitwise_or, "({0} | {1})"),
                         ("xor", np.bitwise_xor, "({0} ^ {1})")):
    _binary(_name, _I + ("bool",), _bfn, _op, weight=0.6)
for _name, _lfn in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                    ("logical_xor", np.logical_xor)):  # each operand != 0, whatever its dtype (NaN is true)
    _binary(_name, _NB, _lfn, "{0}.%s({1})" % _name, out=lambda d: "bool", discrete=True, weight=0.3)
_binary("lshift", _I, np.left_shift, "({0} << {1})", mixed=False, domain=lambda a, b: (b >= 0) & (b < 8), weight=0.4)
_binary("rshift", _I, np.right_shift, "({0} >> {1})", mixed=False, domain=lambda a, b: (b >= 0) & (b < 8),
        weight=0.4)


# ------------------------------------------------------------------ where, clip, cast


def _where_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    a = pick(rng, pool, lambda t: True)
    if a is None:
        return None
    shape, dt = pool[a]
    c = pick(rng, pool, lambda t: t[1] == "bool" and _fits(t[0], shape))
    cond: Src = c if c is not None and rng.random() < 0.7 else new(partner_shape(rng, shape), "bool", "bool")
    if rng.random() < 0.15:  # a condition of more dims than either value: it alone sets the result's shape
        cond = new((rng.choice((2, 3)), *shape), "bool", "bool")
    b = pick(rng, pool, lambda t: t[1] == dt and _fits(t[0], shape))
    other: Src = b if b is not None and rng.random() < 0.6 else new(partner_shape(rng, shape), dt,
                                                                       domain_for(rng, dt))
    if rng.random() < 0.2:  # a Python scalar for either value (its weak dtype meets the other's)
        side = rng.choice((1, 2))
        return [cond, a], {"scalar": _scalar_for(rng, dt, "where"), "side": side}
    # the larger value on either side: the else operand sets the shape as often as the then operand
    return ([cond, a, other] if rng.random() < 0.6 else [cond, other, a]), {}


def _where_infer(ts: list[TT], attrs: dict[str, Any]) -> TT:
    _need(ts[0][1] == "bool", f"where: the condition must be bool, got {ts[0][1]}")
    if "scalar" in attrs:
        _need(len(ts) == 2 and attrs.get("side") in (1, 2), f"where with a scalar: {attrs}")
        return _bcast(ts[0][0], ts[1][0]), _weak(ts[1][1], attrs["scalar"])
    _need(len(ts) == 3, "where takes a condition and two values")
    return _bcast(_bcast(ts[0][0], ts[1][0]), ts[2][0]), promote(ts[1][1], ts[2][1])


def _where_code(ns: list[str], a: dict[str, Any]) -> str:
    if "scalar" in a:
        vals = [repr(a["scalar"]), ns[1]] if a["side"] == 1 else [ns[1], repr(a["scalar"])]
        return f"{ns[0]}.where({vals[0]}, {vals[1]})"
    return f"{ns[0]}.where({ns[1]}, {ns[2]})"


def _where_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    if "scalar" in a:
        s = R.exact(np.array(a["scalar"], dtype=R.NP_DTYPES[ot[1]]))
        return R.where(rs[0], s, rs[1], ot[1]) if a["side"] == 1 else R.where(rs[0], rs[1], s, ot[1])
    return R.where(rs[0], rs[1], rs[2], ot[1])


_add(OpSpec("where", "elementwise", None, _where_sample, _where_infer, _where_code, _where_ref, weight=1.2))


def _clip_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    i = pick(rng, pool, lambda t: t[1] in _F or t[1] in _S)
    if i is None:
        return None
    dt = pool[i][1]
    lo, hi = (-1.0, 1.5) if is_float(dt) else (-3, 5)
    if rng.random() < 0.25:  # crossed bounds: every element is the max (the min applied first, then the max)
        lo, hi = hi, lo
    return [i], {"min": lo if rng.random() < 0.8 else None, "max": hi}


def _clip_ref(rs: list[Ref], attrs: dict[str, Any], ot: TT) -> Ref:
    x = rs[0]
    if attrs.get("min") is not None:
        x = R.elementwise(np.maximum, [x, R.exact(np.array(attrs["min"], R.NP_DTYPES[x.dtype]))], ot[1])
    return R.elementwise(np.minimum, [x, R.exact(np.array(attrs["max"], R.NP_DTYPES[x.dtype]))], ot[1])


_add(OpSpec("clip", "elementwise", 1, _clip_sample,
            lambda ts, a: (ts[0][0], _need(ts[0][1] in _F + _S, "clip: numeric input") or ts[0][1]),
            lambda ns, a: f"{ns[0]}.clip({a.get('min')!r}, {a['max']!r})", _clip_ref, weight=1.0))


def _cast_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    """Any target half the time; else one where conversions go wrong: an integer to another integer type (sign or
    zero extension, truncation) or to bool, a float to an integer type or to bool (NaN, the infinities, -0)."""
    i = pick(rng, pool, lambda t: True)
    if i is None:
        return None
    src = pool[i][1]
    if rng.random() < 0.5 or not (is_int(src) or is_float(src)):
        return [i], {"dtype": rng.choice(ALL_DTYPES)}
    return [i], {"dtype": rng.choice([d for d in ("bool", *INTS) if d != src])}


_add(OpSpec("cast", "cast", 1, _cast_sample,
            lambda ts, a: (ts[0][0], _need(a["dtype"] in ALL_DTYPES, f"cast: unknown dtype {a['dtype']}") or
                           a["dtype"]),
            lambda ns, a: f"{ns[0]}.cast(dtypes.{a['dtype']})", lambda rs, a, ot: R.cast(rs[0], a["dtype"]),
            defaults={}, weight=1.5))

_SAME_SIZE = {1: ("int8", "uint8", "float8_e4m3fn", "float8_e5m2"), 2: ("int16", "uint16", "float16", "bfloat16"),
              4: ("int32", "uint32", "float32"), 8: ("int64", "uint64", "float64")}


def _bitcast_sample(rng: random.Random, pool: list[TT]) -> tuple[list[Src], dict[str, Any]] | None:
    i = pick(rng, pool, lambda t: t[1] != "bool")
    if i is None:
        return None
    return [i], {"dtype": rng.choice(_SAME_SIZE[R.NP_DTYPES[pool[i][1]].itemsize])}


def _bitcast_infer(ts: list[TT], attrs: dict[str, Any]) -> TT:
    _need(ts[0][1] != "bool" and attrs["dtype"] in _SAME_SIZE[R.NP_DTYPES[ts[0][1]].itemsize],
          f"bitcast: {ts[0][1]} to {attrs['dtype']} changes the size")
    return ts[0][0], attrs["dtype"]


def _bitcast_ref(rs: list[Ref], attrs: dict[str, Any], ot: TT) -> Ref:
    x = rs[0]
    v = np.ascontiguousarray(x.value).view(R.NP_DTYPES[attrs["dtype"]]).reshape(x.value.shape)  # 0-d stays 0-d
    # bits of an inexact value mean nothing; nor do a NaN's (IEEE 754 leaves the sign and payload of an operation's
    # NaN open: numpy's inf - inf on x86 is negative, the engine's float8 conversion makes every NaN positive)
    nan = np.isnan(x.value.astype(np.float64)) if is_float(str(x.value.dtype)) else False
    return Ref(v, np.zeros(v.shape), x.undef | (x.err > 0) | nan)


_add(OpSpec("bitcast", "cast", 1, _bitcast_sample, _bitcast_infer,
            lambda ns, a: f"{ns[0]}.bitcast(dtypes.{a['dtype']})", _bitcast_ref, weight=0.3))


# ------------------------------------------------------------------ movement


def _mv(name: str, sample: Callable[..., Any], infer: Callable[[Shape, dict[str, Any]], Shape],
        eng: Callable[[str, dict[str, Any]], str], np_fn: Callable[[np.ndarray, Any, dict[str, Any]], np.ndarray],
        weight: float = 1.0, defaults: dict[str, Any] | None = None) -> None:
    """A movement op: the same numpy function moves value, error and mask."""

    def ref(rs: list[Ref], attrs: dict[str, Any], ot: TT) -> Ref:
        return R.movement(rs[0], lambda a, fill: np_fn(a, fill, attrs), fill=attrs.get("value", 0))

    _add(OpSpec(name, "movement", 1, sample, lambda ts, a: (infer(ts[0][0], a), ts[0][1]),
                lambda ns, a: eng(ns[0], a), ref, defaults=defaults or {}, weight=weight))


def _one(rng: random.Random, pool: list[TT], ok: Callable[[TT], bool] = lambda t: True) -> int | None:
    return pick(rng, pool, ok)


def _factor(rng: random.Random, n: int) -> Shape:
    """A random shape with `n` elements (up to 5 dims, with some 1s)."""
    if n == 0:
        return tuple(rng.choice((0, 2, 3)) if i == 0 else rng.choice((1, 2)) for i in range(rng.randint(1, 3)))
    primes, m, p = [], n, 2
    while p * p <= m:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    if m > 1:
        primes.append(m)
    k = rng.randint(1, min(4, max(len(primes), 1)))
    dims = [1] * k
    for q in primes:
        dims[rng.randrange(k)] *= q
    if rng.random() < 0.3:
        dims.insert(rng.randrange(len(dims) + 1), 1)
    return tuple(dims)


def _reshape_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool)
    return None if i is None else ([i], {"shape": list(_factor(rng, math.prod(pool[i][0])))})


def _reshape_infer(s: Shape, a: dict[str, Any]) -> Shape:
    _need(math.prod(a["shape"]) == math.prod(s) and all(d >= 0 for d in a["shape"]), f"reshape {s} to {a['shape']}")
    return tuple(a["shape"])


_mv("reshape", _reshape_sample, _reshape_infer, lambda t, a: f"{t}.reshape({tuple(a['shape'])})",
    lambda x, f, a: x.reshape(a["shape"]), weight=1.2)


def _permute_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 2)
    if i is None:
        return None
    n = len(pool[i][0])
    order = list(range(n))
    form = rng.choice(("permute", "permute", "transpose", "T"))
    if form == "transpose":  # two axes swapped, named from either end
        a, b = rng.sample(range(n), 2)
        order[a], order[b] = b, a
        return [i], {"order": order, "form": form, "axes": [a - n if rng.random() < 0.5 else a,
                                                             b - n if rng.random() < 0.5 else b]}
    if form == "T":
        return [i], {"order": order[::-1], "form": form}
    rng.shuffle(order)
    return [i], {"order": order}


def _permute_code(t: str, a: dict[str, Any]) -> str:
    """permute(order), or the same order as transpose(a, b) (two axes swapped) or .T (all reversed)."""
    form = a.get("form", "permute")
    if form == "transpose":
        return f"{t}.transpose({a['axes'][0]}, {a['axes'][1]})"
    return f"{t}.T" if form == "T" else f"{t}.permute({tuple(a['order'])})"


def _permute_infer(s: Shape, a: dict[str, Any]) -> Shape:
    n, order, form = len(s), a["order"], a.get("form", "permute")
    _need(sorted(order) == list(range(n)), f"permute {order} of {s}")
    if form == "transpose":
        x, y = (v % n if -n <= v < n else -1 for v in a["axes"])
        swapped = list(range(n))
        swapped[x], swapped[y] = y, x
        _need(min(x, y) >= 0 and x != y and swapped == order, f"transpose {a['axes']} of {s} as {order}")
    _need(form != "T" or order == list(range(n))[::-1], f".T of {s} as {order}")
    return tuple(s[o] for o in order)


_mv("permute", _permute_sample, _permute_infer, _permute_code, lambda x, f, a: np.transpose(x, a["order"]),
    defaults={"form": "permute"})


def _expand_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: 1 in t[0] or len(t[0]) < 3)
    if i is None:
        return None
    s = pool[i][0]
    lead = tuple(rng.choice((2, 3, 5)) for _ in range(rng.randint(0, 2 if len(s) < 3 else 0)))
    shape = lead + tuple(rng.choice((2, 3, 4, 7)) if d == 1 and rng.random() < 0.7 else d for d in s)
    return [i], {"shape": list(shape), "broadcast_to": rng.random() < 0.3}


def _expand_infer(s: Shape, a: dict[str, Any]) -> Shape:
    shape = tuple(a["shape"])
    _need(len(shape) >= len(s) and _fits(s, shape) and math.prod(shape) <= 1 << 16, f"expand {s} to {shape}")
    return shape


_mv("expand", _expand_sample, _expand_infer,
    lambda t, a: f"{t}.{'broadcast_to' if a.get('broadcast_to') else 'expand'}({tuple(a['shape'])})",
    lambda x, f, a: np.broadcast_to(x, a["shape"]), defaults={"broadcast_to": False})


def _pad_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1)
    if i is None:
        return None
    dt = pool[i][1]
    pads = [[rng.choice((0, 0, 1, 2, 3)), rng.choice((0, 0, 1, 2))] for _ in pool[i][0]]
    value: Any = 0
    if rng.random() < 0.3:
        value = rng.choice((1.5, -2.0)) if is_float(dt) else True if dt == "bool" else rng.choice((1, 7))
    return [i], {"pads": pads, "value": value}


def _pad_infer(s: Shape, a: dict[str, Any]) -> Shape:
    _need(len(a["pads"]) == len(s) and all(p >= 0 for pr in a["pads"] for p in pr), f"pad {a['pads']} of {s}")
    return tuple(d + b + e for d, (b, e) in zip(s, a["pads"]))


_mv("pad", _pad_sample, _pad_infer, lambda t, a: f"{t}.pad({[tuple(p) for p in a['pads']]}, value={a['value']!r})",
    lambda x, f, a: np.pad(x, a["pads"], constant_values=f) if x.size or x.ndim == 0 else
    np.full(tuple(d + b + e for d, (b, e) in zip(x.shape, a["pads"])), f, x.dtype), weight=1.2,
    defaults={"value": 0})


def _shrink_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1)
    if i is None:
        return None
    bounds = []
    for d in pool[i][0]:
        s = rng.randint(0, d)
        bounds.append([s, rng.randint(s, d)] if rng.random() < 0.7 else [0, d])
    return [i], {"bounds": bounds}


def _shrink_infer(s: Shape, a: dict[str, Any]) -> Shape:
    _need(len(a["bounds"]) == len(s) and all(0 <= b <= e <= d for (b, e), d in zip(a["bounds"], s)),
          f"shrink {a['bounds']} of {s}")
    return tuple(e - b for b, e in a["bounds"])


_mv("shrink", _shrink_sample, _shrink_infer, lambda t, a: f"{t}.shrink({[tuple(b) for b in a['bounds']]})",
    lambda x, f, a: x[tuple(slice(b, e) for b, e in a["bounds"])])


def _flip_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1)
    if i is None:
        return None
    n = len(pool[i][0])
    return [i], {"axes": sorted(rng.sample(range(n), rng.randint(1, n)))}


_mv("flip", _flip_sample, lambda s, a: (_norm_axes(a["axes"], len(s)), s)[1],
    lambda t, a: f"{t}.flip({tuple(a['axes'])})", lambda x, f, a: np.flip(x, tuple(a["axes"])))


def _slice_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1)
    if i is None:
        return None
    items: list[Any] = []
    for d in pool[i][0]:
        r = rng.random()
        if r < 0.15 and d > 0:
            items.append(rng.randrange(-d, d))  # an integer drops the axis
        elif r < 0.7:
            step = rng.choice((1, 2, 3, -1, -2))
            items.append([rng.choice((None, 0, 1, -1, d // 2)), rng.choice((None, d, -1, d // 2 + 1)), step])
        else:
            items.append([None, None, None])
    return [i], {"index": items}


def _py_index(items: list[Any]) -> tuple[Any, ...]:
    return tuple(it if isinstance(it, int) else slice(*it) for it in items)


def _index_src(items: list[Any]) -> str:
    """Python source of a numpy index: `2, ::-1, 1:3`."""
    def part(it: Any) -> str:
        if isinstance(it, int):
            return str(it)
        a, b, c = ("" if v is None else str(v) for v in it)
        return f"{a}:{b}:{c}" if c else f"{a}:{b}"
    return ", ".join(part(it) for it in items) + ("," if len(items) == 1 else "")


def _index_obj_src(items: list[Any]) -> str:
    """Python source of an index as a value (outside brackets): `(slice(None, 3, 2), 1)`."""
    return "(" + "".join((str(it) if isinstance(it, int) else f"slice({it[0]!r}, {it[1]!r}, {it[2]!r})") + ", "
                         for it in items) + ")"


def _axis_src(axis: Any) -> str:
    return repr(axis if axis is None or isinstance(axis, int) else tuple(axis))


def _slice_infer(s: Shape, a: dict[str, Any]) -> Shape:
    items = a["index"]
    _need(len(items) <= len(s), f"index {items} of {s}")
    out = []
    for it, d in zip(items, s):
        if isinstance(it, int):
            _need(-d <= it < d, f"index {it} out of range for size {d}")
            continue
        _need(isinstance(it, list) and len(it) == 3 and it[2] != 0, f"bad slice {it}")
        out.append(len(range(*slice(*it).indices(d))))
    return tuple(out) + tuple(s[len(items):])


_mv("slice", _slice_sample, _slice_infer, lambda t, a: f"{t}[{_index_src(a['index'])}]",
    lambda x, f, a: x[_py_index(a["index"])], weight=1.2)


def _repeat_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: math.prod(t[0]) <= 256)
    if i is None:
        return None
    tile = rng.random() < 0.35  # numpy's tile: fewer reps than dims are padded with leading 1s
    n = len(pool[i][0]) + (rng.choice((-2, -1, -1, 0, 1)) if tile else rng.choice((0, 0, 1)))
    return [i], {"repeats": [rng.choice((1, 1, 2, 3)) for _ in range(max(n, 1))], "tile": tile}


def _repeat_infer(s: Shape, a: dict[str, Any]) -> Shape:
    reps = a["repeats"]
    _need((a.get("tile") or len(reps) >= len(s)) and len(reps) >= 1 and all(r >= 0 for r in reps),
          f"repeat {reps} of {s}")
    reps = [1] * (len(s) - len(reps)) + list(reps)
    full = (1,) * (len(reps) - len(s)) + tuple(s)
    return tuple(r * d for r, d in zip(reps, full))


def _repeat_code(t: str, a: dict[str, Any]) -> str:
    reps = a["repeats"]
    if a.get("tile"):
        return f"{t}.tile({reps[0] if len(reps) == 1 else tuple(reps)})"
    return f"{t}.repeat({tuple(reps)})"


_mv("repeat", _repeat_sample, _repeat_infer, _repeat_code, lambda x, f, a: np.tile(x, a["repeats"]), weight=0.6,
    defaults={"tile": False})


def _value_and_axis(rng: random.Random, pool: list[TT], least: int) -> tuple[int, Shape, int] | None:
    """A value of the pool with an axis of at least `least` elements: its index, shape and that axis."""
    i = _one(rng, pool, lambda t: len(t[0]) >= 1 and max(t[0]) >= least)
    if i is None:
        return None
    s = pool[i][0]
    return i, s, rng.choice([k for k, d in enumerate(s) if d >= least])


def _split_sample(rng: random.Random, pool: list[TT]) -> Any:
    got = _value_and_axis(rng, pool, 2)
    if got is None:
        return None
    i, s, axis = got
    size = rng.randint(1, s[axis] - 1)
    pieces = -(-s[axis] // size)
    return [i], {"size": size, "axis": axis, "piece": rng.randrange(pieces)}


def _split_infer(s: Shape, a: dict[str, Any]) -> Shape:
    ax, size, piece = a["axis"], a["size"], a["piece"]
    _need(0 <= ax < len(s) and size >= 1 and 0 <= piece and piece * size < max(s[ax], 1), f"split {a} of {s}")
    return tuple(min(size, s[ax] - piece * size) if k == ax else d for k, d in enumerate(s))


_mv("split", _split_sample, _split_infer, lambda t, a: f"{t}.split({a['size']}, {a['axis']})[{a['piece']}]",
    lambda x, f, a: np.take(x, range(a["piece"] * a["size"], min((a["piece"] + 1) * a["size"], x.shape[a["axis"]])),
                            axis=a["axis"]), weight=0.5)


def _chunk_sample(rng: random.Random, pool: list[TT]) -> Any:
    got = _value_and_axis(rng, pool, 1)
    if got is None:
        return None
    i, s, axis = got
    n = rng.randint(1, s[axis] + 1)  # more chunks than elements too: torch gives fewer pieces then
    size = -(-s[axis] // n)
    return [i], {"n": n, "axis": axis - len(s) if rng.random() < 0.2 else axis,
                 "piece": rng.randrange(-(-s[axis] // size))}


def _chunk_range(s: Shape, a: dict[str, Any]) -> tuple[int, range]:
    _need(-len(s) <= a["axis"] < len(s) and a["n"] >= 1, f"chunk {a} of {s}")
    ax = a["axis"] % len(s)
    size = max(-(-s[ax] // a["n"]), 1)
    _need(0 <= a["piece"] and a["piece"] * size < max(s[ax], 1), f"chunk {a} of {s}: no piece {a['piece']}")
    return ax, range(a["piece"] * size, min((a["piece"] + 1) * size, s[ax]))


_mv("chunk", _chunk_sample, lambda s, a: tuple(len(_chunk_range(s, a)[1]) if k == _chunk_range(s, a)[0] else d
                                                for k, d in enumerate(s)),
    lambda t, a: f"{t}.chunk({a['n']}, {a['axis']})[{a['piece']}]",
    lambda x, f, a: np.take(x, _chunk_range(x.shape, a)[1], axis=_chunk_range(x.shape, a)[0]), weight=0.4)


def _flatten_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool)
    if i is None:
        return None
    n = len(pool[i][0])
    if n == 0:
        return [i], {"start": 0, "end": -1}
    start = rng.randrange(n)
    end = rng.randrange(start, n)
    return [i], {"start": start - n if rng.random() < 0.2 else start, "end": end - n if rng.random() < 0.4 else end}


def _flatten_infer(s: Shape, a: dict[str, Any]) -> Shape:
    if not s:
        return (1,)
    _need(-len(s) <= a["start"] < len(s) and -len(s) <= a["end"] < len(s), f"flatten {a} of {s}")
    lo, hi = a["start"] % len(s), a["end"] % len(s)
    _need(lo <= hi, f"flatten {a} of {s}: start after end")
    return s[:lo] + (math.prod(s[lo:hi + 1]),) + s[hi + 1:]


_mv("flatten", _flatten_sample, _flatten_infer, lambda t, a: f"{t}.flatten({a['start']}, {a['end']})",
    lambda x, f, a: x.reshape(_flatten_infer(x.shape, a)), weight=0.4)


def _unflatten_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1)
    if i is None:
        return None
    s = pool[i][0]
    axis = rng.randrange(len(s))
    sizes = list(_factor(rng, s[axis])) if s[axis] else [0, rng.choice((1, 2))]
    if s[axis] and rng.random() < 0.3:
        sizes[rng.randrange(len(sizes))] = -1
    return [i], {"axis": axis - len(s) if rng.random() < 0.2 else axis, "sizes": sizes}


def _unflatten_infer(s: Shape, a: dict[str, Any]) -> Shape:
    _need(-len(s) <= a["axis"] < len(s), f"unflatten {a} of {s}")
    ax, sizes = a["axis"] % len(s), list(a["sizes"])
    if sizes.count(-1) == 1:
        known = math.prod(x for x in sizes if x != -1)
        _need(known > 0 and s[ax] % known == 0, f"unflatten {a} of {s}")
        sizes = [s[ax] // known if x == -1 else x for x in sizes]
    _need(all(x >= 0 for x in sizes) and math.prod(sizes) == s[ax], f"unflatten {a} of {s}")
    return s[:ax] + tuple(sizes) + s[ax + 1:]


_mv("unflatten", _unflatten_sample, _unflatten_infer, lambda t, a: f"{t}.unflatten({a['axis']}, {a['sizes']!r})",
    lambda x, f, a: x.reshape(_unflatten_infer(x.shape, a)), weight=0.4)


def _squeeze_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: 1 in t[0])
    if i is None:
        return None
    return [i], {"axis": rng.choice([k for k, d in enumerate(pool[i][0]) if d == 1])}


_mv("squeeze", _squeeze_sample,
    lambda s, a: (_need(0 <= a["axis"] < len(s) and s[a["axis"]] == 1, f"squeeze {a} of {s}"),
                  s[:a["axis"]] + s[a["axis"] + 1:])[1],
    lambda t, a: f"{t}.squeeze({a['axis']})", lambda x, f, a: np.squeeze(x, a["axis"]), weight=0.4)


def _unsqueeze_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) < 4)
    return None if i is None else ([i], {"axis": rng.randint(0, len(pool[i][0]))})


_mv("unsqueeze", _unsqueeze_sample,
    lambda s, a: (_need(0 <= a["axis"] <= len(s), f"unsqueeze {a} of {s}"), s[:a["axis"]] + (1,) + s[a["axis"]:])[1],
    lambda t, a: f"{t}.unsqueeze({a['axis']})", lambda x, f, a: np.expand_dims(x, a["axis"]), weight=0.4)

_mv("contiguous", lambda rng, pool: (lambda i: None if i is None else ([i], {}))(_one(rng, pool)),
    lambda s, a: s, lambda t, a: f"{t}.contiguous()", lambda x, f, a: x, weight=0.6)


def _multi_sample(rng: random.Random, pool: list[TT], stack: bool) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= (0 if stack else 1))
    if i is None:
        return None
    shape, dt = pool[i]
    n = rng.choice((2, 2, 3))
    axis = rng.randrange(len(shape) + (1 if stack else 0)) if shape or stack else 0
    srcs: list[Src] = [i]
    for _ in range(n - 1):
        def ok(t: TT) -> bool:
            if t[1] != dt or len(t[0]) != len(shape):
                return False
            return all(a == b for k, (a, b) in enumerate(zip(t[0], shape)) if stack or k != axis)
        j = pick(rng, pool, ok)
        if j is not None and rng.random() < 0.6:
            srcs.append(j)
        else:
            s = list(shape)
            if not stack:
                s[axis] = rng.choice((1, 2, 3, 5))
            srcs.append(new(tuple(s), dt if rng.random() < 0.9 else rng.choice(ALL_DTYPES), domain_for(rng, dt)))
    rng.shuffle(srcs)
    return srcs, {"axis": axis}


def _cat_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s0 = ts[0][0]
    ax = a["axis"]
    _need(len(ts) >= 1 and len(s0) >= 1 and 0 <= ax < len(s0), f"cat axis {ax} of {s0}")
    for s, _ in ts:
        _need(len(s) == len(s0) and all(x == y for k, (x, y) in enumerate(zip(s, s0)) if k != ax),
              f"cat of {[t[0] for t in ts]} on axis {ax}")
    dt = ts[0][1]
    for _, d in ts[1:]:
        dt = promote(dt, d)
    return tuple(sum(s[ax] for s, _ in ts) if k == ax else d for k, d in enumerate(s0)), dt


def _stack_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s0 = ts[0][0]
    _need(all(s == s0 for s, _ in ts) and 0 <= a["axis"] <= len(s0), f"stack of {[t[0] for t in ts]}")
    dt = ts[0][1]
    for _, d in ts[1:]:
        dt = promote(dt, d)
    return s0[:a["axis"]] + (len(ts),) + s0[a["axis"]:], dt


def _cat_code(ns: list[str], a: dict[str, Any]) -> str:
    return f"Tensor.cat([{', '.join(ns)}], {a['axis']})"


def _stack_code(ns: list[str], a: dict[str, Any]) -> str:
    return f"Tensor.stack([{', '.join(ns)}], {a['axis']})"


_add(OpSpec("cat", "movement", None, lambda rng, pool: _multi_sample(rng, pool, False), _cat_infer, _cat_code,
            lambda rs, a, ot: R.concat(rs, a["axis"], ot[1]), weight=1.2))
_add(OpSpec("stack", "movement", None, lambda rng, pool: _multi_sample(rng, pool, True), _stack_infer,
            _stack_code, lambda rs, a, ot: R.stack(rs, a["axis"], ot[1]), weight=0.5))


def _gather_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = _one(rng, pool, lambda t: len(t[0]) >= 1 and all(d > 0 for d in t[0]))
    if i is None:
        return None
    s = pool[i][0]
    axis = rng.randrange(len(s))
    ishape = tuple(rng.choice((1, 2, 3, 5)) if k == axis else rng.randint(1, d) for k, d in enumerate(s))
    return [i, new(ishape, rng.choice(("int32", "int64")), f"index:{s[axis]}")], {"axis": axis}


def _gather_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (si, di) = ts
    ax = a["axis"]
    _need(is_int(di) and len(si) == len(s) and 0 <= ax < len(s) and
          all(x <= y for k, (x, y) in enumerate(zip(si, s)) if k != ax), f"gather {si} from {s} on axis {ax}")
    return tuple(si), dt


def _gather_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x, idx = rs
    ax = a["axis"]
    sub = tuple(slice(None) if k == ax else slice(0, d) for k, d in enumerate(idx.shape))
    i = idx.value.astype(np.int64)
    n = x.shape[ax]
    if ((i < -n) | (i >= n)).any():
        raise IndexError(f"gather: index out of range for axis {ax} of size {n}")
    i = np.where(i < 0, i + n, i)
    out = [np.take_along_axis(arr[sub], i, ax) for arr in (x.value, x.err, x.undef)]
    return Ref(out[0], out[1], out[2] | idx.undef)


_add(OpSpec("gather", "gather", 2, _gather_sample, _gather_infer, lambda ns, a: f"{ns[0]}.gather({a['axis']}, {ns[1]})",
            _gather_ref, weight=0.6))


# ------------------------------------------------------------------ reductions


def _red_sample(rng: random.Random, pool: list[TT], dts: Sequence[str], single: bool = False) -> Any:
    i: Src = pick(rng, pool, lambda t: t[1] in dts and len(t[0]) >= (1 if single else 0))
    if rng.random() < 0.05:  # a fresh value with an empty axis: a reduce over it is its identity (prod 1, all True)
        shape = list(rand_shape(rng, rng.randint(1, 3)))
        shape[rng.randrange(len(shape))] = 0
        dt = rng.choice(list(dts))
        i, nd = new(tuple(shape), dt, domain_for(rng, dt)), len(shape)
    elif i is None:
        return None
    else:
        nd = len(pool[i][0])
    if single:
        axis = None if rng.random() < 0.15 or nd == 0 else rng.randrange(nd)
    else:
        axis = _axis_set(rng, nd)
    return [i], {"axis": axis, "keepdim": rng.random() < 0.4}


def _reduced_shape(s: Shape, axis: Any, keepdim: bool) -> Shape:
    axes = _norm_axes(axis, len(s))
    return tuple(1 if k in axes else d for k, d in enumerate(s) if keepdim or k not in axes)


def _reduction(name: str, dts: Sequence[str], out: Callable[[str], str],
               ref: Callable[[Ref, tuple[int, ...], bool, TT], Ref], method: str,
               nonempty: bool = False, weight: float = 1.0) -> None:
    def infer(ts: list[TT], a: dict[str, Any]) -> TT:
        s, dt = ts[0]
        _need(dt in dts, f"{name} does not take {dt}")
        axes = _norm_axes(a["axis"], len(s))
        _need(not nonempty or all(s[k] > 0 for k in axes), f"{name} of an empty axis")
        return _reduced_shape(s, a["axis"], a["keepdim"]), out(dt)

    def refn(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
        return ref(rs[0], _norm_axes(a["axis"], rs[0].value.ndim), a["keepdim"], ot)

    _add(OpSpec(name, "reduce", 1, lambda rng, pool: _red_sample(rng, pool, dts), infer,
                lambda ns, a: f"{ns[0]}.{method}({_axis_src(a['axis'])}, keepdim={a['keepdim']})",
                refn, defaults={"keepdim": False}, weight=weight))


def _bin(fn: Callable[..., Any], a: Ref, b: Ref, out: str, **kw: Any) -> Ref:
    return R.elementwise(fn, [a, b], out, **kw)


def _stat(x: Ref) -> tuple[Ref, str]:
    st = R.stat_dtype(x.dtype)
    return R.cast(x, st), st


def _mean_ref(x: Ref, axes: tuple[int, ...], keep: bool, ot: TT) -> Ref:
    xs, st = _stat(x)
    n = R._count(x.shape, axes)
    s = R.reduce(xs, "sum", axes, keep, st)
    out = _bin(lambda a, b: a / b, s, R.exact(np.array(n if n else 0, R.NP_DTYPES[st])), st) if n else \
        R.elementwise(lambda a: a * np.nan, [s], st)
    return R.cast(out, ot[1])


def _var_ref(x: Ref, axes: tuple[int, ...], keep: bool, ot: TT, sqrt: bool = False) -> Ref:
    xs, st = _stat(x)
    n = R._count(x.shape, axes)
    m = _mean_ref(xs, axes, True, ((), st))
    d = _bin(np.subtract, xs, m, st)
    ss = R.reduce(_bin(np.multiply, d, d, st), "sum", axes, keep, st)
    v = _bin(lambda a, b: a / b, ss, R.exact(np.array(n, R.NP_DTYPES[st])), st, domain=lambda a, b: b != 0) if n \
        else R.elementwise(lambda a: a / 0.0, [ss], st)
    if sqrt:
        v = R.elementwise(np.sqrt, [v], st, own=lambda a, o: 2 * o)
    return R.cast(v, ot[1])


def _logsumexp(x: Ref, axes: tuple[int, ...], keep: bool, st: str) -> Ref:
    m = R.reduce(x, "max", axes, True, st)
    m = R.elementwise(lambda v: np.where(np.isinf(v), 0.0, v), [m], st)
    e = R.elementwise(np.exp, [_bin(np.subtract, x, m, st)], st, own=lambda v, o: o * (2 + 1.5 * np.abs(v)))
    s = R.reduce(e, "sum", axes, True, st)
    out = _bin(np.add, R.elementwise(np.log, [s], st, domain=lambda v: v > 0, own=lambda v, o: 4 * np.abs(o) + 2),
               m, st)
    return out if keep else R.movement(out, lambda a, f: np.squeeze(a, axes))


def _math_dtype(dt: str) -> str:
    return "float32" if dt in HALF else dt


def _lse_ref(x: Ref, axes: tuple[int, ...], keep: bool, ot: TT) -> Ref:
    st = _math_dtype(ot[1])
    return R.cast(_logsumexp(R.cast(x, st), axes, keep, st), ot[1])


_reduction("sum", ALL_DTYPES, lambda d: d if d in HALF else R.sum_dtype(d),
           lambda x, ax, k, ot: R.reduce(x, "sum", ax, k, ot[1]), "sum", weight=2.0)
_reduction("prod", ALL_DTYPES, lambda d: d if d in HALF else R.sum_dtype(d),
           lambda x, ax, k, ot: R.reduce(x, "prod", ax, k, ot[1]), "prod", weight=0.5)
_reduction("max", _N, lambda d: d, lambda x, ax, k, ot: R.reduce(x, "max", ax, k, ot[1]),
           "max", nonempty=True, weight=1.5)
_reduction("min", _N, lambda d: d, lambda x, ax, k, ot: R.reduce(x, "min", ax, k, ot[1]),
           "min", nonempty=True)
_reduction("mean", _NB, lambda d: d if is_float(d) else "float64", _mean_ref, "mean")
_reduction("var", _NB, lambda d: d if is_float(d) else "float64", _var_ref, "var",
           weight=0.6)
_reduction("std", _NB, lambda d: d if is_float(d) else "float64", lambda x, ax, k, ot: _var_ref(x, ax, k, ot, True),
           "std", weight=0.4)
_reduction("any", ALL_DTYPES, lambda d: "bool",
           lambda x, ax, k, ot: R.reduce(R.cast(x, "bool"), "max", ax, k, "bool"),
           "any", weight=0.3)
_reduction("all", ALL_DTYPES, lambda d: "bool",
           lambda x, ax, k, ot: R.reduce(R.cast(x, "bool"), "min", ax, k, "bool"),
           "all", weight=0.3)
_reduction("logsumexp", _F, lambda d: d, _lse_ref, "logsumexp", nonempty=True, weight=0.5)


def _arg_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s, dt = ts[0]
    _need(dt in _N, f"argmax does not take {dt}")
    if a["axis"] is None:
        _need(math.prod(s) > 0, "argmax of an empty tensor")
        return ((1,) * len(s) if a["keepdim"] else ()), "int64"
    _need(0 <= a["axis"] < len(s) and s[a["axis"]] > 0, f"argmax axis {a['axis']} of {s}")
    return _reduced_shape(s, a["axis"], a["keepdim"]), "int64"


for _name, _largest in (("argmax", True), ("argmin", False)):
    _add(OpSpec(_name, "reduce", 1, lambda rng, pool: _red_sample(rng, pool, _N, single=True), _arg_infer,
                (lambda nm: lambda ns, a: f"{ns[0]}.{nm}({a['axis']!r}, keepdim={a['keepdim']})")(_name),
                (lambda lg: lambda rs, a, ot: R.argext(rs[0], a["axis"], a["keepdim"], lg))(_largest),
                defaults={"keepdim": False}, weight=0.6))


def _cumsum_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s, dt = ts[0]
    _need(a["axis"] is None or 0 <= a["axis"] < len(s), f"cumsum axis {a['axis']} of {s}")
    out = dt if dt in HALF else R.sum_dtype(dt)
    return ((math.prod(s),) if a["axis"] is None else s), out


_add(OpSpec("cumsum", "reduce", 1,
            lambda rng, pool: (lambda r: None if r is None else (r[0], {"axis": r[1]["axis"]}))(
                _red_sample(rng, pool, ALL_DTYPES, single=True)),
            _cumsum_infer, lambda ns, a: f"{ns[0]}.cumsum({a['axis']!r})",
            lambda rs, a, ot: R.cumsum(rs[0], a["axis"], ot[1]), weight=0.6))


def _softmax_ref(x: Ref, axes: tuple[int, ...], log: bool, ot: TT) -> Ref:
    st = _math_dtype(ot[1])
    x = R.cast(x, st)
    if log:
        m = R.reduce(x, "max", axes, True, st)
        m = R.elementwise(lambda v: np.where(np.isinf(v), 0.0, v), [m], st)
        d = _bin(np.subtract, x, m, st)
        e = R.elementwise(np.exp, [d], st, own=lambda v, o: o * (2 + 1.5 * np.abs(v)))
        lse = R.elementwise(np.log, [R.reduce(e, "sum", axes, True, st)], st, domain=lambda v: v > 0,
                            own=lambda v, o: 4 * np.abs(o) + 2)
        return R.cast(_bin(np.subtract, d, lse, st), ot[1])
    m = R.reduce(x, "max", axes, True, st)
    e = R.elementwise(np.exp, [_bin(np.subtract, x, m, st)], st, own=lambda v, o: o * (2 + 1.5 * np.abs(v)))
    return R.cast(_bin(lambda a, b: a / b, e, R.reduce(e, "sum", axes, True, st), st), ot[1])


for _name, _log in (("softmax", False), ("log_softmax", True)):
    _add(OpSpec(_name, "reduce", 1,
                lambda rng, pool: (lambda r: None if r is None else (r[0], {"axis": r[1]["axis"]}))(
                    _red_sample(rng, pool, _F)),
                lambda ts, a: (ts[0][0], (_need(ts[0][1] in _F and all(
                    ts[0][0][k] > 0 for k in _norm_axes(a["axis"], len(ts[0][0]))), "softmax of a non-float or over "
                    "an empty axis"), ts[0][1])[1]),
                (lambda nm: lambda ns, a: f"{ns[0]}.{nm}({_axis_src(a['axis'])})")(_name),
                (lambda lg: lambda rs, a, ot: _softmax_ref(rs[0], _norm_axes(a["axis"], rs[0].value.ndim), lg,
                                                           ot))(_log),
                weight=0.7))


def _layernorm_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = pick(rng, pool, lambda t: t[1] in _F and len(t[0]) >= 1 and t[0][-1] > 0)
    if i is None:
        return None
    return [i], {"dims": rng.randint(1, min(2, len(pool[i][0])))}


def _layernorm_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x = rs[0]
    st = x.dtype
    axes = tuple(range(x.value.ndim - a["dims"], x.value.ndim))
    xc = _bin(np.subtract, x, _mean_ref(x, axes, True, ((), st)), st)
    var = _mean_ref(_bin(np.multiply, xc, xc, st), axes, True, ((), st))
    inv = R.elementwise(lambda v: 1 / np.sqrt(v + 1e-5), [var], st, own=lambda v, o: 4 * o)
    return _bin(np.multiply, xc, inv, st)


_add(OpSpec("layernorm", "reduce", 1, _layernorm_sample,
            lambda ts, a: (ts[0][0], (_need(ts[0][1] in _F and 1 <= a["dims"] <= len(ts[0][0]) and
                                            math.prod(ts[0][0][-a["dims"]:]) > 0, "layernorm"), ts[0][1])[1]),
            lambda ns, a: f"{ns[0]}.layernorm({ns[0]}.shape[-{a['dims']}:])", _layernorm_ref,
            defaults={"dims": 1}, weight=0.5))


# ------------------------------------------------------------------ products and convolutions


def _matmul_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = pick(rng, pool, lambda t: len(t[0]) >= 1 and t[1] != "bool")
    if i is None:
        return None
    s, dt = pool[i]
    k = s[-1]
    m = k if k <= 64 and rng.random() < 0.3 else rng.choice((1, 2, 3, 4, 7, 8, 16))  # square weights are common
    bshape: Shape = (k,) if rng.random() < 0.15 else (k, m)
    if len(s) >= 3 and rng.random() < 0.4:
        bshape = s[:-2] + (k, m)
    j = pick(rng, pool, lambda t: t[0] == bshape and t[1] == dt)
    b: Src = j if j is not None and rng.random() < 0.5 else new(bshape, dt, domain_for(rng, dt))
    return ([i, b] if rng.random() < 0.8 else [b, i]) if len(s) >= 2 or len(bshape) >= 2 else [i, b], {}


def _matmul_shapes(a: Shape, b: Shape) -> tuple[Shape, Shape, Shape]:
    _need(len(a) >= 1 and len(b) >= 1, "matmul of a 0-d operand")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    _need(a2[-1] == b2[-2], f"matmul {a} @ {b}")
    batch = _bcast(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return a2, b2, out


def _matmul_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (sa, da), (sb, db) = ts
    return _matmul_shapes(sa, sb)[2], promote(da, db)


def _matmul_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x, y = (R.cast(r, ot[1]) for r in rs)
    k = x.shape[-1]
    acc = ot[1]
    return R.multilinear(lambda p, q: np.asarray(np.matmul(p, q)), [x, y], ot[1], k, acc)


_add(OpSpec("matmul", "matmul", 2, _matmul_sample, _matmul_infer, lambda ns, a: f"({ns[0]} @ {ns[1]})", _matmul_ref,
            weight=1.2))


def _dot_sample(rng: random.Random, pool: list[TT]) -> Any:
    """numpy's dot of 1-d and 2-d operands (vector . vector is a 0-d sum of products)."""
    i = pick(rng, pool, lambda t: 1 <= len(t[0]) <= 2 and t[1] != "bool")
    if i is None:
        return None
    s, dt = pool[i]
    k = s[-1]
    bshape: Shape = (k,) if rng.random() < 0.4 else (k, rng.choice((1, 3, 4, 8, 13)))
    j = pick(rng, pool, lambda t: t[0] == bshape and t[1] == dt)
    return [i, j if j is not None and rng.random() < 0.5 else new(bshape, dt, domain_for(rng, dt))], {}


def _dot_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (sa, da), (sb, db) = ts
    _need(1 <= len(sa) <= 2 and 1 <= len(sb) <= 2, f"dot of {sa} and {sb}: 1-d and 2-d operands")
    return _matmul_shapes(sa, sb)[2], promote(da, db)


def _dot_ref(x: Ref, y: Ref, dt: str) -> Ref:
    return R.multilinear(lambda p, q: np.asarray(np.dot(p, q)), [x, y], dt, x.shape[-1], dt)


_add(OpSpec("dot", "matmul", 2, _dot_sample, _dot_infer, lambda ns, a: f"{ns[0]}.dot({ns[1]})",
            lambda rs, a, ot: _dot_ref(R.cast(rs[0], ot[1]), R.cast(rs[1], ot[1]), ot[1]),
            weight=0.4))

EINSUMS = ("ij,jk->ik", "bij,bjk->bik", "ij->ji", "ii->i", "ij,ij->i", "i,j->ij", "ijk->k", "ij,j->i",
           "bhqd,bhkd->bhqk", "ii", "ij->")


def _einsum_sample(rng: random.Random, pool: list[TT]) -> Any:
    f = rng.choice(EINSUMS)
    lhs = f.split("->")[0].split(",")
    sizes = {c: rng.choice((1, 2, 3, 4, 5, 8)) for c in set("".join(lhs))}
    dt = rng.choice(("float32", "float32", "float64", "float16", "int32"))
    srcs: list[Src] = []
    for spec in lhs:
        shape = tuple(sizes[c] for c in spec)
        j = pick(rng, pool, lambda t: t[0] == shape and t[1] == dt)
        srcs.append(j if j is not None else new(shape, dt, domain_for(rng, dt)))
    return srcs, {"formula": f}


def _einsum_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    f = a["formula"]
    lhs, _, rhs = f.partition("->")
    specs = lhs.split(",")
    _need(len(specs) == len(ts), f"einsum {f} with {len(ts)} operands")
    sizes: dict[str, int] = {}
    for spec, (s, _) in zip(specs, ts):
        _need(len(spec) == len(s), f"einsum {spec} of shape {s}")
        for c, d in zip(spec, s):
            _need(sizes.setdefault(c, d) == d, f"einsum {f}: sizes of {c} differ")
    if "->" not in f:
        counts = {c: "".join(specs).count(c) for c in sizes}
        rhs = "".join(sorted(c for c in counts if counts[c] == 1))
    dt = ts[0][1]
    for _, d2 in ts[1:]:
        dt = promote(dt, d2)
    return tuple(sizes[c] for c in rhs), dt


def _einsum_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    xs = [R.cast(r, ot[1]) for r in rs]
    lhs = a["formula"].split("->")[0].split(",")
    out_letters = a["formula"].split("->")[1] if "->" in a["formula"] else None
    letters = set("".join(lhs))
    kept = set(out_letters) if out_letters is not None else {c for c in letters if "".join(lhs).count(c) == 1}
    sizes = {c: s for spec, r in zip(lhs, xs) for c, s in zip(spec, r.shape)}
    terms = math.prod(sizes[c] for c in letters - kept)
    return R.multilinear(lambda *arrs: np.asarray(np.einsum(a["formula"], *arrs)), xs, ot[1], terms)


def _einsum_code(ns: list[str], a: dict[str, Any]) -> str:
    return f"Tensor.einsum({a['formula']!r}, {', '.join(ns)})"


_add(OpSpec("einsum", "matmul", None, _einsum_sample, _einsum_infer, _einsum_code, _einsum_ref, weight=0.5))


def _conv_sample(rng: random.Random, pool: list[TT], transpose: bool) -> Any:
    i = pick(rng, pool, lambda t: len(t[0]) == 4 and t[1] in ("float32", "float64", "float16") and
             all(d > 0 for d in t[0]) and t[0][2] <= 16 and t[0][3] <= 16)
    groups = rng.choice((1, 1, 1, 2))
    if i is None or rng.random() < 0.3:
        dt = rng.choice(("float32", "float32", "float64", "float16"))
        xs: Shape = (rng.choice((1, 2)), groups * rng.choice((1, 2, 3)), rng.choice((3, 5, 7, 8)),
                     rng.choice((3, 5, 8)))
        x: Src = new(xs, dt, "normal")
    else:
        x, xs, dt = i, pool[i][0], pool[i][1]
        groups = groups if xs[1] % groups == 0 else 1
    kh, kw = rng.choice((1, 2, 3)), rng.choice((1, 2, 3))
    cout_g = rng.choice((1, 2, 3))
    wshape = (xs[1], cout_g, kh, kw) if transpose else (cout_g * groups, xs[1] // groups, kh, kw)
    attrs: dict[str, Any] = {"stride": [rng.choice((1, 1, 2)), rng.choice((1, 2))],
                             "padding": [rng.choice((0, 0, 1)), rng.choice((0, 1))],
                             "dilation": [rng.choice((1, 1, 2)), rng.choice((1, 1, 2))], "groups": groups}
    if transpose:
        attrs["output_padding"] = [0, 0]
    elif rng.random() < 0.2:  # torch's string paddings: "same" (stride 1, the odd pad at the end) or "valid"
        attrs["padding"] = rng.choice(("same", "same", "valid"))
        if attrs["padding"] == "same":
            attrs["stride"] = [1, 1]
    srcs = [x, new(wshape, dt, "normal")]
    if rng.random() < 0.4:
        srcs.append(new(((cout_g * groups),), dt, "normal"))
    return srcs, attrs


def _conv_infer(ts: list[TT], a: dict[str, Any], transpose: bool) -> TT:
    (xs, dx), (ws, dw) = ts[:2]
    g = a["groups"]
    _need(len(xs) == 4 and len(ws) == 4 and g >= 1, f"conv {xs} with {ws}")
    (sh, sw), (dh, dwl) = a["stride"], a["dilation"]
    if isinstance(a["padding"], str):  # "same" keeps the size at stride 1 (whatever pads that takes); "valid" none
        _need(not transpose and a["padding"] in ("same", "valid") and (a["padding"] == "valid" or (sh, sw) == (1, 1)),
              f"conv padding {a['padding']!r} with stride {a['stride']}")
        ph, pw = (0, 0) if a["padding"] == "valid" else (-1, -1)
        if a["padding"] == "same":
            _need(xs[2] > 0 and xs[3] > 0, f"conv2d same of {xs}")
    else:
        ph, pw = a["padding"]
        _need(min(ph, pw) >= 0, f"conv attributes {a}")
    _need(min(sh, sw, dh, dwl) >= 1, f"conv attributes {a}")
    if transpose:
        _need(ws[0] == xs[1] and xs[1] % g == 0, f"conv_transpose2d {xs} with {ws}, groups {g}")
        cout = ws[1] * g
        oph, opw = a.get("output_padding", [0, 0])
        oh = (xs[2] - 1) * sh - 2 * ph + dh * (ws[2] - 1) + 1 + oph
        ow = (xs[3] - 1) * sw - 2 * pw + dwl * (ws[3] - 1) + 1 + opw
    else:
        _need(xs[1] == ws[1] * g and ws[0] % g == 0, f"conv2d {xs} with {ws}, groups {g}")
        cout = ws[0]
        if (ph, pw) == (-1, -1):  # "same"
            oh, ow = xs[2], xs[3]
        else:
            oh = (xs[2] + 2 * ph - dh * (ws[2] - 1) - 1) // sh + 1
            ow = (xs[3] + 2 * pw - dwl * (ws[3] - 1) - 1) // sw + 1
    _need(oh > 0 and ow > 0, f"conv output size {oh}x{ow}")
    if len(ts) == 3:
        _need(ts[2][0] == (cout,), f"conv bias {ts[2][0]} for {cout} channels")
    dt = promote(dx, dw)
    return (xs[0], cout, oh, ow), dt


def _conv_ref(rs: list[Ref], a: dict[str, Any], ot: TT, transpose: bool) -> Ref:
    x, w = R.cast(rs[0], ot[1]), R.cast(rs[1], ot[1])
    st, dl, g = tuple(a["stride"]), tuple(a["dilation"]), a["groups"]
    pd: Any = a["padding"] if isinstance(a["padding"], str) else tuple(a["padding"])
    if transpose:
        fn = lambda p, q: R.conv_transpose2d_f(p, q, st, pd, tuple(a.get("output_padding", [0, 0])), dl, g)  # noqa
        terms = w.shape[0] // g * w.shape[2] * w.shape[3]
    else:
        fn = lambda p, q: R.conv2d_f(p, q, st, pd, dl, g)  # noqa: E731
        terms = w.shape[1] * w.shape[2] * w.shape[3]
    out = R.multilinear(fn, [x, w], ot[1], terms)
    if len(rs) == 3:
        b = R.movement(R.cast(rs[2], ot[1]), lambda v, f: v.reshape(1, -1, 1, 1))
        out = _bin(np.add, out, b, ot[1])
    return out


def _conv_code(ns: list[str], a: dict[str, Any], transpose: bool) -> str:
    bias = ns[2] if len(ns) == 3 else None
    pad = a["padding"] if isinstance(a["padding"], str) else tuple(a["padding"])
    common = (f"stride={tuple(a['stride'])}, padding={pad!r}, dilation={tuple(a['dilation'])}, "
              f"groups={a['groups']}")
    if transpose:
        return (f"{ns[0]}.conv_transpose2d({ns[1]}, {bias}, {common}, "
                f"output_padding={tuple(a.get('output_padding', [0, 0]))})")
    return f"{ns[0]}.conv2d({ns[1]}, {bias}, {common})"


for _name, _tr in (("conv2d", False), ("conv_transpose2d", True)):
    _add(OpSpec(_name, "conv", None, (lambda tr: lambda rng, pool: _conv_sample(rng, pool, tr))(_tr),
                (lambda tr: lambda ts, a: _conv_infer(ts, a, tr))(_tr),
                (lambda tr: lambda ns, a: _conv_code(ns, a, tr))(_tr),
                (lambda tr: lambda rs, a, ot: _conv_ref(rs, a, ot, tr))(_tr),
                defaults={"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}, weight=0.5))


def _pool_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = pick(rng, pool, lambda t: len(t[0]) >= 3 and t[1] in _F and t[0][-1] >= 2 and t[0][-2] >= 2)
    x: Src = i
    if i is None or rng.random() < 0.3:  # few values in a pool have 3+ dims: a fresh image often
        dt = rng.choice(("float32", "float32", "float64", "float16", "bfloat16"))
        shape: Shape = (rng.choice((1, 2)), rng.choice((1, 3)), rng.choice((2, 3, 5, 7, 8)), rng.choice((2, 4, 5, 9)))
        x = new(shape, dt, domain_for(rng, dt))
    else:
        shape = pool[i][0]
    k = [rng.choice((1, 2, 3)), rng.choice((2, 3))]
    k = [min(k[0], shape[-2]), min(k[1], shape[-1])]
    return [x], {"kernel": k, "stride": [rng.choice((1, 2)), rng.choice((1, 2, 3))],
                 "padding": [rng.randint(0, k[0] // 2), rng.randint(0, k[1] // 2)]}


def _pool_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s, dt = ts[0]
    (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
    _need(len(s) >= 3 and dt in _F and min(kh, kw, sh, sw) >= 1 and 0 <= 2 * ph <= kh and 0 <= 2 * pw <= kw,
          f"pool {a} of {s}")
    oh, ow = (s[-2] + 2 * ph - kh) // sh + 1, (s[-1] + 2 * pw - kw) // sw + 1
    _need(oh > 0 and ow > 0, f"pool output {oh}x{ow}")
    return s[:-2] + (oh, ow), dt


def _pool_ref(rs: list[Ref], a: dict[str, Any], ot: TT, mx: bool) -> Ref:
    x = rs[0]
    lead = x.shape[:-2]
    x4 = R.movement(x, lambda v, f: v.reshape((-1, 1) + v.shape[-2:]))
    fill = -np.inf if mx else 0
    w = R.pool_windows(x4, tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"]), fill)
    if mx:
        out = R.reduce(w, "max", (4, 5), False, ot[1])
    else:
        s = R.reduce(w, "sum", (4, 5), False, ot[1], acc=ot[1])  # the engine sums windows in their dtype
        k = a["kernel"][0] * a["kernel"][1]
        out = _bin(lambda p, q: p / q, s, R.exact(np.array(k, R.NP_DTYPES[ot[1]])), ot[1])
    return R.movement(out, lambda v, f: v.reshape(lead + v.shape[-2:]))


for _name, _mx in (("max_pool2d", True), ("avg_pool2d", False)):
    _add(OpSpec(_name, "pool", 1, _pool_sample, _pool_infer,
                (lambda nm: lambda ns, a: f"{ns[0]}.{nm}({tuple(a['kernel'])}, {tuple(a['stride'])}, "
                                          f"{tuple(a['padding'])})")(_name),
                (lambda mx: lambda rs, a, ot: _pool_ref(rs, a, ot, mx))(_mx), weight=0.5))


# ------------------------------------------------------------------ in place: assign and __setitem__
# Their first input is one of the case's inputs (a tensor held in a buffer), written in place; the node's value is
# that tensor afterwards, and no later node may read the input itself (fuzz.graphs.case checks it). The generator
# makes them (fuzz.graphs.generate), never the generic sampler.


def _assign_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (sv, _) = ts
    _need(_fits(sv, s), f"assign of a {sv} value to a {s} tensor")
    return s, dt


def _assign_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    v = R.cast(rs[1], ot[1])
    return R.movement(v, lambda x, f: np.broadcast_to(x, ot[0]))


def _setitem_shape(s: Shape, items: list[Any]) -> Shape:
    _need(len(items) <= len(s) and all(isinstance(it, list) for it in items), f"setitem index {items} of {s}")
    return _slice_infer(s, {"index": items})


def _setitem_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (sv, _) = ts
    sel = _setitem_shape(s, a["index"])
    _need(_fits(sv, sel), f"setitem of a {sv} value into a {sel} selection")
    return s, dt


def _setitem_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    t, v = rs[0], R.cast(rs[1], ot[1])
    idx = _py_index(a["index"])
    out = Ref(t.value.copy(), t.err.copy(), t.undef.copy())
    out.value[idx], out.err[idx], out.undef[idx] = v.value, v.err, v.undef
    return out


_add(OpSpec("assign", "inplace", 2, lambda rng, pool: None, _assign_infer,
            lambda ns, a: f"{ns[0]}.assign({ns[1]})", _assign_ref, weight=0.0))
_add(OpSpec("setitem", "inplace", 2, lambda rng, pool: None, _setitem_infer,
            lambda ns, a: f"({ns[0]}.__setitem__({_index_obj_src(a['index'])}, {ns[1]}) or {ns[0]})", _setitem_ref,
            weight=0.0))


# ------------------------------------------------------------------ batch norm, resampling, advanced indexing

_PLAIN_F = ("float16", "bfloat16", "float32", "float64")  # float dtypes the engine computes these ops in directly


def _batchnorm_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = pick(rng, pool, lambda t: t[1] in _PLAIN_F and len(t[0]) >= 2 and t[0][1] > 0)
    if i is None:
        return None
    (s, dt) = pool[i]
    c = (s[1],)
    return [i, new(c, dt, domain_for(rng, dt)), new(c, dt, "positive"), new(c, dt, domain_for(rng, dt)),
            new(c, dt, domain_for(rng, dt))], {}


def _batchnorm_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt) = ts[0]
    _need(dt in _PLAIN_F and len(s) >= 2 and all(t == ((s[1],), dt) for t in ts[1:]),
          f"batchnorm of {ts[0]} with channel tensors {ts[1:]}")
    return s, dt


def _batchnorm_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x, mean, var, w, b = rs
    st = x.dtype
    chan = (1, x.shape[1]) + (1,) * (len(x.shape) - 2)
    mean, var, w, b = (R.movement(r, lambda v, f: v.reshape(chan)) for r in (mean, var, w, b))
    inv = R.elementwise(lambda v: 1 / np.sqrt(v + 1e-5), [var], st, own=lambda v, o: 4 * o)
    out = _bin(np.multiply, _bin(np.subtract, x, mean, st), inv, st)
    return _bin(np.add, _bin(np.multiply, out, w, st), b, st)


_add(OpSpec("batchnorm", "reduce", 5, _batchnorm_sample, _batchnorm_infer,
            lambda ns, a: f"{ns[0]}.batchnorm({ns[1]}, {ns[2]}, {ns[3]}, {ns[4]})", _batchnorm_ref, weight=0.4))


_LINEAR_MODE = {3: "linear", 4: "bilinear", 5: "trilinear"}


def _interp_sample(rng: random.Random, pool: list[TT]) -> Any:
    i = pick(rng, pool, lambda t: t[1] in _PLAIN_F and 3 <= len(t[0]) <= 5 and all(t[0]) and math.prod(t[0]) <= 512)
    if i is None:
        return None
    s = pool[i][0]
    mode = rng.choice(("nearest", "nearest-exact", "linear"))
    attrs: dict[str, Any] = {"mode": _LINEAR_MODE[len(s)] if mode == "linear" else mode}
    if rng.random() < 0.5:
        attrs["size"] = [rng.choice((1, max(1, d // 2), d, d + 1, 2 * d, 3 * d - 1)) for d in s[2:]]
    else:
        attrs["scale"] = [rng.choice((0.5, 1.5, 2.0, 3.0, 2.5)) for _ in s[2:]]
    if mode == "linear":
        attrs["align_corners"] = rng.choice((None, False, True))
    return [i], attrs


def _interp_sizes(s: Shape, a: dict[str, Any]) -> list[int]:
    if "size" in a:
        return [int(v) for v in a["size"]]
    return [int(math.floor(d * f)) for d, f in zip(s[2:], a["scale"])]


def _interp_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    s, dt = ts[0]
    _need(3 <= len(s) <= 5 and ("size" in a) != ("scale" in a), f"interpolate {a} of {s}")
    sizes = _interp_sizes(s, a)
    _need(dt in _PLAIN_F and len(sizes) == len(s) - 2 and all(v >= 1 for v in sizes) and all(s[2:]) and
          a["mode"] in ("nearest", "nearest-exact", _LINEAR_MODE[len(s)]) and
          ("align_corners" not in a or "linear" in a["mode"]), f"interpolate {a} of {s}")
    return s[:2] + tuple(sizes), dt


def _interp_code(ns: list[str], a: dict[str, Any]) -> str:
    how = f"size={tuple(a['size'])}" if "size" in a else f"scale_factor={tuple(a['scale'])}"
    corners = f", align_corners={a['align_corners']}" if "align_corners" in a else ""
    return f"{ns[0]}.interpolate({how}, mode={a['mode']!r}{corners})"


def _take_rows(v: np.ndarray, fill: Any, idx: np.ndarray, axis: int) -> np.ndarray:
    return np.take(v, idx, axis=axis)


def _source_coord(n_in: int, n_out: int, scale: float | None, dst: np.ndarray, shift: float) -> np.ndarray:
    """torch's source coordinate (dst + shift) * scale, in float64 (scale 1/scale_factor when given, else in/out)."""
    sc = (1.0 / scale) if scale is not None else n_in / n_out
    return (dst + shift) * sc


def _interp_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x = rs[0]
    sizes = _interp_sizes(x.shape, a)
    scales = a.get("scale", [None] * len(sizes))
    out = x
    for j, (n_out, scale) in enumerate(zip(sizes, scales)):
        ax, n_in = 2 + j, x.shape[2 + j]
        dst = np.arange(n_out, dtype=np.float64)
        rest = (1,) * (len(x.shape) - ax - 1)
        if a["mode"] in ("nearest", "nearest-exact"):
            exact = a["mode"] == "nearest-exact"
            real = _source_coord(n_in, n_out, scale, dst, 0.5 if exact else 0.0)
            src = np.minimum(np.floor(real), n_in - 1).astype(np.int64)
            # torch computes the coordinate in float32: where that can round across an integer, the source row
            # is either neighbour, and those output positions are undefined
            ambiguous = np.abs(real - np.round(real)) <= 4e-7 * np.maximum(real, 1.0)
            sel = R.movement(out, functools.partial(_take_rows, idx=src, axis=ax))
            out = Ref(sel.value, sel.err, sel.undef | ambiguous.reshape((n_out,) + rest))
            continue
        if a.get("align_corners"):
            real = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
        else:
            real = np.maximum(_source_coord(n_in, n_out, scale, dst, 0.5) - 0.5, 0.0)
        i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
        lam = np.clip(real - i0, 0.0, 1.0)
        i1 = i0 + (i0 < n_in - 1)
        w0, w1 = (1.0 - lam).reshape((n_out,) + rest), lam.reshape((n_out,) + rest)

        def fn(v: np.ndarray, ax: int = ax, i0: np.ndarray = i0, i1: np.ndarray = i1, w0: np.ndarray = w0,
               w1: np.ndarray = w1) -> np.ndarray:
            return np.take(v, i0, axis=ax) * w0 + np.take(v, i1, axis=ax) * w1

        mixed = R.multilinear(fn, [out], ot[1], terms=3, acc="float32" if ot[1] == "float64" else None)
        # the weights come from a float32 coordinate: each off by about (coordinate + 1) float32 roundoffs; next to
        # a whole coordinate the float32 one may fall on its other side, weighing the row before i0 (or after i1) by
        # a roundoff (align_corners, 8 -> 24: 23 * 7/23 is 7 in float64, below it in float32)
        near = [np.maximum(i0 - 1, 0), i0, i1, np.minimum(i1 + 1, n_in - 1)]
        with np.errstate(all="ignore"):
            mags = sum(np.abs(np.take(out.f64(), i, axis=ax)) for i in near)
            slack = 4 * R.eps("float32") * (real.reshape((n_out,) + rest) + 2) * mags
        out = Ref(mixed.value, mixed.err + np.where(np.isfinite(slack), slack, 0.0), mixed.undef)
    return out


_add(OpSpec("interpolate", "resample", 1, _interp_sample, _interp_infer, _interp_code, _interp_ref, weight=0.4))


def _indexed(rng: random.Random, pool: list[TT], min_rank: int) -> tuple[int, tuple[int, ...], int, Src] | None:
    """A value of at least `min_rank` dims to index, the axis the index array takes, and that array: (position in
    the pool, its shape, the axis, the new index input)."""
    i = pick(rng, pool, lambda t: len(t[0]) >= min_rank and all(t[0]) and math.prod(t[0]) <= 1024)
    if i is None:
        return None
    s = pool[i][0]
    axis = rng.randrange(len(s))
    ishape = rand_shape(rng, rng.choice((0, 1, 1, 2)), max_numel=16)
    return i, s, axis, new(ishape, rng.choice(("int32", "int64")), f"index:{s[axis]}")


def _getitem_sample(rng: random.Random, pool: list[TT]) -> Any:
    got = _indexed(rng, pool, 1)
    if got is None:
        return None
    i, _, axis, idx = got
    return [i, idx], {"axis": axis}


def _getitem_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (si, di) = ts
    ax = a["axis"]
    _need(is_int(di) and 0 <= ax < len(s) and s[ax] > 0, f"x[{':, ' * ax}idx] of {s} with an index {si} {di}")
    return tuple(s[:ax]) + tuple(si) + tuple(s[ax + 1:]), dt


def _getitem_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x, idx = rs
    ax, n = a["axis"], x.shape[a["axis"]]
    i = idx.value.astype(np.int64)
    if ((i < -n) | (i >= n)).any():
        raise IndexError(f"getitem: index out of range for axis {ax} of size {n}")
    out = R.movement(x, lambda v, f: np.take(v, i, axis=ax))  # numpy: negative indices count from the end
    iu = idx.undef.reshape((1,) * ax + idx.shape + (1,) * (len(x.shape) - ax - 1))
    return Ref(out.value, out.err, out.undef | iu)


_add(OpSpec("getitem_array", "gather", 2, _getitem_sample, _getitem_infer,
            lambda ns, a: f"{ns[0]}[{':, ' * a['axis']}{ns[1]}]", _getitem_ref, defaults={"axis": 0}, weight=0.5))


# numpy's mixed indexing, x[2, :, idx] or x[:, idx, -1]: integers with an index array are all "advanced" indices;
# their result dims (idx's) go where the first of them was when they are adjacent, else first of all
def _getitem_mixed_sample(rng: random.Random, pool: list[TT]) -> Any:
    got = _indexed(rng, pool, 2)
    if got is None:
        return None
    i, s, axis, idx = got
    others = [d for d in range(len(s)) if d != axis]
    chosen = rng.sample(others, rng.randint(1, len(others)))
    apart = [d for d in others if abs(d - axis) > 1]
    if apart and rng.random() < 0.5:  # a slice between an integer and the array: the result's dims go first
        chosen = [rng.choice(apart)]
    ints = {str(d): rng.randrange(-s[d], s[d]) for d in chosen}
    return [i, idx], {"axis": axis, "ints": ints}


def _mixed_layout(ndim: int, a: dict[str, Any]) -> tuple[list[int], int]:
    """The sliced axes of x[...] and where the index array's dims go in the result."""
    adv = sorted([a["axis"], *map(int, a["ints"])])
    sliced = [d for d in range(ndim) if d not in adv]
    adjacent = adv == list(range(adv[0], adv[-1] + 1))
    return sliced, (sum(1 for d in sliced if d < adv[0]) if adjacent else 0)


def _getitem_mixed_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (si, di) = ts
    ax, ints = a["axis"], {int(k): v for k, v in a["ints"].items()}
    _need(is_int(di) and 0 <= ax < len(s) and s[ax] > 0 and ax not in ints and
          all(0 <= d < len(s) and -s[d] <= v < s[d] for d, v in ints.items()), f"x[...] of {s} with ints {ints}")
    sliced, at = _mixed_layout(len(s), a)
    rest = [s[d] for d in sliced]
    return tuple(rest[:at]) + tuple(si) + tuple(rest[at:]), dt


def _mixed_key(ndim: int, a: dict[str, Any], idx: np.ndarray) -> tuple[Any, ...]:
    return tuple(idx if d == a["axis"] else a["ints"][str(d)] if str(d) in a["ints"] else slice(None)
                 for d in range(ndim))


def _getitem_mixed_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    x, idx = rs
    n = x.shape[a["axis"]]
    i = idx.value.astype(np.int64)
    if ((i < -n) | (i >= n)).any():
        raise IndexError(f"getitem: index out of range for axis {a['axis']} of size {n}")
    key = _mixed_key(len(x.shape), a, i)
    out = R.movement(x, lambda v, f: v[key])
    sliced, at = _mixed_layout(len(x.shape), a)
    iu = idx.undef.reshape((1,) * at + idx.shape + (1,) * (len(sliced) - at))
    return Ref(out.value, out.err, out.undef | iu)


def _getitem_mixed_code(ns: list[str], a: dict[str, Any]) -> str:
    ndim = 1 + max([a["axis"], *map(int, a["ints"])])  # trailing axes need no ":"
    parts = [ns[1] if d == a["axis"] else str(a["ints"][str(d)]) if str(d) in a["ints"] else ":" for d in range(ndim)]
    return f"{ns[0]}[{', '.join(parts)}]"


_add(OpSpec("getitem_mixed", "gather", 2, _getitem_mixed_sample, _getitem_mixed_infer, _getitem_mixed_code,
            _getitem_mixed_ref, defaults={"ints": {}}, weight=0.4))


# mask assignment, `t[mask] = value`: in place like setitem (the generator makes it); the mask covers t's leading
# dims and the value is a scalar tensor or one row of t's remaining dims
def _setitem_mask_infer(ts: list[TT], a: dict[str, Any]) -> TT:
    (s, dt), (sm, dm), (sv, _) = ts
    _need(dm == "bool" and 1 <= len(sm) <= len(s) and tuple(sm) == tuple(s[:len(sm)]) and
          _fits(sv, tuple(s[len(sm):])), f"t[mask] = v with t {s}, mask {sm} {dm}, value {sv}")
    return s, dt


def _setitem_mask_ref(rs: list[Ref], a: dict[str, Any], ot: TT) -> Ref:
    t, mask, v = rs
    cond = R.movement(mask, lambda m, f: m.reshape(m.shape + (1,) * (len(t.shape) - len(mask.shape))))
    return R.where(cond, R.cast(v, ot[1]), t, ot[1])


_add(OpSpec("setitem_mask", "inplace", 3, lambda rng, pool: None, _setitem_mask_infer,
            lambda ns, a: f"({ns[0]}.__setitem__({ns[1]}, {ns[2]}) or {ns[0]})", _setitem_mask_ref, weight=0.0))
