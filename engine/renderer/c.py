"""C-style source for a linear program: one renderer, three dialects (CPU C, CUDA, OpenCL).

A `Dialect` holds everything the three differ in (kernel prefix, address-space qualifiers, storage types,
math function names, launch-index builtins, local memory, barriers, bit casts, the prelude); the UOp-to-C
translation below is shared. GPU programs (engine/codegen/gpu.py) add SPECIAL launch indices, DEFINE_LOCAL
workgroup memory and BARRIERs; on GPUs float16 is held as raw bits like bfloat16 (no fp16 headers or extensions
needed) and converted by the prelude's bit-exact functions.

Values of float16, bfloat16 and the fp8 types are held in `float` and rounded after every op, so results equal
engine.alu's (one rounding per op; for +, -, *, / and sqrt a float32 result rounded again to a narrower type is
the correctly rounded result, since float32 has more than twice their precision plus two bits); in memory they are
_Float16, raw bfloat16 bits and raw fp8 bytes (in global and in workgroup memory). Conversions to bfloat16 and fp8
round once to nearest even, as ml_dtypes (0.7 and later) does: a double or a wide integer first becomes a float
rounded to odd (exact when it fits; else the float of the two around it whose last bit is 1), which the narrow
rounding then rounds exactly as it would round the original value (float32 keeps more than two bits beyond
bfloat16's and fp8's precision).
float64 to float16 rounds once, as numpy does. Index values are int64_t (in the GPU dialects int32_t where their
bounds fit).
The outermost output loop runs in parallel (OpenMP) when the kernel is big enough; "upcast" and "unroll" loops
are unrolled by the compiler. In the CPU dialect a "vector" loop (Opt VECTOR) runs its iterations as the lanes of
GCC vectors (`_Lanes`): what depends on it is a vector (or, for an index, base + lane * stride kept symbolic), loads
and stores of adjacent elements are vector moves, float +, -, *, / are vector ops, MULACC the target's vector fma
(one rounding, as fmaf), and every other op runs lane by lane with the scalar translation; the other dialects run
it as a plain loop. In CUDA, a copy of adjacent elements from global to workgroup memory (Opt SMEM) whose indexes
are provably aligned moves up to 16 bytes at once (`_chunk_copies`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Collection

from engine.alu import wrap
from engine.codegen.program import Program, memory_of
from engine.dtype import DType, dtypes
from engine.symbolic import sym_infer, terms_of
from engine.uop import GroupOp, Ops, UOp

PARALLEL_MIN_WORK = 1 << 15

_STORAGE = {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
            "index": "int64_t", "float16": "_Float16", "bfloat16": "uint16_t", "float32": "float",
            "float64": "double", "float8_e4m3fn": "uint8_t", "float8_e5m2": "uint8_t"}
# dtypes held in `float` registers: name -> (C function from storage bits to float, from float to storage bits)
_NARROW = {"float16": ("(float)", "(_Float16)"), "bfloat16": ("bf16_to_f", "f_to_bf16"),
           "float8_e4m3fn": ("e4m3_to_f", "f_to_e4m3"), "float8_e5m2": ("e5m2_to_f", "f_to_e5m2")}

# the C prelude includes no system header: the few names kernels use are declared here (GCC and Clang treat the math
# functions as builtins either way, so the code is the same), which takes a third off the compiler's preprocessing
# and parsing (~13 ms of a ~95 ms compile of a small kernel batch)
PRELUDE = """typedef __INT8_TYPE__ int8_t; typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t; typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t; typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t; typedef __UINT64_TYPE__ uint64_t;
#define bool _Bool
#define true 1
#define false 0
#define INT64_MIN (-9223372036854775807ll - 1)
#define memcpy __builtin_memcpy
#define NAN __builtin_nanf("")
#define INFINITY __builtin_inff()
#define isinf(x) __builtin_isinf(x)
/* double -> float kept opaque to GCC 12's SLP vectorizer, which with AVX-512 folded (double)(float)x back to x
   (x >= (float)x was true in every vectorized lane; found by the graph fuzzer): an empty asm holds the float */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define F64_TO_F32(x) ({ float f32_ = (float)(x); __asm__("" : "+x"(f32_)); f32_; })
#else
#define F64_TO_F32(x) ((float)(x))
#endif
float sqrtf(float); double sqrt(double); float exp2f(float); double exp2(double); float log2f(float);
double log2(double); float sinf(float); double sin(double); float truncf(float); double trunc(double);
float powf(float, float); double pow(double, double); float fabsf(float); double fabs(double);
float fmaf(float, float, float); double fma(double, double, double);
static inline float bf16_to_f(uint16_t b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
/* float -> bfloat16 bits: round half to even; NaN becomes the quiet NaN 0x7fc0 with its sign (as ml_dtypes) */
static inline uint16_t f_to_bf16(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
/* an fp8 conversion is a call (inlined at each use, a kernel of fp8 ops compiled 3-4x slower) */
#define FP8_FN static __attribute__((noinline))
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
FP8_FN uint8_t f_to_e4m3(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  uint32_t a = u & 0x7fffffffu;
  return (uint8_t)(((u >> 24) & 0x80u) | (a > 0x43e80000u ? 0x7fu : fp8_mag(a, 3, 7)));
}
/* e5m2 is IEEE-like: from 61440 (the midpoint of 57344 and 65536) up it is inf 0x7c; NaN is 0x7e */
FP8_FN uint8_t f_to_e5m2(float f) {
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
FP8_FN float e4m3_to_f(uint8_t b) { return fp8_to_f(b, 3, 7, 0x1p-9f, 0x7fu); }
FP8_FN float e5m2_to_f(uint8_t b) { return fp8_to_f(b, 2, 15, 0x1p-16f, 0x7cu); }
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


# the prelude of the GPU dialects (`hf`, not `half`: an OpenCL type): the CPU prelude's conversions without libc
# (memcpy, stdint.h), written with the dialect's INLINE, F2U/U2F (float <-> uint32 bits) and CLZ64; float16 too is
# converted here, bit-exactly
GPU_PRELUDE = """INLINE float bf16_to_f(uint16_t b) { return U2F((uint32_t)b << 16); }
INLINE uint16_t f_to_bf16(float f) {
  uint32_t u = F2U(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
INLINE uint32_t fp8_mag(uint32_t a, uint32_t M, uint32_t B) {
  if (a >= (128u - B) << 23)
    return ((a + (1u << (22 - M)) - 1u + ((a >> (23 - M)) & 1u)) >> (23 - M)) - ((127u - B) << M);
  uint32_t s = 151u - B - M - (a >> 23);
  if (s > 24) return 0;
  uint32_t mant = (a & 0x7fffffu) | 0x800000u, q = mant >> s, rem = mant & ((1u << s) - 1u), hf = 1u << (s - 1);
  return q + (rem > hf || (rem == hf && (q & 1u)));
}
INLINE uint8_t f_to_e4m3(float f) {
  uint32_t u = F2U(f), a = u & 0x7fffffffu;
  return (uint8_t)(((u >> 24) & 0x80u) | (a > 0x43e80000u ? 0x7fu : fp8_mag(a, 3, 7)));
}
INLINE uint8_t f_to_e5m2(float f) {
  uint32_t u = F2U(f), a = u & 0x7fffffffu;
  return (uint8_t)(((u >> 24) & 0x80u) | (a > 0x7f800000u ? 0x7eu : a >= 0x47700000u ? 0x7cu : fp8_mag(a, 2, 15)));
}
/* float16 is fp8_mag with 10 mantissa bits and bias 15: from 65520 up it is inf 0x7c00; NaN is 0x7e00 */
INLINE uint16_t f_to_f16(float f) {
  uint32_t u = F2U(f), a = u & 0x7fffffffu;
  return (uint16_t)(((u >> 16) & 0x8000u) |
                    (a > 0x7f800000u ? 0x7e00u : a >= 0x477ff000u ? 0x7c00u : fp8_mag(a, 10, 15)));
}
INLINE float f16_to_f(uint16_t h) {
  uint32_t a = h & 0x7fffu, u;
  if (a >= 0x7c00u) u = a == 0x7c00u ? 0x7f800000u : 0x7fc00000u;
  else if ((a >> 10) == 0) u = F2U((float)a * 0x1p-24f);
  else u = (a << 13) + (112u << 23);
  return U2F(u | ((uint32_t)(h & 0x8000u) << 16));
}
INLINE float fp8_to_f(uint8_t b, uint32_t M, uint32_t B, float sub_scale, uint32_t special) {
  uint32_t a = b & 0x7fu, u;
  if (a >= special) u = a == 0x7cu ? 0x7f800000u : 0x7fc00000u;
  else if ((a >> M) == 0) u = F2U((float)a * sub_scale);
  else u = (a << (23 - M)) + ((127u - B) << 23);
  return U2F(u | ((uint32_t)(b & 0x80u) << 24));
}
INLINE float e4m3_to_f(uint8_t b) { return fp8_to_f(b, 3, 7, 0x1p-9f, 0x7fu); }
INLINE float e5m2_to_f(uint8_t b) { return fp8_to_f(b, 2, 15, 0x1p-16f, 0x7cu); }
INLINE float f_odd_d(double d) {
  float f = (float)d;
  if (d != d || (double)f == d) return f;
  uint32_t u = F2U(f);
  if (!(u & 1u)) u = fabs((double)f) > fabs(d) ? u - 1u : u + 1u;
  return U2F(u);
}
INLINE float f_odd_u(uint64_t a) {
  int sh = 40 - (int)CLZ64(a | 1u);
  if (sh > 0) { uint64_t lost = a & ((((uint64_t)1) << sh) - 1u); a = (a - lost) | (lost ? ((uint64_t)1) << sh : 0u); }
  return (float)a;
}
INLINE float f_odd_i(int64_t x) { return x < 0 ? -f_odd_u((uint64_t)0 - (uint64_t)x) : f_odd_u((uint64_t)x); }
INLINE float round_bf16(float f) { return bf16_to_f(f_to_bf16(f)); }
INLINE float round_f16(float f) { return f16_to_f(f_to_f16(f)); }
INLINE float round_f16d(double d) { return round_f16(f_odd_d(d)); }  /* one rounding: d rounded to odd first */
INLINE float round_e4m3(float f) { return e4m3_to_f(f_to_e4m3(f)); }
INLINE float round_e5m2(float f) { return e5m2_to_f(f_to_e5m2(f)); }
#define MAXF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) > (a) ? (b) : (a)))
#define MINF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) < (a) ? (b) : (a)))
"""

CUDA_HEADER = """typedef signed char int8_t; typedef unsigned char uint8_t; typedef short int16_t;
typedef unsigned short uint16_t; typedef int int32_t; typedef unsigned int uint32_t;
typedef long long int64_t; typedef unsigned long long uint64_t;
#define INLINE static __device__ __forceinline__
#define F2U(f) __float_as_uint(f)
#define U2F(u) __uint_as_float(u)
#define CLZ64(a) __clzll((long long)(a))
#define NAN __uint_as_float(0x7fc00000u)
#define INFINITY __uint_as_float(0x7f800000u)
#define INT64_MIN (-9223372036854775807ll - 1)
template <class D, class S> INLINE D bitcast_(S s) { union { S s; D d; } u; u.s = s; return u.d; }
"""

OPENCL_HEADER = """#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF
typedef char int8_t; typedef uchar uint8_t; typedef short int16_t; typedef ushort uint16_t;
typedef int int32_t; typedef uint uint32_t; typedef long int64_t; typedef ulong uint64_t;
#define INLINE static inline
#define F2U(f) as_uint(f)
#define U2F(u) as_float(u)
#define CLZ64(a) clz((ulong)(a))
#define INT64_MIN (-9223372036854775807l - 1)
"""


@dataclass(frozen=True)
class Dialect:
    """What one C-style language differs in; the rest of the renderer is shared."""

    name: str
    prelude: str
    kernel_prefix: str  # before the kernel's name; {threads} is the workgroup size
    buffer_space: str  # address-space qualifier of a buffer parameter
    restrict: str
    storage: dict[str, str]  # dtype name -> its type in memory
    narrow: dict[str, tuple[str, str]]  # dtypes held in `float` registers -> (bits to float, float to bits)
    fn_suffix: bool  # float math as sqrtf/exp2f (C, CUDA); OpenCL overloads sqrt/exp2
    special: dict[str, str]  # launch index kind ("gidx", "lidx") -> builtin, {d} the dimension
    local_space: str  # qualifier of workgroup memory (CUDA: 16-byte aligned, for wide copies)
    barrier: str  # a workgroup barrier (with a fence on workgroup memory)
    bitcast: str  # format of a bit cast: {src} and {dst} are storage types, {x} the value
    openmp: bool  # the outermost loop runs in parallel (OpenMP pragma)
    index32: bool = False  # index values whose bounds fit compute in 32 bits (see _index_type)


_GPU_STORAGE = _STORAGE | {"float16": "uint16_t"}
_GPU_NARROW = _NARROW | {"float16": ("f16_to_f", "f_to_f16")}

C = Dialect("C", PRELUDE, "void", "", "restrict", _STORAGE, _NARROW, True, {}, "", "",
            "({{ {src} s_ = {x}; {dst} d_; memcpy(&d_, &s_, sizeof(d_)); d_; }})", True)
CUDA = Dialect("CUDA", CUDA_HEADER + GPU_PRELUDE, 'extern "C" __global__ void __launch_bounds__({threads})', "",
               "__restrict__", _GPU_STORAGE, _GPU_NARROW, True, {"gidx": "blockIdx.{d}", "lidx": "threadIdx.{d}"},
               "__shared__ __align__(16)", "__syncthreads();", "bitcast_<{dst}>(({src})({x}))", False, True)
_CL_TYPES = {"int8_t": "char", "uint8_t": "uchar", "int16_t": "short", "uint16_t": "ushort", "int32_t": "int",
             "uint32_t": "uint", "int64_t": "long", "uint64_t": "ulong"}
OPENCL = Dialect("OpenCL", OPENCL_HEADER + GPU_PRELUDE, "__kernel void", "__global ", "restrict",
                 {k: "uchar" if v == "bool" else _CL_TYPES.get(v, v) for k, v in _GPU_STORAGE.items()}, _GPU_NARROW,
                 False, {"gidx": "get_group_id({d})", "lidx": "get_local_id({d})"}, "__local",
                 "barrier(CLK_LOCAL_MEM_FENCE);", "as_{dst}(({src})({x}))", False, True)
_XYZ = "xyz"


def ctype(dt: DType, d: Dialect = C) -> str:
    """The C type that holds a value of `dt` in registers."""
    name = dt.scalar.name
    if name in d.narrow:
        return "float"
    if name not in d.storage:
        raise NotImplementedError(f"{d.name} backend: dtype {name} is not supported")
    return "bool" if name == "bool" else d.storage[name]


def _narrow_index(u: UOp, d: Dialect) -> bool:
    """An index value a GPU dialect holds in 32 bits: its bounds fit. A GPU's integer unit is 32 bits wide (a 64-bit
    add is two instructions, a 64-bit multiply several), and a kernel's thread, loop and shared-memory indices are
    small; an expression whose result fits does not overflow on the way in one op, and a wide result widens its narrow
    operands first (_index_srcs)."""
    return d.index32 and u.dtype == dtypes.index and -(1 << 31) <= u.vmin and u.vmax < (1 << 31)


def _index_type(u: UOp, d: Dialect) -> str:
    """The C type of a value in registers, index values narrowed where they fit (_narrow_index)."""
    return d.storage["int32"] if _narrow_index(u, d) else ctype(u.dtype, d)


def _index_srcs(u: UOp, names: dict[UOp, str], d: Dialect) -> list[str]:
    """u's operands as C expressions; a wide index result widens its narrow index operands (no 32-bit overflow)."""
    if not d.index32 or u.dtype != dtypes.index or _narrow_index(u, d):
        return [names[s] for s in u.src]
    wide = ctype(dtypes.index, d)
    return [f"(({wide}){names[s]})" if _narrow_index(s, d) else names[s] for s in u.src]


def storage_type(dt: DType, d: Dialect = C) -> str:
    name = dt.scalar.name
    if name not in d.storage:
        raise NotImplementedError(f"{d.name} backend: dtype {name} is not supported")
    return d.storage[name]


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
        # every float but float64 computes in float: an unsuffixed (double) literal made OpenCL's pow(float, 0.5) of
        # an fp8 value ambiguous (a build failure, found by the graph fuzzer on PoCL)
        return repr(float(v)) + ("" if dt == dtypes.float64 else "f")
    if dt.kind == "u":
        return f"{v}ull" if dt.itemsize == 8 else f"{v}u"
    if v == -(1 << 63):
        return "INT64_MIN"
    return f"{v}ll" if dt.itemsize == 8 else str(v)


def _fn(dt: DType, name: str, d: Dialect = C) -> str:
    return name if dt.scalar == dtypes.float64 or not d.fn_suffix else name + "f"

def _int_div(u: UOp, a: str, b: str) -> str:
    """IDIV/MOD as engine.alu defines them: C's where C is defined, 0 for a zero divisor, INT_MIN / -1 wrapping
    (both trap on x86). The guards are left out where the divisor's bounds exclude 0 and -1 (constant divisors)."""
    lo, hi = u.src[1].bounds
    zero, neg1 = lo <= 0 <= hi, u.dtype.scalar.kind in "ix" and lo <= -1 <= hi
    expr = f"({a} / {b})" if u.op is Ops.IDIV else f"({a} % {b})"
    if neg1:  # -fwrapv: -INT_MIN is INT_MIN
        expr = f"({b} == -1 ? {f'(0 - {a})' if u.op is Ops.IDIV else '0'} : {expr})"
    return f"({b} == 0 ? 0 : {expr})" if zero else expr


_WRAPPING = {Ops.ADD: "+", Ops.SUB: "-", Ops.MUL: "*"}


def _alu(u: UOp, s: list[str], d: Dialect = C) -> str:
    op, dt = u.op, u.dtype.scalar
    sdt = u.src[0].dtype.scalar if u.src else dt
    if d is not C and dt.name in ("int32", "int64") and (op in _WRAPPING or op is Ops.NEG):
        # CUDA and OpenCL have no -fwrapv: signed overflow is undefined there, and ptxas miscompiled -max(-x) (an
        # int32 min) on an H100 (found by the graph fuzzer). The engine's ints wrap: compute them unsigned.
        st, ut = ctype(dt, d), "uint32_t" if dt.name == "int32" else "uint64_t"
        if op is Ops.NEG:
            return f"(({st})(({ut})0 - ({ut}){s[0]}))"
        return f"(({st})(({ut}){s[0]} {_WRAPPING[op]} ({ut}){s[1]}))"
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
        ut = "u" + storage_type(dt, d) if dt.kind == "i" else storage_type(dt, d)
        return f"(({storage_type(dt, d)})(({ut}){s[0]} << {s[1]}))"
    if op is Ops.SHR:
        return f"({s[0]} >> {s[1]})"
    if op is Ops.WHERE:
        return f"({s[0]} ? {s[1]} : {s[2]})"
    if op is Ops.MULACC:  # floats: one rounding (fmaf; a narrow float's is then rounded to it)
        return f"{_fn(dt, 'fma', d)}({s[0]}, {s[1]}, {s[2]})" if dt.is_float else f"({s[0]} * {s[1]} + {s[2]})"
    if op is Ops.SQRT:
        return f"{_fn(dt, 'sqrt', d)}({s[0]})"
    if op is Ops.EXP2:
        return f"{_fn(dt, 'exp2', d)}({s[0]})"
    if op is Ops.LOG2:
        return f"{_fn(dt, 'log2', d)}({s[0]})"
    if op is Ops.SIN:
        return f"{_fn(dt, 'sin', d)}({s[0]})"
    if op is Ops.TRUNC:
        return f"{_fn(dt, 'trunc', d)}({s[0]})"
    if op is Ops.RECIPROCAL:
        return f"(1.0{'f' if dt != dtypes.float64 else ''} / {s[0]})"
    if op is Ops.POW:
        return f"{_fn(dt, 'pow', d)}({s[0]}, {s[1]})"
    if op is Ops.CAST:
        if dt == dtypes.bool:
            return f"({s[0]} != 0)"
        if sdt.is_float and dt.kind in "iu":
            lo = _const(UOp.const(dt, dt.min))
            # exec_alu: NaN and inf give the minimum; otherwise truncate and wrap (uint64 from 2^63 up directly)
            conv = f"({ctype(dt, d)})(int64_t){s[0]}"
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
        if d is C and dt == dtypes.float32 and sdt == dtypes.float64:
            return f"F64_TO_F32({s[0]})"
        return f"(({ctype(dt, d)}){s[0]})"
    if op is Ops.BITCAST:
        src_v = f"{d.narrow[sdt.name][1]}({s[0]})" if sdt.name in d.narrow else s[0]
        out = d.bitcast.format(src=storage_type(sdt, d), dst=storage_type(dt, d), x=src_v)
        return f"{d.narrow[dt.name][0]}({out})" if dt.name in d.narrow else out
    raise NotImplementedError(f"{d.name} backend: op {op.name} is not supported")


_FLOATS = (dtypes.float32, dtypes.float64)  # float types held in registers as they are stored (no rounding)
_INTS = (dtypes.int32, dtypes.int64, dtypes.uint32, dtypes.uint64)


def _stored(buf: UOp) -> bool:
    """Whether a buffer holds narrow floats as their storage bits: global and workgroup memory (registers hold them
    as floats)."""
    return memory_of(buf).op in (Ops.DEFINE_GLOBAL, Ops.DEFINE_LOCAL)


def _load_expr(u: UOp, addr: str, valid: str | None, alt: str, d: Dialect) -> str:
    """The value a LOAD of `u` reads at `addr` (a narrow float converted), or `alt` where `valid` is false."""
    dt = u.dtype.scalar
    if _stored(u.src[0].src[0]) and dt.name in d.narrow:
        addr = f"{d.narrow[dt.name][0]}({addr})"
    return addr if valid is None else f"({valid} ? {addr} : {alt})"


def _store_value(idx: UOp, v: str, d: Dialect) -> str:
    """A register value as it is stored through INDEX `idx` (a narrow float to its storage bits)."""
    dt = idx.dtype.scalar
    return f"{d.narrow[dt.name][1]}({v})" if _stored(idx.src[0]) and dt.name in d.narrow else v


def _alu_expr(u: UOp, srcs: list[str], d: Dialect) -> str:
    """An ALU/CAST/BITCAST as a C expression, rounded to a narrow float type where it has one."""
    # the CPU dialect calls _alu(u, srcs): tests plant bugs in it through that signature
    expr = _alu(u, srcs) if d is C else _alu(u, srcs, d)
    if (u.dtype.scalar.is_float and u.op not in (Ops.CAST, Ops.BITCAST, Ops.WHERE)) or u.op is Ops.CAST:
        expr = _round(u.dtype, expr)
    return expr


class _Lanes:
    """The lanes of a "vector" loop of the CPU dialect while its body is rendered.

    A value that depends on the loop's counter is held as one of:
      affine   an index base + lane * stride kept symbolic (base a scalar variable), so that a load or store of
               stride 1 is one vector move;
      vector   a GCC vector of its register type (bool: uint8_t 0/1), lane l being `name[l]`;
      mask     a bool as an integer vector of -1/0 (what a vector comparison gives), lane l being `(name[l] & 1)`.
    What does not depend on it stays a scalar. Lane by lane every value is what the scalar translation computes:
    vector code is used only where it computes the same (float +, -, *, /, comparisons, selects, bit casts and
    integer bit ops, loads and stores of adjacent elements of types held as stored); every other op runs lane by
    lane with the scalar translation, consecutive ones in one loop over the lanes."""

    def __init__(self, rng: UOp, n: int, names: dict[UOp, str], out: Any):
        self.rng, self.n, self.names, self.out = rng, n, names, out
        self.affine: dict[UOp, tuple[str, int]] = {rng: ("0", 1)}
        self.vectors: set[UOp] = set()  # values (and accumulators) held as vectors
        self.masks: dict[UOp, int] = {}  # mask -> the byte width of its lanes
        self.indexes: set[UOp] = set()  # INDEXes whose address or gate depends on the lanes
        self.types: dict[str, str] = {}  # vector type name -> its typedef
        self.decls: list[str] = []  # the lane-by-lane group being collected: declarations and loop body
        self.body: list[str] = []

    def depends(self, u: UOp) -> bool:
        return u in self.affine or u in self.vectors or u in self.masks or u in self.indexes

    def vtype(self, dt: DType) -> str:
        """The GCC vector type of n lanes of `dt`'s register type (declared once per kernel)."""
        c = "uint8_t" if dt.scalar == dtypes.bool else ctype(dt)
        name = f"v{self.n}_{c}"
        self.types.setdefault(name, f"typedef {c} {name} __attribute__((vector_size({self.n} * sizeof({c}))));")
        return name

    def fma_helper(self, dt: DType) -> str:
        """The name of a function giving lane by lane fma(a, b, c) of n-lane vectors of float32 or float64 (declared
        once per kernel): the x86 vector fma where the compiler targets it (AVX-512 for 64 bytes, FMA for 16 and 32),
        else lane by lane."""
        vt = self.vtype(dt)
        name = f"fma_{vt}"
        if name not in self.types:
            ps, bits = ("ps", 32) if dt == dtypes.float32 else ("pd", 64)
            width = self.n * bits
            fast = {512: (f"__builtin_ia32_vfmadd{ps}512_mask(a, b, c, -1, 4)", "__AVX512F__"),
                    256: (f"__builtin_ia32_vfmadd{ps}256(a, b, c)", "__FMA__"),
                    128: (f"__builtin_ia32_vfmadd{ps}(a, b, c)", "__FMA__")}.get(width)
            fn = "__builtin_fmaf" if dt == dtypes.float32 else "__builtin_fma"
            slow = f"{vt} r; for (int i = 0; i < {self.n}; i++) r[i] = {fn}(a[i], b[i], c[i]); return r;"
            body = slow if fast is None else f"\n#if defined({fast[1]})\n  return {fast[0]};\n#else\n  {slow}\n#endif\n"
            # guarded: the kernels of a compile batch share one translation unit, which must define it once
            self.types[name] = (f"#ifndef HAVE_{name}\n#define HAVE_{name}\n"
                                f"static inline {vt} {name}({vt} a, {vt} b, {vt} c) {{ {body}}}\n#endif")
        return name

    def mtype(self, itemsize: int) -> str:
        return self.vtype(dtypes.int64 if itemsize == 8 else dtypes.int32)

    def lane(self, u: UOp, lane: str = "l_") -> str:
        """Lane `lane` of a value, as a C expression (a scalar value is the same in every lane)."""
        if u in self.affine:
            base, stride = self.affine[u]
            return f"({base} + {lane})" if stride == 1 else f"({base} + {lane} * {stride}ll)"
        if u in self.masks:
            return f"({self.names[u]}[{lane}] & 1)"
        return f"{self.names[u]}[{lane}]" if u in self.vectors else self.names[u]

    def vec(self, u: UOp) -> str:
        """A vector or scalar value as a vector expression (a scalar broadcast)."""
        if u in self.vectors:
            return self.names[u]
        return f"(({self.vtype(u.dtype)}){{{', '.join([self.names[u]] * self.n)}}})"

    def flush(self) -> None:
        """Emit the lane-by-lane group collected so far: its declarations, then one loop over the lanes."""
        if self.body:
            for line in self.decls:
                self.out(line)
            self.out(f"for (int l_ = 0; l_ < {self.n}; l_++) {{")
            for line in self.body:
                self.out("  " + line)
            self.out("}")
        self.decls, self.body = [], []

    def emit(self, line: str) -> None:
        self.flush()
        self.out(line)

    def per_lane(self, name: str, dt: DType, expr: str) -> None:
        """Vector `name`, each lane l_ set to `expr` (written in terms of l_), in the current lane-by-lane group."""
        self.decls.append(f"{self.vtype(dt)} {name};")
        # a bool lane is a uint8_t, not a _Bool: nothing makes True + True (numpy's or) 1 again but this
        self.body.append(f"{name}[l_] = ({expr}) != 0;" if dt.scalar == dtypes.bool else f"{name}[l_] = {expr};")

    def contiguous(self, idx: UOp) -> str | None:
        """The base of a lane-dependent, ungated index of stride 1 (its lanes address adjacent elements)."""
        if len(idx.src) > 2 or idx.src[1] not in self.affine:
            return None
        base, stride = self.affine[idx.src[1]]
        return base if stride == 1 else None

    def render(self, u: UOp, name: str) -> bool:
        """Render `u` (its value named `name`) if it depends on the lanes; False leaves it to the scalar code."""
        op, names = u.op, self.names
        if op is Ops.DEFINE_REG:  # an accumulator inside the loop holds one value per lane
            names[u] = f"acc{u.arg}"
            self.vectors.add(u)
            self.emit(f"{self.vtype(u.dtype.scalar)} acc{u.arg};")
            return True
        if not any(self.depends(x) for x in u.src):
            if op not in (Ops.CONST, Ops.DEFINE_GLOBAL, Ops.INDEX):  # the scalar code emits something
                self.flush()
            return False
        if op is Ops.INDEX:  # loads and stores read its parts
            self.indexes.add(u)
        elif op is Ops.STORE:
            self._store(u)
        elif op is Ops.LOAD:
            names[u] = name
            self._load(u, name)
        else:
            names[u] = name
            self._alu(u, name)
        return True

    def _store(self, u: UOp) -> None:
        idx, val = u.src
        buf = self.names[idx.src[0]]
        if idx.src[0] in self.vectors:  # an accumulator
            if val in self.vectors or not self.depends(val):
                self.emit(f"{buf} = {self.vec(val)};")
            else:
                self.body.append(f"{buf}[l_] = {self.lane(val)};")
            return
        base, dt = self.contiguous(idx), idx.dtype.scalar
        if base is not None and val in self.vectors and storage_type(dt) == ctype(dt):
            self.emit(f"memcpy(&{buf}[{base}], &{self.names[val]}, sizeof({self.names[val]}));")
            return
        stmt = f"{buf}[{self.lane(idx.src[1])}] = {_store_value(idx, self.lane(val), C)};"
        self.body.append(f"if ({self.lane(idx.src[2])}) {stmt}" if len(idx.src) > 2 else stmt)

    def _load(self, u: UOp, name: str) -> None:
        idx, dt = u.src[0], u.dtype.scalar
        buf = self.names[idx.src[0]]
        self.vectors.add(u)
        if idx.src[0] in self.vectors:  # an accumulator's value
            self.emit(f"{self.vtype(dt)} {name} = {buf};")
            return
        base = self.contiguous(idx)
        if base is not None and storage_type(dt) == ctype(dt):
            self.emit(f"{self.vtype(dt)} {name};")
            self.emit(f"memcpy(&{name}, &{buf}[{base}], sizeof({name}));")
            return
        valid = self.lane(idx.src[2]) if len(idx.src) > 2 else None
        alt = self.names[u.src[1]] if len(u.src) > 1 else "0"
        self.per_lane(name, dt, _load_expr(u, f"{buf}[{self.lane(idx.src[1])}]", valid, alt, C))

    def _alu(self, u: UOp, name: str) -> None:
        op, dt, src = u.op, u.dtype.scalar, u.src
        if dt == dtypes.index and op in (Ops.ADD, Ops.SUB, Ops.MUL) and not any(x in self.vectors for x in src):
            (ab, ast_), (bb, bst) = [self.affine.get(x, (self.names[x], 0)) for x in src]
            if op is not Ops.MUL or (c := src[1] if src[0] in self.affine else src[0]).op is Ops.CONST:
                stride = ast_ + bst if op is Ops.ADD else ast_ - bst if op is Ops.SUB else (ast_ or bst) * c.arg
                self.affine[u] = (name, stride)  # (ab + l*as) op (bb + l*bs)
                self.emit(f"int64_t {name} = {_alu_expr(u, [ab, bb], C)};")
                return
        native = self._native(u)
        if native is not None:
            self.emit(f"{native[0]} {name} = {native[1]};")
            return
        self.vectors.add(u)
        self.per_lane(name, dt, _alu_expr(u, [self.lane(x) for x in src], C))

    def _native(self, u: UOp) -> tuple[str, str] | None:
        """(type, vector expression) of an op that vector code computes exactly as the scalar code, else None."""
        op, dt, src = u.op, u.dtype.scalar, u.src
        if any(x in self.affine for x in src):
            return None
        sdt = src[0].dtype.scalar if src else dt
        vectors = [x for x in src if x in self.vectors]
        if op in (Ops.ADD, Ops.SUB, Ops.MUL, Ops.FDIV, Ops.NEG, Ops.RECIPROCAL) and dt in _FLOATS or \
                op in (Ops.AND, Ops.OR, Ops.XOR) and dt in _INTS and not any(x in self.masks for x in src):
            self.vectors.add(u)  # a vector with a scalar: GCC broadcasts the scalar
            return self.vtype(dt), _alu_expr(u, [self.names[x] for x in src], C)
        if op in (Ops.AND, Ops.OR) and dt == dtypes.bool and all(x in self.masks for x in src) and \
                len({self.masks[x] for x in src}) == 1:
            self.masks[u] = self.masks[src[0]]
            return self.mtype(self.masks[u]), _alu_expr(u, [self.names[x] for x in src], C)
        if op in GroupOp.Comparison and sdt in _FLOATS:
            self.masks[u] = sdt.itemsize
            return self.mtype(sdt.itemsize), _alu_expr(u, [self.vec(x) for x in src], C)
        if op is Ops.BITCAST and dt in _FLOATS + _INTS and sdt in _FLOATS + _INTS and \
                dt.itemsize == sdt.itemsize and vectors:
            self.vectors.add(u)
            return self.vtype(dt), f"(({self.vtype(dt)}){self.names[src[0]]})"
        if op is Ops.WHERE and dt in _FLOATS + _INTS and (self.masks.get(src[0]) == dt.itemsize or
                                                          not self.depends(src[0])):
            self.vectors.add(u)
            if src[0] not in self.masks:  # one condition for every lane
                return self.vtype(dt), f"({self.names[src[0]]} ? {self.vec(src[1])} : {self.vec(src[2])})"
            return self.vtype(dt), self._select(self.names[src[0]], self.vec(src[1]), self.vec(src[2]), dt)
        if op is Ops.MULACC and dt in _FLOATS:  # one rounding a lane: the target's vector fma (helper below)
            self.vectors.add(u)
            return self.vtype(dt), f"{self.fma_helper(dt)}({', '.join(self.vec(x) for x in src)})"
        if op is Ops.MAX and dt in _FLOATS:  # MAXF: NaN if either is NaN, else the larger
            a, b = self.vec(src[0]), self.vec(src[1])
            nan = f"(({self.vtype(dt)}){{{', '.join(['NAN'] * self.n)}}})"
            self.vectors.add(u)
            return self.vtype(dt), self._select(f"(({a} != {a}) | ({b} != {b}))", nan,
                                                self._select(f"({b} > {a})", b, a, dt), dt)
        return None

    def _select(self, mask: str, a: str, b: str, dt: DType) -> str:
        """Lane by lane `mask ? a : b` for vectors of `dt` and a -1/0 mask of the same width (bit operations)."""
        m = self.mtype(dt.itemsize)
        return f"(({self.vtype(dt)})((({m}){a} & {mask}) | (({m}){b} & ~{mask})))"


_MMA_TYPES = {"float16": ("f16", "f_to_f16"), "bfloat16": ("bf16", "f_to_bf16"), "float8_e4m3fn": ("e4m3", "f_to_e4m3"),
              "float8_e5m2": ("e5m2", "f_to_e5m2")}
_MMA_SHAPES = {"m16n8k16": (8, 4, 2), "m16n8k32": (16, 8, 4)}  # A elements, B elements, elements per 32-bit register


def _is_zero(x: UOp) -> bool:
    """x is the constant +0 (all its storage bits 0)."""
    return x.op is Ops.CONST and x.arg == 0 and math.copysign(1.0, x.arg) > 0


def _mma_bits(x: UOp, names: dict[UOp, str], to_bits: str) -> str:
    """The 16 storage bits of a tensor-core input: a load's element itself (0 where a gate or a select of the tail
    gives 0), 0 for the constant +0, else its float converted."""
    if _is_zero(x):
        return "0u"
    if x.op is Ops.WHERE and x.src[2].op is Ops.CONST and x.src[2].arg == 0 and x.src[1].op is Ops.LOAD:
        return f"({names[x.src[0]]} ? {_mma_bits(x.src[1], names, to_bits)} : 0u)"
    if x.op is Ops.LOAD and _stored(x.src[0].src[0]) and x.src[0].src[0].dtype.scalar == x.dtype:
        idx = x.src[0]
        if len(idx.src) == 2:
            return f"(uint32_t){names[idx]}"
        if len(x.src) > 1 and x.src[1].op is Ops.CONST and x.src[1].arg == 0:
            return f"({names[idx.src[2]]} ? (uint32_t){names[idx]} : 0u)"
    return f"(uint32_t){to_bits}({names[x]})"


def _multiple_of(x: UOp, n: int) -> bool:
    """Whether integer expression x is provably a multiple of n (a power of two): constants, sums of multiples,
    products with a multiple."""
    if x.op is Ops.CONST:
        return isinstance(x.arg, int) and x.arg % n == 0
    if x.op in (Ops.ADD, Ops.SUB):
        return _multiple_of(x.src[0], n) and _multiple_of(x.src[1], n)
    if x.op is Ops.MUL:
        return _multiple_of(x.src[0], n) or _multiple_of(x.src[1], n)
    if x.op is Ops.SHL and x.src[1].op is Ops.CONST:
        return (1 << x.src[1].arg) % n == 0 or _multiple_of(x.src[0], n)
    return False


def _offset(i: UOp) -> tuple[UOp, int]:
    """An index as (base, constant offset): i = base + offset."""
    if i.op is Ops.ADD and i.src[1].op is Ops.CONST and isinstance(i.src[1].arg, int):
        return i.src[0], i.src[1].arg
    return i, 0


def _packed_load(xs: tuple[UOp, ...], names: dict[UOp, str]) -> str | None:
    """One 32-bit load for the elements of one mma input register where they are unguarded loads of adjacent
    elements of one buffer (base + o, base + o + 1, ...) and the first index is provably a multiple of their count
    (so the word is aligned: buffers start 256-byte aligned, workgroup buffers 16-byte aligned); else None."""
    first = xs[0]
    if not all(x.op is Ops.LOAD and len(x.src) == 1 and len(x.src[0].src) == 2 for x in xs):
        return None
    buf, index = first.src[0].src
    base, off = _offset(index)
    if not _stored(buf) or buf.dtype.scalar != first.dtype or off % len(xs) or not _multiple_of(base, len(xs)):
        return None
    if any(x.src[0].src[0] is not buf or _offset(x.src[0].src[1]) != (base, off + j) for j, x in enumerate(xs)):
        return None
    return f"*(const uint32_t*)({names[buf]} + {names[index]})"


@dataclass(frozen=True)
class _Fragment:
    """ldmatrix for one mma operand (its 16-bit elements read from workgroup memory): lane t gives the address of
    row t % 8 of 8 x 8 matrix t // 8 (of len(origin)), at element `origin[m]` + row * `stride` counted from where
    lane 0 reads the operand's first element (index `first`); `trans` where the operand is stored transposed (its
    element pairs one row apart)."""

    buf: UOp
    first: UOp  # the index of the first element's load
    lane: UOp
    origin: tuple[int, ...]
    stride: int
    trans: bool


_LANE_MATH = (Ops.CONST, Ops.ADD, Ops.MUL, Ops.IDIV, Ops.MOD, Ops.SHL, Ops.SHR, Ops.AND)


def _fragment(xs: tuple[UOp, ...], lane: UOp) -> _Fragment | None:
    """ldmatrix (.x4 for A's 8 elements, .x2 for B's 4, .trans where stored transposed) for the elements of one
    m16n8k16 operand, where every lane's element j is an unguarded load of one workgroup buffer at an index whose
    distance from element 0's at lane 0, D_j(lane), is the same wherever the other variables are: the terms
    (engine.symbolic.terms_of) without the lane the same for every element, those with it integer math of the lane
    and other thread indices only (evaluated at all their values). Each pair of elements (one 32-bit register) must be
    the ISA's 8 x 8 matrix: register r of lane L (g = L // 4, c = L % 4) at D_2r(L) = M_r + g * S + 2c, the pair
    adjacent (transposed: M_r + 2c * S + g, the pair S apart), and every row 16-byte aligned (M_r and S multiples of
    8, element 0's index at lane 0 a multiple of 8 everywhere). Checked at all 32 lanes, so the rows ldmatrix reads
    are exactly the elements the lanes load; else None (the elements are loaded one by one)."""
    if not all(x.op is Ops.LOAD and len(x.src) == 1 and len(x.src[0].src) == 2 and x.dtype.itemsize == 2
               for x in xs):
        return None
    buf = xs[0].src[0].src[0]
    if memory_of(buf).op is not Ops.DEFINE_LOCAL or any(x.src[0].src[0] is not buf for x in xs):
        return None
    free: list[dict[UOp, int]] = []  # per element: its terms without the lane, {base: coefficient}
    laned: list[list[tuple[UOp, int]]] = []  # ... and with it
    const: list[int] = []
    others: set[UOp] = set()  # the thread indices beside the lane those read
    for x in xs:
        terms, c = terms_of(x.src[0].src[1])
        free.append({b: k for b, k in terms.items() if lane not in b.toposort})
        laned.append([(b, k) for b, k in terms.items() if lane in b.toposort])
        const.append(c)
        for b, _ in laned[-1]:
            for v in b.toposort:
                if v.op is Ops.SPECIAL and v is not lane and v.arg.startswith("lidx"):
                    others.add(v)
                elif v is not lane and v.op not in _LANE_MATH:
                    return None
    if any(f != free[0] for f in free) or not all(k % 8 == 0 or _multiple_of(b, 8) for b, k in free[0].items()):
        return None
    order = sorted(others, key=lambda v: v.arg)
    sizes = [v.src[0].arg for v in order]
    if math.prod(sizes) > 1024:
        return None
    dist: list[list[int]] | None = None  # D_j(t)
    bases = {b for terms in laned for b, _ in terms}  # each evaluated once at every lane (the elements share them)
    try:
        for values in itertools.product(*(range(n) for n in sizes)):
            env: dict[Any, int] = dict(zip(order, values))
            at = {b: [sym_infer(b, {**env, lane: t}) for t in range(32)] for b in bases}
            here = [[const[j] + sum(k * at[b][t] for b, k in laned[j]) for t in range(32)] for j in range(len(xs))]
            zero = here[0][0]
            d = [[v - zero for v in row] for row in here]
            if zero % 8 or (dist is not None and d != dist):
                return None
            dist = d
    except ZeroDivisionError:
        return None
    if dist is None:
        return None
    for trans in (False, True):
        origin = tuple(dist[2 * r][0] for r in range(len(xs) // 2))
        stride = dist[1][0] - origin[0] if trans else dist[0][4] - origin[0]
        want = [[(m + 2 * (t % 4) * stride + t // 4 + stride * j) if trans else (m + t // 4 * stride + 2 * (t % 4) + j)
                 for t in range(32)] for m in origin for j in (0, 1)]
        if want == dist and stride % 8 == 0 and all(m % 8 == 0 for m in origin):
            return _Fragment(buf, xs[0].src[0].src[1], lane, origin, stride, trans)
    return None


def _ldmatrix_address(f: _Fragment, names: dict[UOp, str]) -> str:
    """The element index lane t gives ldmatrix: `first` less its distance from lane 0's (element 0's layout, which
    _fragment checked), plus the row's. Written so that it means the same in C and in Python (the test evaluates it):
    integer math and comparisons (0 or 1) only."""
    lane, s = names[f.lane], f.stride
    lane0 = f"(({lane} & 3) * {2 * s} + ({lane} >> 2))" if f.trans else f"(({lane} >> 2) * {s} + ({lane} & 3) * 2)"
    matrix = f"(({lane} >> 3) & {len(f.origin) - 1})"
    origin = " + ".join(f"({matrix} == {m}) * {o}" for m, o in enumerate(f.origin) if o) or "0"
    return f"{names[f.first]} - {lane0} + ({lane} & 7) * {s} + {origin}"


def _ldmatrix(f: _Fragment, reg: str, names: dict[UOp, str]) -> list[str]:
    """The registers of an operand as one ldmatrix (a warp-wide read of workgroup memory: volatile, and after the
    barrier that makes the copies visible, like the loads it replaces)."""
    n = len(f.origin)
    outs = ", ".join(f'"=r"({reg}[{i}])' for i in range(n))
    regs = ", ".join(f"%{i}" for i in range(n))
    return [f"uint32_t {reg}[{n}];",
            f'asm volatile("{{ .reg .u64 a; .reg .u32 s; cvta.to.shared.u64 a, %{n}; cvt.u32.u64 s, a; '
            f'ldmatrix.sync.aligned.m8n8.x{n}{".trans" if f.trans else ""}.shared.b16 {{{regs}}}, [s]; }}" : '
            f'{outs} : "l"(&{names[f.buf]}[{_ldmatrix_address(f, names)}]) : "memory");']


LDMATRIX = True  # CUDA: mma operands read from workgroup memory with ldmatrix where the layout allows (_fragment)
_WORDS = {16: "uint4", 8: "uint2", 4: "uint32_t", 2: "uint16_t"}  # CUDA types that move that many bytes at once
_WORD_BYTES = {w: n for n, w in _WORDS.items()}
_ASYNC_BYTES = {16: "cg", 8: "ca", 4: "ca"}  # word sizes cp.async copies (16 bytes bypass L1: .cg)


def _async_copy(dst: str, src: str, nbytes: int) -> str:
    """A word copied from global to shared memory without passing through registers (cp.async, sm_80 and up): the
    copy completes in the background; a barrier waits for it (cp.async.wait_group)."""
    return (f'asm volatile("{{ .reg .u64 a; .reg .u32 s; cvta.to.shared.u64 a, %0; cvt.u32.u64 s, a; '
            f'cp.async.{_ASYNC_BYTES[nbytes]}.shared.global [s], [%1], {nbytes}; }}" :: "l"(&{dst}), "l"(&{src}) '
            f': "memory");')


def _chunk_copies(prg: Program) -> tuple[dict[UOp, tuple[UOp, UOp, str]], set[UOp]]:
    """Copies from global to workgroup memory (Opt SMEM, engine/codegen/smem.py) that CUDA moves as one wide word:
    runs of STOREs of adjacent elements, each of a LOAD (read by nothing else) of the adjacent element of one global
    buffer the kernel does not write (the word is read at the run's last STORE), whose first indexes are both provably
    multiples of the run's length (16 bytes at most).
    Returns {the run's last STORE: (its first STORE's INDEX, its first LOAD's INDEX, the word type)} and the LOADs
    and STOREs the words replace."""
    users: dict[UOp, int] = {}
    for u in prg.uops:
        for x in u.src:
            users[x] = users.get(x, 0) + 1
    runs: dict[tuple, dict[int, UOp]] = {}
    for u in prg.uops:
        if u.op is not Ops.STORE or len(u.src[0].src) != 2 or memory_of(u.src[0].src[0]).op is not Ops.DEFINE_LOCAL:
            continue
        ld = u.src[1]
        if ld.op is not Ops.LOAD or len(ld.src) != 1 or len(ld.src[0].src) != 2 or users.get(ld) != 1 or \
                ld.src[0].src[0].op is not Ops.DEFINE_GLOBAL or ld.src[0].src[0].arg in prg.outs or \
                ld.dtype != u.src[0].dtype.scalar:
            continue
        (dst, dst_off), (src, src_off) = _offset(u.src[0].src[1]), _offset(ld.src[0].src[1])
        runs.setdefault((u.src[0].src[0], dst, ld.src[0].src[0], src, src_off - dst_off), {})[dst_off] = u
    pos = {u: i for i, u in enumerate(prg.uops)}
    words: dict[UOp, tuple[UOp, UOp, str]] = {}
    done: set[UOp] = set()
    for (_, dst, _, src, delta), stores in runs.items():
        size = next(iter(stores.values())).src[1].dtype.itemsize
        for n in (nbytes // size for nbytes in _WORDS if nbytes // size > 1):  # elements a word, widest first
            if not (_multiple_of(dst, n) and _multiple_of(src, n) and delta % n == 0):
                continue
            for first in sorted(o for o in stores if o % n == 0):
                if any(first + j not in stores or stores[first + j] in done for j in range(n)):
                    continue
                run = [stores[first + j] for j in range(n)]
                last = max(run, key=pos.__getitem__)
                words[last] = (run[0].src[0], run[0].src[1].src[0], _WORDS[n * size])
                done.update(run)
                done.update(st.src[1] for st in run)
    return words, done


def _wmma(u: UOp, names: dict[UOp, str], d: Dialect, lane: UOp | None = None,
          loaded: dict[tuple[UOp, ...], str] | None = None) -> list[str]:
    """A WMMA (engine/codegen/tc.py) as inline PTX mma.sync: 16-bit inputs two and 8-bit inputs four to a 32-bit
    register, the first element in the lowest bits (the ISA's "low to high" order). Volatile: the whole warp must
    run it, so the compiler must not sink it into a store's condition (where only some lanes would). With the warp's
    `lane` index, an operand whose elements `_fragment` takes is read by one ldmatrix, kept in `loaded` (by its
    element loads) for the mma after it that take the same operand (the caller forgets them where a scope ends)."""
    shape, in_dtype = u.arg
    if d is not CUDA or shape not in _MMA_SHAPES or in_dtype not in _MMA_TYPES:
        raise NotImplementedError(f"{d.name} backend: no tensor core {shape} for {in_dtype}")
    ptx_type, to_bits = _MMA_TYPES[in_dtype]
    n_a, n_b, per = _MMA_SHAPES[shape]
    bits = [_mma_bits(x, names, to_bits) for x in u.src[:n_a + n_b]]
    width = 32 // per
    regs = [_packed_load(u.src[i:i + per], names) or
            " | ".join(f"({bits[i + j]} << {width * j})" if j else bits[i] for j in range(per))
            for i in range(0, n_a + n_b, per)]
    lines = []
    if lane is not None and loaded is not None and per == 2:
        for lo, hi in ((0, n_a), (n_a, n_a + n_b)):
            xs = tuple(u.src[lo:hi])
            if xs not in loaded and (f := _fragment(xs, lane)) is not None:
                loaded[xs] = f"frag{len(loaded)}_{names[u]}"
                lines += _ldmatrix(f, loaded[xs], names)
            if xs in loaded:
                regs[lo // per:hi // per] = [f"{loaded[xs]}[{i}]" for i in range((hi - lo) // per)]
    name = names[u]
    outs = ", ".join(f'"=f"({name}[{i}])' for i in range(4))
    ins = ", ".join([f'"r"({r})' for r in regs] + [f'"f"({names[c]})' for c in u.src[n_a + n_b:]])
    if per == 4:  # 8-bit inputs: two f16 mma, see _fp8_as_f16
        zero = {i // per for i in range(0, n_a + n_b, per) if all(_is_zero(x) for x in u.src[i:i + per])}
        return [f"float {name}[4];", f'asm volatile({_fp8_as_f16(ptx_type, zero)} : {outs} : {ins});']
    return [*lines, f"float {name}[4];",
            f'asm volatile("mma.sync.aligned.{shape}.row.col.f32.{ptx_type}.{ptx_type}.f32 {{%0, %1, %2, %3}}, '
            f'{{%4, %5, %6, %7}}, {{%8, %9}}, {{%10, %11, %12, %13}};" : {outs} : {ins});']


# m16n8k32 of fp8 as two m16n8k16 of f16 (fp8 values are exact in f16): each 32-bit register of four fp8 splits into
# its low and high pair, converted by cvt (sm_89+); the low pairs of A and B hold the same k of the k32 shape, as do
# the high ones, so the two products together are the whole sum. An H100 has no fp8 mma.sync and ptxas does the same
# split itself. Either way, a K tail's constant-zero register sent through cvt came out wrong on an H100 (a padded
# register of A as 2^-6; a ragged-K fp8 matmul's first m tile off by 2^-10, found by tests/test_tensor_cores.py's
# planted-bug campaign on CUDA): such registers are set to 0 without a cvt (`zero`)
def _fp8_as_f16(t: str, zero: Collection[int] = ()) -> str:
    """The C string of the PTX block: operands as mma.sync m16n8k32's (%0-3 D, %4-7 A, %8-9 B, %10-13 C). A register
    in `zero` (positions 0-5 of A and B's, every element +0: a K tail's padding) is not converted: its halves are 0."""
    split = " ".join(f"mov.b32 a{i}, 0; mov.b32 b{i}, 0;" if i in zero else
                     f"mov.b32 {{l{i}, h{i}}}, %{4 + i}; cvt.rn.f16x2.{t}x2 a{i}, l{i}; cvt.rn.f16x2.{t}x2 b{i}, h{i};"
                     for i in range(6))
    mma = "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}"
    return (f'"{{ .reg .b16 l<6>, h<6>; .reg .b32 a<6>, b<6>; {split} {mma}, {{a0, a1, a2, a3}}, {{a4, a5}}, '
            f'{{%10, %11, %12, %13}}; {mma}, {{b0, b1, b2, b3}}, {{b4, b5}}, {{%0, %1, %2, %3}}; }}"')


STATIC_SHARED_BYTES = 48 * 1024  # the most workgroup memory a CUDA kernel may declare statically


def _local_bytes(u: UOp) -> int:
    """The bytes of a DEFINE_LOCAL, rounded up to 16 (the next one stays aligned for 16-byte words)."""
    return -(-u.dtype.size * u.dtype.scalar.itemsize // 16) * 16


def dynamic_shared_bytes(prg: Program) -> int:
    """CUDA: the bytes of workgroup memory a kernel declares as one dynamic buffer (a launch argument, and a function
    attribute the runtime sets), where its locals together pass STATIC_SHARED_BYTES; else 0 (declared statically)."""
    total = sum(_local_bytes(u) for u in prg.uops if u.op is Ops.DEFINE_LOCAL)
    return total if total > STATIC_SHARED_BYTES else 0


def render_c(prg: Program) -> str:
    """The C translation unit of a program: one function named after it."""
    return render(prg, C)


def render(prg: Program, d: Dialect) -> str:
    """The source of a program in dialect `d`: the prelude and one kernel function named after the program."""
    names: dict[UOp, str] = {}
    lines: list[str] = []
    params = []
    # parameter k is the buffer with DEFINE_GLOBAL arg k; one the kernel no longer reads (its loads were all
    # folded away) stays in the signature, so the launch passes every scheduled buffer in order
    gl = {u.arg: u.dtype.scalar for u in prg.uops if u.op is Ops.DEFINE_GLOBAL}
    for k in range(max(gl, default=-1) + 1):
        if k not in gl:
            params.append(f"{d.buffer_space}const {'void' if d is C else 'uint8_t'}* data{k}")
            continue
        const = "" if k in prg.outs else "const "
        params.append(f"{d.buffer_space}{const}{storage_type(gl[k], d)}* {d.restrict} data{k}")
    depth = 1
    total = math.prod(u.src[0].arg for u in prg.uops if u.op is Ops.RANGE and u.src[0].op is Ops.CONST)
    first_loop = True
    counter = 0
    lanes: _Lanes | None = None  # the "vector" loop being rendered (CPU dialect)
    typedefs: dict[str, str] = {}
    words, moved = _chunk_copies(prg) if d is CUDA else ({}, set())
    asynchronous = d is CUDA and any(_WORD_BYTES[w] in _ASYNC_BYTES for _, _, w in words.values())
    pending = False  # cp.async copies issued and not yet committed as a group
    # the lane of a warp (engine/codegen/tc.py's warp loop, the innermost thread index) where mma operands may be
    # read with ldmatrix (_fragment), and the operands read so far in the current scope
    lane = next((u for u in prg.uops if u.op is Ops.SPECIAL and u.arg == "lidx0" and u.src[0].op is Ops.CONST
                 and u.src[0].arg == 32), None) if d is CUDA and LDMATRIX else None
    loaded: dict[tuple[UOp, ...], str] = {}
    dynamic, dyn_offset = d is CUDA and dynamic_shared_bytes(prg) > 0, 0

    def emit(text: str) -> None:
        lines.append("  " * depth + text)

    for u in prg.uops:
        op = u.op
        if lanes is not None:
            if op is Ops.END and u.src[0] is lanes.rng:
                lanes.flush()
                typedefs.update(lanes.types)
                lanes = None
                depth -= 1
                emit("}")
                continue
            if lanes.render(u, f"{'val' if op is Ops.LOAD else 'alu'}{counter}"):
                counter += 1
                continue
        if op is Ops.DEFINE_GLOBAL:
            names[u] = f"data{u.arg}"
        elif op is Ops.CONST:
            names[u] = str(u.arg) if _narrow_index(u, d) else _const(u)
        elif op is Ops.RANGE and u.arg[1] == "vector" and d is C and lanes is None and u.src[0].op is Ops.CONST:
            emit(f"{{  /* {u.src[0].arg} lanes of loop {u.arg[0]} */")
            depth += 1
            lanes = _Lanes(u, u.src[0].arg, names, emit)
            names[u] = f"lanes{u.arg[0]}"
        elif op is Ops.RANGE:
            if pending:  # the copies before a loop (a pipeline's first step) are one group
                emit('asm volatile("cp.async.commit_group;" ::: "memory");')
                pending = False
            n = f"ridx{u.arg[0]}_{counter}"
            counter += 1
            names[u] = n
            end = names[u.src[0]]
            kind = u.arg[1]
            if d.openmp and first_loop and depth == 1 and kind == "loop" and total >= PARALLEL_MIN_WORK and \
                    u.src[0].op is Ops.CONST and u.src[0].arg > 1:
                emit("#pragma omp parallel for schedule(static)")
            elif kind in ("upcast", "unroll"):
                emit(f"#pragma {'GCC ' if d is C else ''}unroll {u.src[0].arg if u.src[0].op is Ops.CONST else 8}")
            if depth == 1:
                first_loop = False
            emit(f"for ({_index_type(u, d)} {n} = 0; {n} < {end}; {n}++) {{")
            depth += 1
        elif op is Ops.END:
            depth -= 1
            emit("}")
            loaded.clear()  # fragments read inside the loop are out of scope
        elif op is Ops.DEFINE_REG:
            n = f"acc{u.arg}"
            names[u] = n
            emit(f"{ctype(u.dtype, d)} {n}[1];")
        elif op is Ops.SPECIAL:
            names[u] = u.arg
            kind, dim = u.arg[:4], int(u.arg[4:])
            it = _index_type(u, d)
            emit(f"{it} {u.arg} = ({it}){d.special[kind].format(d=dim if d is OPENCL else _XYZ[dim])};")
        elif op is Ops.DEFINE_LOCAL:  # workgroup memory holds values as global memory does (narrow floats as bits)
            names[u] = f"temp{u.arg}"
            if dynamic:  # one dynamic buffer past the static limit, each local at its offset
                if not dyn_offset:
                    emit("extern __shared__ __align__(16) unsigned char dynamic_smem[];")
                emit(f"{storage_type(u.dtype, d)}* temp{u.arg} = ({storage_type(u.dtype, d)}*)"
                     f"(dynamic_smem + {dyn_offset});")
                dyn_offset += _local_bytes(u)
            else:
                emit(f"{d.local_space} {storage_type(u.dtype, d)} temp{u.arg}[{u.dtype.size}];")
        elif op is Ops.BARRIER:  # src: (the local buffer, what must happen before); its value is the buffer
            names[u] = names[u.src[0]]
            if pending:
                emit('asm volatile("cp.async.commit_group;" ::: "memory");')
                pending = False
            if asynchronous:  # the newest u.arg groups (copies for later steps) may still be in flight
                emit(f'asm volatile("cp.async.wait_group {u.arg or 0};" ::: "memory");')
            emit(d.barrier)
        elif op is Ops.INDEX:
            names[u] = f"{names[u.src[0]]}[{names[u.src[1]]}]"
        elif op is Ops.STORE and u in words:  # the last of a run of copied elements: one wide word
            dst, src, word = words[u]
            if asynchronous and _WORD_BYTES[word] in _ASYNC_BYTES:
                emit(_async_copy(names[dst], names[src], _WORD_BYTES[word]))
                pending = True
            else:
                emit(f"*({word}*)&{names[dst]} = *(const {word}*)&{names[src]};")
        elif op in (Ops.LOAD, Ops.STORE) and u in moved:
            pass
        elif op is Ops.LOAD:
            idx = u.src[0]
            n = f"val{counter}"
            counter += 1
            names[u] = n
            valid = names[idx.src[2]] if len(idx.src) > 2 else None
            alt = names[u.src[1]] if len(u.src) > 1 else "0"
            emit(f"{ctype(u.dtype, d)} {n} = {_load_expr(u, names[idx], valid, alt, d)};")
        elif op is Ops.STORE:
            idx, val = u.src
            stmt = f"{names[idx]} = {_store_value(idx, names[val], d)};"
            emit(f"if ({names[idx.src[2]]}) {stmt}" if len(idx.src) > 2 else stmt)
        elif op is Ops.WMMA:
            names[u] = f"wmma{counter}"
            counter += 1
            for line in _wmma(u, names, d, lane, loaded):
                emit(line)
        elif op is Ops.GEP:
            names[u] = f"{names[u.src[0]]}[{u.arg[0]}]"
        else:
            n = f"alu{counter}"
            counter += 1
            names[u] = n
            emit(f"{_index_type(u, d)} {n} = {_alu_expr(u, _index_srcs(u, names, d), d)};")
    body = "\n".join(lines)
    threads = math.prod(u.src[0].arg for u in prg.uops if u.op is Ops.SPECIAL and u.arg.startswith("lidx"))
    prefix = d.kernel_prefix.format(threads=threads)
    types = "".join(t + "\n" for t in typedefs.values())
    return f"{d.prelude}\n{types}{prefix} {prg.name}({', '.join(params)}) {{\n{body}\n}}\n"
