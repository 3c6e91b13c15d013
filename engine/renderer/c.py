"""C source for a linear program (the CPU backend).

Values of float16, bfloat16 and the fp8 types are held in `float` and rounded after every op, so results equal
engine.alu's (one rounding per op; for +, -, *, / and sqrt a float32 result rounded again to a narrower type is
the correctly rounded result, since float32 has more than twice their precision plus two bits); in memory they are
_Float16, raw bfloat16 bits and raw fp8 bytes. Conversions to bfloat16 and fp8 round once to nearest even, as
ml_dtypes (0.7 and later) does: a double or a wide integer first becomes a float rounded to odd (exact when it
fits; else the float of the two around it whose last bit is 1), which the narrow rounding then rounds exactly as
it would round the original value (float32 keeps more than two bits beyond bfloat16's and fp8's precision).
float64 to float16 rounds once, as numpy does. Index values are int64_t.
The outermost output loop runs in parallel (OpenMP) when the kernel is big enough; "upcast" and "unroll" loops
are unrolled by the compiler.
"""

from __future__ import annotations

import math

from engine.alu import wrap
from engine.codegen.program import Program
from engine.dtype import DType, dtypes
from engine.uop import Ops, UOp

PARALLEL_MIN_WORK = 1 << 15

_STORAGE = {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
            "index": "int64_t", "float16": "_Float16", "bfloat16": "uint16_t", "float32": "float",
            "float64": "double", "float8_e4m3fn": "uint8_t", "float8_e5m2": "uint8_t"}
# dtypes held in `float` registers: name -> (C function from storage bits to float, from float to storage bits)
_NARROW = {"float16": ("(float)", "(_Float16)"), "bfloat16": ("bf16_to_f", "f_to_bf16"),
           "float8_e4m3fn": ("e4m3_to_f", "f_to_e4m3"), "float8_e5m2": ("e5m2_to_f", "f_to_e5m2")}

PRELUDE = """#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <math.h>
static inline float bf16_to_f(uint16_t b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
/* float -> bfloat16 bits: round half to even; NaN becomes the quiet NaN 0x7fc0 with its sign (as ml_dtypes) */
static inline uint16_t f_to_bf16(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
/* fp8 with M mantissa bits and exponent bias B. |x| as float32 bits `a` (finite, below overflow) -> fp8 bits,
   round half to even. Normal results drop 23-M mantissa bits (a carry moves into the exponent, which is the
   correct next binade); subnormal results are |x| / 2^(1-B-M) = mant >> s rounded by the dropped bits. */
static inline uint32_t fp8_mag(uint32_t a, uint32_t M, uint32_t B) {
  if (a >= (128u - B) << 23)
    return ((a + (1u << (22 - M)) - 1u + ((a >> (23 - M)) & 1u)) >> (23 - M)) - ((127u - B) << M);
  uint32_t s = 151u - B - M - (a >> 23);
  if (s > 24) return 0;  /* below half the smallest subnormal (a tie at s == 24 rounds to 0, which is even) */
  uint32_t mant = (a & 0x7fffffu) | 0x800000u, q = mant >> s, rem = mant & ((1u << s) - 1u), half = 1u << (s - 1);
  return q + (rem > half || (rem == half && (q & 1u)));
}
/* e4m3fn has no infinity: above 464 (the midpoint of 448 and the NaN code), inf and NaN give NaN 0x7f */
static inline uint8_t f_to_e4m3(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  uint32_t a = u & 0x7fffffffu;
  return (uint8_t)(((u >> 24) & 0x80u) | (a > 0x43e80000u ? 0x7fu : fp8_mag(a, 3, 7)));
}
/* e5m2 is IEEE-like: from 61440 (the midpoint of 57344 and 65536) up it is inf 0x7c; NaN is 0x7e */
static inline uint8_t f_to_e5m2(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  uint32_t a = u & 0x7fffffffu;
  return (uint8_t)(((u >> 24) & 0x80u) | (a > 0x7f800000u ? 0x7eu : a >= 0x47700000u ? 0x7cu : fp8_mag(a, 2, 15)));
}
/* fp8 bits -> float (exact); `special`: the magnitude bits from which codes are inf/NaN */
static inline float fp8_to_f(uint8_t b, uint32_t M, uint32_t B, float sub_scale, uint32_t special) {
  uint32_t a = b & 0x7fu, u;
  if (a >= special) u = a == 0x7cu ? 0x7f800000u : 0x7fc00000u;
  else if ((a >> M) == 0) { float d = (float)a * sub_scale; memcpy(&u, &d, 4); }
  else u = (a << (23 - M)) + ((127u - B) << 23);
  u |= (uint32_t)(b & 0x80u) << 24;
  float f; memcpy(&f, &u, 4); return f;
}
static inline float e4m3_to_f(uint8_t b) { return fp8_to_f(b, 3, 7, 0x1p-9f, 0x7fu); }
static inline float e5m2_to_f(uint8_t b) { return fp8_to_f(b, 2, 15, 0x1p-16f, 0x7cu); }
/* double -> float rounded to odd, so that one more rounding to bfloat16 or fp8 equals rounding d directly */
static inline float f_odd_d(double d) {
  float f = (float)d;
  if (d != d || (double)f == d) return f;
  uint32_t u; memcpy(&u, &f, 4);
  if (!(u & 1u)) u = fabs((double)f) > fabs(d) ? u - 1u : u + 1u;
  memcpy(&f, &u, 4); return f;
}
/* unsigned / signed 64-bit integer -> float rounded to odd: keep 24 significant bits, the last one sticky */
static inline float f_odd_u(uint64_t a) {
  int sh = 40 - __builtin_clzll(a | 1u);
  if (sh > 0) { uint64_t lost = a & ((1ull << sh) - 1u); a = (a - lost) | (lost ? 1ull << sh : 0u); }
  return (float)a;
}
static inline float f_odd_i(int64_t x) { return x < 0 ? -f_odd_u(0u - (uint64_t)x) : f_odd_u((uint64_t)x); }
static inline float round_bf16(float f) { return bf16_to_f(f_to_bf16(f)); }
static inline float round_f16(float f) { return (float)(_Float16)f; }
static inline float round_f16d(double d) { return (float)(_Float16)d; }  /* one rounding, as numpy */
static inline float round_e4m3(float f) { return e4m3_to_f(f_to_e4m3(f)); }
static inline float round_e5m2(float f) { return e5m2_to_f(f_to_e5m2(f)); }
#define MAXF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) > (a) ? (b) : (a)))
#define MINF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) < (a) ? (b) : (a)))
"""


def ctype(dt: DType) -> str:
    """The C type that holds a value of `dt` in registers."""
    name = dt.scalar.name
    if name in _NARROW:
        return "float"
    if name not in _STORAGE:
        raise NotImplementedError(f"C backend: dtype {name} is not supported")
    return _STORAGE[name]


def storage_type(dt: DType) -> str:
    name = dt.scalar.name
    if name not in _STORAGE:
        raise NotImplementedError(f"C backend: dtype {name} is not supported")
    return _STORAGE[name]


_ROUND = {"float16": "round_f16", "bfloat16": "round_bf16", "float8_e4m3fn": "round_e4m3",
          "float8_e5m2": "round_e5m2"}


def _round(dt: DType, expr: str) -> str:
    """`expr` (a float) rounded to a narrow float dtype, as a float."""
    fn = _ROUND.get(dt.scalar.name)
    return f"{fn}({expr})" if fn else expr


def _const(u: UOp) -> str:
    dt = u.dtype.scalar
    v = wrap(dt, u.arg)  # a narrow-float constant is rounded to its dtype first (0.1 as float16 is 0.0999755859375)
    if dt == dtypes.bool:
        return "true" if v else "false"
    if dt.is_float:
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INFINITY" if v > 0 else "(-INFINITY)"
        return repr(float(v)) + ("f" if dt in (dtypes.float32, dtypes.float16, dtypes.bfloat16) else "")
    if dt.kind == "u":
        return f"{v}ull" if dt.itemsize == 8 else f"{v}u"
    if v == -(1 << 63):
        return "INT64_MIN"
    return f"{v}ll" if dt.itemsize == 8 else str(v)


def _fn(dt: DType, name: str) -> str:
    return name if dt.scalar == dtypes.float64 else name + "f"


def _int_div(u: UOp, a: str, b: str) -> str:
    """IDIV/MOD as engine.alu defines them: C's where C is defined, 0 for a zero divisor, INT_MIN / -1 wrapping
    (both trap on x86). The guards are left out where the divisor's bounds exclude 0 and -1 (constant divisors)."""
    lo, hi = u.src[1].bounds
    zero, neg1 = lo <= 0 <= hi, u.dtype.scalar.kind in "ix" and lo <= -1 <= hi
    expr = f"({a} / {b})" if u.op is Ops.IDIV else f"({a} % {b})"
    if neg1:  # -fwrapv: -INT_MIN is INT_MIN
        expr = f"({b} == -1 ? {f'(0 - {a})' if u.op is Ops.IDIV else '0'} : {expr})"
    return f"({b} == 0 ? 0 : {expr})" if zero else expr


def _alu(u: UOp, s: list[str]) -> str:
    op, dt = u.op, u.dtype.scalar
    sdt = u.src[0].dtype.scalar if u.src else dt
    if op is Ops.ADD:
        return f"({s[0]} + {s[1]})"
    if op is Ops.SUB:
        return f"({s[0]} - {s[1]})"
    if op is Ops.MUL:
        return f"({s[0]} * {s[1]})"
    if op is Ops.FDIV:
        return f"({s[0]} / {s[1]})"
    if op in (Ops.IDIV, Ops.MOD):
        return _int_div(u, s[0], s[1])
    if op is Ops.NEG:
        return f"(-{s[0]})" if dt != dtypes.bool else f"(!{s[0]})"
    if op is Ops.MAX:
        return f"MAXF({s[0]}, {s[1]})" if dt.is_float else f"({s[1]} > {s[0]} ? {s[1]} : {s[0]})"
    if op is Ops.MIN:
        return f"MINF({s[0]}, {s[1]})" if dt.is_float else f"({s[1]} < {s[0]} ? {s[1]} : {s[0]})"
    if op is Ops.CMPLT:
        return f"({s[0]} < {s[1]})"
    if op is Ops.CMPLE:
        return f"({s[0]} <= {s[1]})"
    if op is Ops.CMPNE:
        return f"({s[0]} != {s[1]})"
    if op is Ops.CMPEQ:
        return f"({s[0]} == {s[1]})"
    if op is Ops.AND:
        return f"({s[0]} & {s[1]})"
    if op is Ops.OR:
        return f"({s[0]} | {s[1]})"
    if op is Ops.XOR:
        return f"({s[0]} ^ {s[1]})"
    if op is Ops.SHL:
        ut = "u" + storage_type(dt) if dt.kind == "i" else storage_type(dt)
        return f"(({storage_type(dt)})(({ut}){s[0]} << {s[1]}))"
    if op is Ops.SHR:
        return f"({s[0]} >> {s[1]})"
    if op is Ops.WHERE:
        return f"({s[0]} ? {s[1]} : {s[2]})"
    if op is Ops.MULACC:
        return f"({s[0]} * {s[1]} + {s[2]})"
    if op is Ops.SQRT:
        return f"{_fn(dt, 'sqrt')}({s[0]})"
    if op is Ops.EXP2:
        return f"{_fn(dt, 'exp2')}({s[0]})"
    if op is Ops.LOG2:
        return f"{_fn(dt, 'log2')}({s[0]})"
    if op is Ops.SIN:
        return f"{_fn(dt, 'sin')}({s[0]})"
    if op is Ops.TRUNC:
        return f"{_fn(dt, 'trunc')}({s[0]})"
    if op is Ops.RECIPROCAL:
        return f"(1.0{'f' if dt != dtypes.float64 else ''} / {s[0]})"
    if op is Ops.POW:
        return f"{_fn(dt, 'pow')}({s[0]}, {s[1]})"
    if op is Ops.CAST:
        if dt == dtypes.bool:
            return f"({s[0]} != 0)"
        if sdt.is_float and dt.kind in "iu":
            lo = _const(UOp.const(dt, dt.min))
            # exec_alu: NaN and inf give the minimum; otherwise truncate and wrap (uint64 from 2^63 up directly)
            conv = f"({ctype(dt)})(int64_t){s[0]}"
            if dt == dtypes.uint64:
                conv = f"({s[0]} >= 0x1p63 ? (uint64_t){s[0]} : {conv})"
            return f"(({s[0]} != {s[0]} || isinf({s[0]})) ? {lo} : {conv})"
        if dt == dtypes.float16 and sdt in (dtypes.float64, dtypes.int64, dtypes.uint64):
            return f"round_f16d((double){s[0]})"  # one rounding, as numpy (no detour through float)
        if dt.name in _ROUND and dt != dtypes.float16:  # bfloat16/fp8: the caller rounds a float rounded to odd
            if sdt == dtypes.float64:
                return f"f_odd_d({s[0]})"
            if sdt.kind in "iux" and sdt.itemsize >= 4:
                return f"f_odd_{'u' if sdt.kind == 'u' else 'i'}({s[0]})"
        return f"(({ctype(dt)}){s[0]})"
    if op is Ops.BITCAST:
        src_v = f"{_NARROW[sdt.name][1]}({s[0]})" if sdt.name in _NARROW else s[0]
        out = f"({{ {storage_type(sdt)} s_ = {src_v}; {storage_type(dt)} d_; memcpy(&d_, &s_, sizeof(d_)); d_; }})"
        return f"{_NARROW[dt.name][0]}({out})" if dt.name in _NARROW else out
    raise NotImplementedError(f"C backend: op {op.name} is not supported")


def render_c(prg: Program) -> str:
    """The C translation unit of a program: one function named after it."""
    names: dict[UOp, str] = {}
    lines: list[str] = []
    params = []
    # parameter k is the buffer with DEFINE_GLOBAL arg k; one the kernel no longer reads (its loads were all
    # folded away) stays in the signature, so the launch passes every scheduled buffer in order
    gl = {u.arg: u.dtype.scalar for u in prg.uops if u.op is Ops.DEFINE_GLOBAL}
    for k in range(max(gl, default=-1) + 1):
        if k not in gl:
            params.append(f"const void* data{k}")
            continue
        const = "" if k in prg.outs else "const "
        params.append(f"{const}{storage_type(gl[k])}* restrict data{k}")
    depth = 1
    total = math.prod(u.src[0].arg for u in prg.uops if u.op is Ops.RANGE and u.src[0].op is Ops.CONST)
    first_loop = True
    counter = 0

    def emit(text: str) -> None:
        lines.append("  " * depth + text)

    for u in prg.uops:
        op = u.op
        if op is Ops.DEFINE_GLOBAL:
            names[u] = f"data{u.arg}"
        elif op is Ops.CONST:
            names[u] = _const(u)
        elif op is Ops.RANGE:
            n = f"ridx{u.arg[0]}_{counter}"
            counter += 1
            names[u] = n
            end = names[u.src[0]]
            kind = u.arg[1]
            if first_loop and depth == 1 and kind == "loop" and total >= PARALLEL_MIN_WORK and \
                    u.src[0].op is Ops.CONST and u.src[0].arg > 1:
                emit("#pragma omp parallel for schedule(static)")
            elif kind in ("upcast", "unroll"):
                emit(f"#pragma GCC unroll {u.src[0].arg if u.src[0].op is Ops.CONST else 8}")
            if depth == 1:
                first_loop = False
            emit(f"for (int64_t {n} = 0; {n} < {end}; {n}++) {{")
            depth += 1
        elif op is Ops.END:
            depth -= 1
            emit("}")
        elif op is Ops.DEFINE_REG:
            n = f"acc{u.arg}"
            names[u] = n
            emit(f"{ctype(u.dtype)} {n}[1];")
        elif op is Ops.INDEX:
            names[u] = f"{names[u.src[0]]}[{names[u.src[1]]}]"
        elif op is Ops.LOAD:
            idx = u.src[0]
            addr = names[idx]
            dt = u.dtype.scalar
            if idx.src[0].op is Ops.DEFINE_GLOBAL and dt.name in _NARROW:
                addr = f"{_NARROW[dt.name][0]}({addr})"
            if len(idx.src) > 2:
                addr = f"({names[idx.src[2]]} ? {addr} : {names[u.src[1]] if len(u.src) > 1 else '0'})"
            n = f"val{counter}"
            counter += 1
            names[u] = n
            emit(f"{ctype(dt)} {n} = {addr};")
        elif op is Ops.STORE:
            idx, val = u.src
            dt = idx.dtype.scalar
            v = names[val]
            if idx.src[0].op is Ops.DEFINE_GLOBAL and dt.name in _NARROW:
                v = f"{_NARROW[dt.name][1]}({v})"
            stmt = f"{names[idx]} = {v};"
            emit(f"if ({names[idx.src[2]]}) {stmt}" if len(idx.src) > 2 else stmt)
        else:
            n = f"alu{counter}"
            counter += 1
            names[u] = n
            expr = _alu(u, [names[s] for s in u.src])
            if u.dtype.scalar.is_float and op not in (Ops.CAST, Ops.BITCAST, Ops.WHERE):
                expr = _round(u.dtype, expr)
            elif op is Ops.CAST:
                expr = _round(u.dtype, expr)
            emit(f"{ctype(u.dtype)} {n} = {expr};")
    body = "\n".join(lines)
    return f"{PRELUDE}\nvoid {prg.name}({', '.join(params)}) {{\n{body}\n}}\n"
