"""Render a linear `Program` to LLVM IR text: one function `void @name(ptr %data0, ...)`.

Values follow engine/alu.py exactly: ints wrap (no nsw/nuw), IDIV/MOD truncate (by 0 they give 0; INT_MIN / -1
wraps; neither traps), float MAX/MIN propagate NaN,
transcendentals and MULACC of narrow floats are computed in double and rounded once, like exec_alu (MULACC of
float32 and float64 is llvm.fma: one rounding).
float16, bfloat16 and the fp8 types are held as `float` in registers and as i16 / i8 in memory, converted by
helper functions emitted into the module: LLVM's own half/bfloat lowering calls compiler-rt routines
(`__truncdfhf2`, ...) that a JIT in a Python process cannot resolve (calls to them segfault). Conversions round
to nearest even, once: float16 directly from double (as numpy); bfloat16 and fp8 from a float, where a double
or a 32/64-bit integer first becomes a float rounded to odd (the C backend's rule, which makes the narrow
rounding equal to rounding the original value, as ml_dtypes 0.7 does); fp8 overflow gives NaN for e4m3fn (which
has no inf, above 464) and inf for e5m2 (from 61440). Integers convert to float32 directly (one rounding).
Loops are header/body/latch blocks with a phi counter; gated loads and stores branch around the access.
Division by zero and INT_MIN / -1 (undefined in C) divide by 1 instead of trapping; shift amounts are masked.
"""

from __future__ import annotations

import math
import struct

from engine.alu import wrap
from engine.codegen.program import Program
from engine.dtype import DType, dtypes, promote
from engine.uop import GroupOp, Ops, UOp

_INF = "0x7FF0000000000000"
_FLOATS = {"float16": "float", "bfloat16": "float", "float32": "float", "float64": "double",
           "float8_e4m3fn": "float", "float8_e5m2": "float"}
# narrow floats held as float: name -> (memory type, helper from bits to float, helper from float/double to bits)
_NARROW = {"float16": ("i16", "h2f", "d2h"), "bfloat16": ("i16", "bf2f", "f2bf"),
           "float8_e4m3fn": ("i8", "e4m32f", "f2e4m3"), "float8_e5m2": ("i8", "e5m22f", "f2e5m2")}


def _check(dt: DType) -> DType:
    """The scalar dtype, or NotImplementedError for the ones this backend lacks."""
    dt = dt.scalar
    if dt.name not in _FLOATS and dt.kind not in "biux":
        raise NotImplementedError(f"LLVM backend does not support dtype {dt.name}")
    return dt


def ssa_type(dt: DType) -> str:
    """The LLVM type a value of `dt` has in registers (float16/bfloat16 are held as float)."""
    dt = _check(dt)
    if dt.kind == "b":
        return "i1"
    if dt.kind in "iux":
        return f"i{dt.bits}"
    return _FLOATS[dt.name]


def mem_type(dt: DType) -> str:
    """The LLVM type of one element of a `dt` buffer (bool is a byte, float16/bfloat16 are i16 bits)."""
    dt = _check(dt)
    if dt.kind == "b":
        return "i8"
    if dt.name in _NARROW:
        return _NARROW[dt.name][0]
    return ssa_type(dt)


def _double_hex(v: float) -> str:
    if math.isnan(v):
        v = math.copysign(math.nan, v)  # a quiet NaN without payload is exact in every float type
    return f"0x{struct.unpack('<Q', struct.pack('<d', v))[0]:016X}"


def const_literal(dt: DType, value: object) -> str:
    """An LLVM literal of `value` rounded/wrapped to `dt`."""
    dt = _check(dt)
    v = wrap(dt, value)
    if dt.kind == "b":
        return "true" if v else "false"
    if dt.kind in "iux":
        return str(v - (1 << dt.bits) if v >= 1 << (dt.bits - 1) else v)
    return _double_hex(v)


# helper functions, emitted into the module when used (integer code only: no half/bfloat libcalls)
_HELPERS = {
    # double -> float16 bits, round to nearest even (numpy's direct conversion)
    "d2h": """define internal i16 @uf_d2h(double %d) alwaysinline {
  %b = bitcast double %d to i64
  %sign = and i64 %b, -9223372036854775808
  %a = xor i64 %b, %sign
  %s16 = lshr i64 %sign, 48
  %big = icmp uge i64 %a, 4679240012837945344
  %nan = icmp ugt i64 %a, 9218868437227405312
  %inf = select i1 %nan, i64 32256, i64 31744
  %small = icmp ult i64 %a, 4544132024016830464
  %af = bitcast i64 %a to double
  %sum = fadd double %af, 268435456.0
  %sumb = bitcast double %sum to i64
  %den = sub i64 %sumb, 4733283208366391296
  %o1 = lshr i64 %a, 42
  %odd = and i64 %o1, 1
  %n1 = add i64 %a, -4539626225366204417
  %n2 = add i64 %n1, %odd
  %nrm = lshr i64 %n2, 42
  %r1 = select i1 %small, i64 %den, i64 %nrm
  %r2 = select i1 %big, i64 %inf, i64 %r1
  %r3 = or i64 %r2, %s16
  %r = trunc i64 %r3 to i16
  ret i16 %r
}""",
    # float16 bits -> float (exact)
    "h2f": """define internal float @uf_h2f(i16 %h) alwaysinline {
  %x = zext i16 %h to i32
  %s = and i32 %x, 32768
  %s32 = shl i32 %s, 16
  %e = and i32 %x, 31744
  %em = and i32 %x, 32767
  %sh = shl i32 %em, 13
  %nrm = add i32 %sh, 939524096
  %isinf = icmp eq i32 %e, 31744
  %infb = add i32 %sh, 1879048192
  %nb = select i1 %isinf, i32 %infb, i32 %nrm
  %m = and i32 %x, 1023
  %mf = uitofp i32 %m to float
  %df = fmul float %mf, 0x3E70000000000000
  %db = bitcast float %df to i32
  %isden = icmp eq i32 %e, 0
  %ab = select i1 %isden, i32 %db, i32 %nb
  %rb = or i32 %ab, %s32
  %r = bitcast i32 %rb to float
  ret float %r
}""",
    # float -> bfloat16 bits, round to nearest even (ml_dtypes rounds double through float)
    "f2bf": """define internal i16 @uf_f2bf(float %f) alwaysinline {
  %b = bitcast float %f to i32
  %o1 = lshr i32 %b, 16
  %odd = and i32 %o1, 1
  %r1 = add i32 %b, 32767
  %r2 = add i32 %r1, %odd
  %r3 = lshr i32 %r2, 16
  %sign = and i32 %o1, 32768
  %qnan = or i32 %sign, 32704
  %nan = fcmp uno float %f, 0.0
  %r4 = select i1 %nan, i32 %qnan, i32 %r3
  %r = trunc i32 %r4 to i16
  ret i16 %r
}""",
    # double -> float rounded to odd (exact when it fits, else the neighbour whose last bit is 1)
    "d2fodd": """define internal float @uf_d2fodd(double %d) alwaysinline {
  %f = fptrunc double %d to float
  %fd = fpext float %f to double
  %ex = fcmp ueq double %fd, %d
  %u = bitcast float %f to i32
  %lsb = and i32 %u, 1
  %odd = icmp ne i32 %lsb, 0
  %keep = or i1 %ex, %odd
  %fdb = bitcast double %fd to i64
  %db = bitcast double %d to i64
  %fda = and i64 %fdb, 9223372036854775807
  %da = and i64 %db, 9223372036854775807
  %over = icmp ugt i64 %fda, %da
  %dn = add i32 %u, -1
  %up = add i32 %u, 1
  %adj = select i1 %over, i32 %dn, i32 %up
  %rb = select i1 %keep, i32 %u, i32 %adj
  %r = bitcast i32 %rb to float
  ret float %r
}""",
    # unsigned 64-bit integer -> float rounded to odd: keep 24 significant bits, the last one sticky
    "u2fodd": """define internal float @uf_u2fodd(i64 %a) alwaysinline {
  %a1 = or i64 %a, 1
  %lz = call i64 @llvm.ctlz.i64(i64 %a1, i1 true)
  %sh = sub i64 40, %lz
  %pos = icmp sgt i64 %sh, 0
  %shc = select i1 %pos, i64 %sh, i64 0
  %bit = shl i64 1, %shc
  %mask = sub i64 %bit, 1
  %lost = and i64 %a, %mask
  %kept = sub i64 %a, %lost
  %nz = icmp ne i64 %lost, 0
  %sticky = select i1 %nz, i64 %bit, i64 0
  %r = or i64 %kept, %sticky
  %f = uitofp i64 %r to float
  ret float %f
}
declare i64 @llvm.ctlz.i64(i64, i1)""",
    # signed 64-bit integer -> float rounded to odd (through its magnitude)
    "i2fodd": """define internal float @uf_i2fodd(i64 %x) alwaysinline {
  %neg = icmp slt i64 %x, 0
  %m = sub i64 0, %x
  %a = select i1 %neg, i64 %m, i64 %x
  %f = call float @uf_u2fodd(i64 %a)
  %nf = fneg float %f
  %r = select i1 %neg, float %nf, float %f
  ret float %r
}""",
    # bfloat16 bits -> float (exact)
    "bf2f": """define internal float @uf_bf2f(i16 %h) alwaysinline {
  %x = zext i16 %h to i32
  %s = shl i32 %x, 16
  %r = bitcast i32 %s to float
  ret float %r
}""",
}


def _fp8_helpers(name: str, m: int, bias: int, fn: bool) -> dict[str, str]:
    """float <-> fp8 helpers for M=`m` mantissa bits and exponent bias `bias` (same algorithm as the C backend's).

    To fp8, round half to even: normal results drop 23-m mantissa bits of |x| (a carry moves into the exponent);
    subnormal ones are mant >> s with s = 151 - bias - m - exponent, rounded by the dropped bits (0 when s > 24).
    `fn` (e4m3fn): no infinity, above 464 (inf and NaN too) gives NaN 0x7f; else from 61440 up inf 0x7c, NaN 0x7e.
    """
    drop, min_normal = 23 - m, (128 - bias) << 23
    overflow = "icmp ugt i32 %a, 1139277824" if fn else "icmp uge i32 %a, 1198522368"  # 464.0f, 61440.0f
    to_fp8 = f"""define internal i8 @uf_f2{name}(float %f) alwaysinline {{
  %u = bitcast float %f to i32
  %s24 = lshr i32 %u, 24
  %sign = and i32 %s24, 128
  %a = and i32 %u, 2147483647
  %o1 = lshr i32 %a, {drop}
  %odd = and i32 %o1, 1
  %n1 = add i32 %a, {(1 << (drop - 1)) - 1}
  %n2 = add i32 %n1, %odd
  %n3 = lshr i32 %n2, {drop}
  %nrm = sub i32 %n3, {(127 - bias) << m}
  %e = lshr i32 %a, 23
  %s0 = sub i32 {151 - bias - m}, %e
  %tiny = icmp ugt i32 %s0, 24
  %s = select i1 %tiny, i32 24, i32 %s0
  %m0 = and i32 %a, 8388607
  %mant = or i32 %m0, 8388608
  %q = lshr i32 %mant, %s
  %one = shl i32 1, %s
  %mask = sub i32 %one, 1
  %rem = and i32 %mant, %mask
  %half = lshr i32 %one, 1
  %gt = icmp ugt i32 %rem, %half
  %eq = icmp eq i32 %rem, %half
  %qodd = trunc i32 %q to i1
  %tie = and i1 %eq, %qodd
  %up = or i1 %gt, %tie
  %upi = zext i1 %up to i32
  %q2 = add i32 %q, %upi
  %sub = select i1 %tiny, i32 0, i32 %q2
  %isnorm = icmp uge i32 %a, {min_normal}
  %r1 = select i1 %isnorm, i32 %nrm, i32 %sub
  %ovf = {overflow}
  %r2 = select i1 %ovf, i32 {127 if fn else 124}, i32 %r1
  %nan = icmp ugt i32 %a, 2139095040
  %r3 = select i1 %nan, i32 {127 if fn else 126}, i32 %r2
  %r4 = or i32 %r3, %sign
  %r = trunc i32 %r4 to i8
  ret i8 %r
}}"""
    special = "icmp eq i32 %a, 127" if fn else "icmp uge i32 %a, 124"
    from_fp8 = f"""define internal float @uf_{name}2f(i8 %b) alwaysinline {{
  %x = zext i8 %b to i32
  %s = and i32 %x, 128
  %sign = shl i32 %s, 24
  %a = and i32 %x, 127
  %e = lshr i32 %a, {m}
  %sh = shl i32 %a, {drop}
  %nrm = add i32 %sh, {(127 - bias) << 23}
  %af = uitofp i32 %a to float
  %df = fmul float %af, {_double_hex(2.0 ** (1 - bias - m))}
  %db = bitcast float %df to i32
  %isden = icmp eq i32 %e, 0
  %r1 = select i1 %isden, i32 %db, i32 %nrm
  %isspecial = {special}
  %isinf = icmp eq i32 %a, {127 if fn else 124}
  %infnan = select i1 %isinf, i32 {2143289344 if fn else 2139095040}, i32 2143289344
  %r2 = select i1 %isspecial, i32 %infnan, i32 %r1
  %rb = or i32 %r2, %sign
  %r = bitcast i32 %rb to float
  ret float %r
}}"""
    return {f"f2{name}": to_fp8, f"{name}2f": from_fp8}


_HELPERS.update(_fp8_helpers("e4m3", 3, 7, True))
_HELPERS.update(_fp8_helpers("e5m2", 2, 15, False))


class _Renderer:
    """Walks the program once, emitting instructions; `vals` maps each UOp to its operand text."""

    def __init__(self, prg: Program) -> None:
        self.prg = prg
        self.lines: list[str] = []
        self.allocas: list[str] = []
        self.helpers: set[str] = set()
        self.decls: set[str] = set()
        self.vals: dict[UOp, str] = {}
        self.valid: dict[UOp, str | None] = {}
        self.block = "entry"
        self.n = 0

    # ------------------------------------------------------------------ emission helpers
    def tmp(self, rhs: str) -> str:
        """Emit `%tN = rhs` and return %tN."""
        self.n += 1
        name = f"%t{self.n}"
        self.lines.append(f"  {name} = {rhs}")
        return name

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.block = name

    def call(self, ret: str, fn: str, *args: str) -> str:
        if fn.startswith("llvm."):
            self.decls.add(f"declare {ret} @{fn}({', '.join(a.split(' ')[0] for a in args)})")
        else:
            self.helpers.add(fn.removeprefix("uf_"))
        return self.tmp(f"call {ret} @{fn}({', '.join(args)})")

    def err(self, u: UOp, why: str) -> NotImplementedError:
        return NotImplementedError(f"kernel {self.prg.name}: LLVM backend cannot render {u.op} on "
                                   f"{u.dtype.scalar.name}: {why}")

    # ------------------------------------------------------------------ dtype conversions
    def to_double(self, x: str, s: DType) -> str:
        """A numeric value as double (exact except for 64-bit ints, which round as numpy does)."""
        if s.kind == "b":
            return self.tmp(f"uitofp i1 {x} to double")
        if s.kind in "iux":
            return self.tmp(f"{'uitofp' if s.kind == 'u' else 'sitofp'} {ssa_type(s)} {x} to double")
        return x if s.name == "float64" else self.tmp(f"fpext float {x} to double")

    def round_float(self, x: str, d: DType) -> str:
        """Round a float-typed value to float16/bfloat16/fp8 (identity for float32)."""
        if d.name == "float16":
            return self.call("float", "uf_h2f", "i16 " + self.call("i16", "uf_d2h", "double " + self.to_double(x, d)))
        if d.name in _NARROW:
            return self.from_bits(self.to_bits(x, d), d)
        return x

    def from_double(self, x: str, d: DType) -> str:
        """Round a double to the float dtype `d` once (bfloat16 and fp8 through a float rounded to odd)."""
        if d.name == "float64":
            return x
        if d.name == "float16":
            return self.call("float", "uf_h2f", "i16 " + self.call("i16", "uf_d2h", f"double {x}"))
        if d.name == "float32":
            return self.tmp(f"fptrunc double {x} to float")
        return self.round_float(self.call("float", "uf_d2fodd", f"double {x}"), d)

    def cast(self, x: str, s: DType, d: DType) -> str:
        """CAST with exec_alu semantics (float to int truncates; NaN and inf give the dtype's minimum)."""
        s, d = _check(s), _check(d)
        if s == d or ssa_type(s) == ssa_type(d) and s.kind in "iux" and d.kind in "iux":
            return x
        if d.kind == "b":
            if s.kind == "f":
                return self.tmp(f"fcmp une {ssa_type(s)} {x}, 0.0")
            return self.tmp(f"icmp ne {ssa_type(s)} {x}, 0")
        if d.kind == "f":
            if s.kind == "f" and s.name != "float64":
                if d.name == "float64":
                    return self.tmp(f"fpext float {x} to double")
                return self.round_float(x, d)
            if s.kind in "iux" and d.name not in ("float64", "float16"):  # one rounding in all
                if d.name != "float32" and s.bits >= 32:  # wider than float's 24 bits: to float rounded to odd
                    wide = x if s.bits == 64 else self.tmp(f"{'zext' if s.kind == 'u' else 'sext'} i32 {x} to i64")
                    if s.kind == "u":
                        return self.round_float(self.call("float", "uf_u2fodd", f"i64 {wide}"), d)
                    self.helpers.add("u2fodd")
                    return self.round_float(self.call("float", "uf_i2fodd", f"i64 {wide}"), d)
                return self.round_float(self.tmp(f"{'uitofp' if s.kind == 'u' else 'sitofp'} {ssa_type(s)} {x} "
                                                 "to float"), d)
            return self.from_double(self.to_double(x, s), d)
        dt = ssa_type(d)
        if s.kind == "b":
            return self.tmp(f"zext i1 {x} to {dt}")
        if s.kind in "iux":
            if s.bits > d.bits:
                return self.tmp(f"trunc {ssa_type(s)} {x} to {dt}")
            return self.tmp(f"{'zext' if s.kind == 'u' else 'sext'} {ssa_type(s)} {x} to {dt}")
        # float -> int
        xd = self.to_double(x, s)
        fin = self.tmp(f"fcmp olt double {self.call('double', 'llvm.fabs.f64', f'double {xd}')}, {_INF}")
        if d.bits == 64 and d.kind == "u":  # below 2^63 the signed conversion wraps like exec_alu
            lo, hi = self.tmp(f"fptosi double {xd} to i64"), self.tmp(f"fptoui double {xd} to i64")
            r = self.tmp(f"select i1 {self.tmp(f'fcmp olt double {xd}, 0x43E0000000000000')}, i64 {lo}, i64 {hi}")
        else:
            r = self.tmp(f"fptosi double {xd} to i64")
            if d.bits < 64:
                r = self.tmp(f"trunc i64 {r} to {dt}")
        return self.tmp(f"select i1 {fin}, {dt} {r}, {dt} {const_literal(d, d.min)}")

    def to_bits(self, x: str, s: DType) -> str:
        """The bits of a value as an integer of its width."""
        if s.kind == "b":
            return self.tmp(f"zext i1 {x} to i8")
        if s.kind in "iux":
            return x
        if s.name == "float16":
            return self.call("i16", "uf_d2h", "double " + self.to_double(x, s))
        if s.name in _NARROW:
            mem, _, to = _NARROW[s.name]
            return self.call(mem, f"uf_{to}", f"float {x}")
        return self.tmp(f"bitcast {ssa_type(s)} {x} to i{s.bits}")

    def from_bits(self, x: str, d: DType) -> str:
        """A value of `d` from an integer of its width."""
        if d.kind == "b":
            return self.tmp(f"icmp ne i8 {x}, 0")
        if d.kind in "iux":
            return x
        if d.name in _NARROW:
            mem, frm, _ = _NARROW[d.name]
            return self.call("float", f"uf_{frm}", f"{mem} {x}")
        return self.tmp(f"bitcast i{d.bits} {x} to {ssa_type(d)}")

    def operand(self, u: UOp, dt: DType) -> str:
        """The value of `u` converted to `dt` (ALU operands may differ from the result dtype)."""
        return self.cast(self.vals[u], u.dtype.scalar, dt.scalar)

    # ------------------------------------------------------------------ memory
    def load_mem(self, ptr: str, dt: DType) -> str:
        raw = self.tmp(f"load {mem_type(dt)}, ptr {ptr}")
        if dt.kind == "b" or dt.name in _NARROW:
            return self.from_bits(raw, dt)
        return raw

    def store_value(self, x: str, dt: DType) -> str:
        if dt.kind == "b" or dt.name in _NARROW:
            return self.to_bits(x, dt)
        return x

    # ------------------------------------------------------------------ ops
    def alu(self, u: UOp) -> str:
        op, dt = u.op, _check(u.dtype)
        if op in GroupOp.Comparison:
            odt = promote(u.src[0].dtype, u.src[1].dtype)
            a, b = (self.operand(s, odt) for s in u.src)
            return self.compare(op, odt, a, b)
        if op is Ops.WHERE:
            c, a, b = self.operand(u.src[0], dtypes.bool), self.operand(u.src[1], dt), self.operand(u.src[2], dt)
            return self.tmp(f"select i1 {c}, {ssa_type(dt)} {a}, {ssa_type(dt)} {b}")
        args = [self.operand(s, dt) for s in u.src]
        if dt.kind == "f":
            return self.float_alu(u, dt, args)
        if dt.kind == "b":
            return self.bool_alu(u, args)
        return self.int_alu(u, dt, args)

    def compare(self, op: Ops, dt: DType, a: str, b: str) -> str:
        t = ssa_type(dt)
        if dt.kind == "f":
            pred = {Ops.CMPLT: "olt", Ops.CMPLE: "ole", Ops.CMPNE: "une", Ops.CMPEQ: "oeq"}[op]
            return self.tmp(f"fcmp {pred} {t} {a}, {b}")
        sign = "s" if dt.kind in "ix" else "u"
        pred = {Ops.CMPLT: f"{sign}lt", Ops.CMPLE: f"{sign}le", Ops.CMPNE: "ne", Ops.CMPEQ: "eq"}[op]
        return self.tmp(f"icmp {pred} {t} {a}, {b}")

    def float_alu(self, u: UOp, dt: DType, args: list[str]) -> str:
        op, t = u.op, ssa_type(dt)
        simple = {Ops.ADD: "fadd", Ops.SUB: "fsub", Ops.MUL: "fmul", Ops.FDIV: "fdiv"}
        if op in simple:
            return self.round_float(self.tmp(f"{simple[op]} {t} {args[0]}, {args[1]}"), dt)
        if op is Ops.NEG:
            return self.tmp(f"fneg {t} {args[0]}")
        if op is Ops.MULACC and dt in (dtypes.float32, dtypes.float64):  # one rounding, as exec_alu's fma
            return self.call(t, f"llvm.fma.{_sfx(t)}", *(f"{t} {a}" for a in args))
        if op is Ops.RECIPROCAL:
            return self.round_float(self.tmp(f"fdiv {t} 1.0, {args[0]}"), dt)
        if op is Ops.SQRT:
            return self.round_float(self.call(t, f"llvm.sqrt.{_sfx(t)}", f"{t} {args[0]}"), dt)
        if op is Ops.TRUNC:  # IEEE trunc: trunc(-0.5) is -0.0, as exec_alu and C's trunc
            return self.call(t, f"llvm.trunc.{_sfx(t)}", f"{t} {args[0]}")
        if op in (Ops.MAX, Ops.MIN):
            a, b = args
            take_b = self.tmp(f"fcmp {'ogt' if op is Ops.MAX else 'olt'} {t} {b}, {a}")
            m = self.tmp(f"select i1 {take_b}, {t} {b}, {t} {a}")
            uno = self.tmp(f"fcmp uno {t} {a}, {b}")
            return self.tmp(f"select i1 {uno}, {t} {_double_hex(math.nan)}, {t} {m}")
        # computed in double and rounded once, as exec_alu does
        ds = [self.to_double(a, dt) for a in args]
        if op in (Ops.EXP2, Ops.LOG2, Ops.SIN):
            r = self.call("double", f"llvm.{op.name.lower()}.f64", f"double {ds[0]}")
        elif op is Ops.POW:
            r = self.pow(*ds)
        elif op is Ops.MULACC:
            r = self.tmp(f"fadd double {self.tmp(f'fmul double {ds[0]}, {ds[1]}')}, {ds[2]}")
        else:
            raise self.err(u, "not a float op")
        return self.from_double(r, dt)

    def pow(self, a: str, b: str) -> str:
        """pow in double: libm's (IEEE 754, as exec_alu and the other backends)."""
        return self.call("double", "llvm.pow.f64", f"double {a}", f"double {b}")

    def bool_alu(self, u: UOp, args: list[str]) -> str:
        op = u.op
        # exec_alu computes on 0/1 and converts back with bool(): + is or, * is and, - is xor
        simple = {Ops.ADD: "or", Ops.MAX: "or", Ops.OR: "or", Ops.MUL: "and", Ops.MIN: "and", Ops.AND: "and",
                  Ops.SUB: "xor", Ops.XOR: "xor", Ops.CMPNE: "xor"}
        if op in simple:
            return self.tmp(f"{simple[op]} i1 {args[0]}, {args[1]}")
        if op is Ops.NEG:
            return self.tmp(f"xor i1 {args[0]}, true")
        if op is Ops.MULACC:
            return self.tmp(f"or i1 {self.tmp(f'and i1 {args[0]}, {args[1]}')}, {args[2]}")
        if op is Ops.SHL:
            return args[0]
        if op is Ops.SHR:
            return self.tmp(f"and i1 {args[0]}, {self.tmp(f'xor i1 {args[1]}, true')}")
        if op is Ops.IDIV:  # a // True == a, a // False == 0 (engine.alu)
            return self.tmp(f"and i1 {args[0]}, {args[1]}")
        if op is Ops.MOD:
            return "false"
        raise self.err(u, "not a bool op")

    def int_alu(self, u: UOp, dt: DType, args: list[str]) -> str:
        op, t, signed = u.op, ssa_type(dt), dt.kind in "ix"
        simple = {Ops.ADD: "add", Ops.SUB: "sub", Ops.MUL: "mul", Ops.AND: "and", Ops.OR: "or", Ops.XOR: "xor"}
        if op in simple:
            return self.tmp(f"{simple[op]} {t} {args[0]}, {args[1]}")
        if op is Ops.NEG:
            return self.tmp(f"sub {t} 0, {args[0]}")
        if op is Ops.MULACC:
            return self.tmp(f"add {t} {self.tmp(f'mul {t} {args[0]}, {args[1]}')}, {args[2]}")
        if op in (Ops.SHL, Ops.SHR):
            amt = self.tmp(f"and {t} {args[1]}, {dt.bits - 1}")
            kind = "shl" if op is Ops.SHL else "ashr" if signed else "lshr"
            return self.tmp(f"{kind} {t} {args[0]}, {amt}")
        if op in (Ops.MAX, Ops.MIN):
            pred = ("s" if signed else "u") + ("gt" if op is Ops.MAX else "lt")
            take_b = self.tmp(f"icmp {pred} {t} {args[1]}, {args[0]}")
            return self.tmp(f"select i1 {take_b}, {t} {args[1]}, {t} {args[0]}")
        if op in (Ops.IDIV, Ops.MOD):
            a, b = args
            bad = zero = self.tmp(f"icmp eq {t} {b}, 0")
            if signed:  # INT_MIN / -1 traps on x86: divide by 1 and negate instead
                neg1 = self.tmp(f"icmp eq {t} {b}, -1")
                bad = self.tmp(f"or i1 {bad}, {neg1}")
            safe = self.tmp(f"select i1 {bad}, {t} 1, {t} {b}")
            kind = ("sdiv" if signed else "udiv") if op is Ops.IDIV else ("srem" if signed else "urem")
            r = self.tmp(f"{kind} {t} {a}, {safe}")  # x % 1 == 0: MOD needs no fixing up
            if signed and op is Ops.IDIV:
                r = self.tmp(f"select i1 {neg1}, {t} {self.tmp(f'sub {t} 0, {a}')}, {t} {r}")
            if op is Ops.IDIV:  # x // 0 == 0 (engine.alu), not x // 1
                r = self.tmp(f"select i1 {zero}, {t} 0, {t} {r}")
            return r
        raise self.err(u, "not an integer op")

    # ------------------------------------------------------------------ the walk
    def render(self) -> str:
        prg = self.prg
        nglobals = max((u.arg for u in prg.uops if u.op is Ops.DEFINE_GLOBAL), default=-1) + 1
        params = [f"ptr %data{pos}" for pos in range(nglobals)]  # a buffer no longer read keeps its position
        variables = [u for u in prg.uops if u.op is Ops.DEFINE_VAR]
        params += [f"i64 %var{k}" for k in range(len(variables))]
        loops: list[int] = []
        for i, u in enumerate(prg.uops):
            if u.op is Ops.RANGE:
                loops.append(i)
            elif u.op is Ops.END:
                if not loops:
                    raise ValueError(f"kernel {prg.name}: END at v{i} without an open RANGE")
                self.end_loop(loops.pop())
            else:
                self.uop(i, u, variables)
            if u.op is Ops.RANGE:
                self.open_loop(i, u)
        if loops:
            raise ValueError(f"kernel {prg.name}: RANGE at v{loops[-1]} has no END")
        helpers = [_HELPERS[h] for h in sorted(self.helpers)]
        body = "\n".join(["entry:", *self.allocas, *self.lines, "  ret void"])
        name = prg.name.replace('"', "_")
        return "\n".join([f'define void @"{name}"({", ".join(params)}) {{', body, "}", *sorted(self.decls),
                          *helpers]) + "\n"

    def open_loop(self, i: int, u: UOp) -> None:
        end = self.operand(u.src[0], dtypes.index)
        pre = self.block
        self.lines.append(f"  br label %loop{i}")
        self.label(f"loop{i}")
        self.lines.append(f"  %v{i} = phi i64 [0, %{pre}], [%v{i}.next, %latch{i}]")
        self.vals[u] = f"%v{i}"
        cond = self.tmp(f"icmp slt i64 %v{i}, {end}")
        self.lines.append(f"  br i1 {cond}, label %body{i}, label %exit{i}")
        self.label(f"body{i}")

    def end_loop(self, i: int) -> None:
        self.lines.append(f"  br label %latch{i}")
        self.label(f"latch{i}")
        self.lines.append(f"  %v{i}.next = add i64 %v{i}, 1")
        self.lines.append(f"  br label %loop{i}")
        self.label(f"exit{i}")

    def uop(self, i: int, u: UOp, variables: list[UOp]) -> None:
        op = u.op
        if op is Ops.RANGE:
            return
        if op is Ops.CONST:
            self.vals[u] = const_literal(u.dtype, u.arg)
        elif op is Ops.DEFINE_GLOBAL:
            self.vals[u] = f"%data{u.arg}"
        elif op is Ops.DEFINE_VAR:
            self.vals[u] = f"%var{variables.index(u)}"
        elif op is Ops.DEFINE_REG:
            self.allocas.append(f"  %reg{i} = alloca {mem_type(u.dtype)}, i64 {max(u.dtype.size, 1)}")
            self.vals[u] = f"%reg{i}"
        elif op is Ops.INDEX:
            idx = self.operand(u.src[1], dtypes.index)
            self.vals[u] = self.tmp(f"getelementptr {mem_type(u.dtype)}, ptr {self.vals[u.src[0]]}, i64 {idx}")
            self.valid[u] = self.operand(u.src[2], dtypes.bool) if len(u.src) > 2 else None
        elif op is Ops.LOAD:
            self.vals[u] = self.load(i, u)
        elif op is Ops.STORE:
            self.store(i, u)
        elif op in GroupOp.ALU:
            self.vals[u] = self.alu(u)
        elif op is Ops.CAST:
            self.vals[u] = self.cast(self.vals[u.src[0]], u.src[0].dtype, u.dtype)
        elif op is Ops.BITCAST:
            s, d = _check(u.src[0].dtype), _check(u.dtype)
            if s.itemsize != d.itemsize:
                raise self.err(u, f"BITCAST from {s.name} changes the size")
            self.vals[u] = self.from_bits(self.to_bits(self.vals[u.src[0]], s), d)
        else:
            raise self.err(u, "not a linear-program op")

    def load(self, i: int, u: UOp) -> str:
        dt, idx = _check(u.dtype), u.src[0]
        ptr, valid, mdt = self.vals[idx], self.valid[idx], _check(idx.dtype)
        if valid is None:
            return self.cast(self.load_mem(ptr, mdt), mdt, dt)
        if len(u.src) < 2:
            raise self.err(u, "gated LOAD without an alt value")
        alt, pre = self.operand(u.src[1], dt), self.block
        self.lines.append(f"  br i1 {valid}, label %ld{i}, label %ldj{i}")
        self.label(f"ld{i}")
        x = self.cast(self.load_mem(ptr, mdt), mdt, dt)
        self.lines.append(f"  br label %ldj{i}")
        self.label(f"ldj{i}")
        t = ssa_type(dt)
        return self.tmp(f"phi {t} [{x}, %ld{i}], [{alt}, %{pre}]")

    def store(self, i: int, u: UOp) -> None:
        idx, val = u.src
        dt = _check(idx.dtype)
        x = self.store_value(self.operand(val, dt), dt)
        ptr, valid = self.vals[idx], self.valid[idx]
        if valid is not None:
            self.lines.append(f"  br i1 {valid}, label %st{i}, label %stj{i}")
            self.label(f"st{i}")
        self.lines.append(f"  store {mem_type(dt)} {x}, ptr {ptr}")
        if valid is not None:
            self.lines.append(f"  br label %stj{i}")
            self.label(f"stj{i}")


def _sfx(t: str) -> str:
    return {"float": "f32", "double": "f64"}[t]


def render_llvm(prg: Program) -> str:
    """LLVM IR text of a module with one function `void @<name>(ptr %data0, ..., i64 %var0, ...)`."""
    return _Renderer(prg).render()
