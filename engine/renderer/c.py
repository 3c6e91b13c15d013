"""C source for a linear program (the CPU backend).

Values of float16 and bfloat16 are held in `float` and rounded after every op, so results equal engine.alu's
(one rounding per op); in memory they are _Float16 and raw bfloat16 bits. Index values are int64_t.
The outermost output loop runs in parallel (OpenMP) when the kernel is big enough; "upcast" and "unroll" loops
are unrolled by the compiler.
"""

from __future__ import annotations

import math

from engine.codegen.program import Program
from engine.dtype import DType, dtypes
from engine.uop import Ops, UOp

PARALLEL_MIN_WORK = 1 << 15

_STORAGE = {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
            "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
            "index": "int64_t", "float16": "_Float16", "bfloat16": "uint16_t", "float32": "float",
            "float64": "double"}

PRELUDE = """#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <math.h>
static inline float bf16_to_f(uint16_t b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t f_to_bf16(float f) {
  uint32_t u; memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float round_bf16(float f) { return bf16_to_f(f_to_bf16(f)); }
static inline float round_f16(float f) { return (float)(_Float16)f; }
#define MAXF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) > (a) ? (b) : (a)))
#define MINF(a, b) (((a) != (a) || (b) != (b)) ? NAN : ((b) < (a) ? (b) : (a)))
"""


def ctype(dt: DType) -> str:
    """The C type that holds a value of `dt` in registers."""
    name = dt.scalar.name
    if name in ("float16", "bfloat16"):
        return "float"
    if name not in _STORAGE:
        raise NotImplementedError(f"C backend: dtype {name} is not supported")
    return _STORAGE[name]


def storage_type(dt: DType) -> str:
    name = dt.scalar.name
    if name not in _STORAGE:
        raise NotImplementedError(f"C backend: dtype {name} is not supported")
    return _STORAGE[name]


def _round(dt: DType, expr: str) -> str:
    if dt.scalar == dtypes.float16:
        return f"round_f16({expr})"
    if dt.scalar == dtypes.bfloat16:
        return f"round_bf16({expr})"
    return expr


def _const(u: UOp) -> str:
    v, dt = u.arg, u.dtype.scalar
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


def _alu(u: UOp, s: list[str]) -> str:
    op, dt = u.op, u.dtype.scalar
    sdt = u.src[0].dtype.scalar if u.src else dt
    if op is Ops.ADD:
        return f"({s[0]} + {s[1]})"
    if op is Ops.SUB:
        return f"({s[0]} - {s[1]})"
    if op is Ops.MUL:
        return f"({s[0]} * {s[1]})"
    if op in (Ops.IDIV, Ops.FDIV):
        return f"({s[0]} / {s[1]})"
    if op is Ops.MOD:
        return f"({s[0]} % {s[1]})"
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
            return f"(({s[0]} != {s[0]} || isinf({s[0]})) ? {lo} : ({ctype(dt)})(int64_t){s[0]})"
        return f"(({ctype(dt)}){s[0]})"
    if op is Ops.BITCAST:
        src_t = storage_type(sdt)
        dst_t = storage_type(dt)
        src_v = s[0] if sdt.scalar not in (dtypes.float16, dtypes.bfloat16) else \
            (f"(_Float16){s[0]}" if sdt.scalar == dtypes.float16 else f"f_to_bf16({s[0]})")
        out = f"({{ {src_t} s_ = {src_v}; {dst_t} d_; memcpy(&d_, &s_, sizeof(d_)); d_; }})"
        if dt == dtypes.bfloat16:
            return f"bf16_to_f({out})"
        return f"((float){out})" if dt == dtypes.float16 else out
    raise NotImplementedError(f"C backend: op {op.name} is not supported")


def render_c(prg: Program) -> str:
    """The C translation unit of a program: one function named after it."""
    names: dict[UOp, str] = {}
    lines: list[str] = []
    params = []
    for i, (dt, _) in enumerate(prg.globals):
        const = "" if i in prg.outs else "const "
        params.append(f"{const}{storage_type(dt)}* restrict data{i}")
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
            if idx.src[0].op is Ops.DEFINE_GLOBAL:
                if dt == dtypes.bfloat16:
                    addr = f"bf16_to_f({addr})"
                elif dt == dtypes.float16:
                    addr = f"(float){addr}"
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
            if idx.src[0].op is Ops.DEFINE_GLOBAL:
                if dt == dtypes.bfloat16:
                    v = f"f_to_bf16({v})"
                elif dt == dtypes.float16:
                    v = f"(_Float16){v}"
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
