"""The linear program: what code generation produces and every backend consumes.

A `Program` is a kernel flattened to an ordered list of UOps. Every operand appears earlier in the list than
its user, and each UOp appears once. The kinds of UOp in a program, and what they mean:

  DEFINE_GLOBAL  dtype = scalar.pointer(size), arg = parameter position. A buffer passed to the kernel.
  DEFINE_VAR     dtype = index, arg = (name, lo, hi). A symbolic size bound at launch (not used yet).
  CONST          a scalar constant (arg).
  RANGE          dtype = index, src = (end,), arg = (axis, kind). Opens a loop; its value is the counter,
                 0 .. end-1. Everything up to the matching END runs once per value. kind is "loop", "reduce",
                 "unroll" or "upcast" (the last two are loops the renderer may unroll or vectorize; the meaning
                 is the same). Loops nest properly.
  END            src = (range,). Closes that loop.
  DEFINE_REG     dtype = scalar.pointer(1), arg = register id. A one-element private buffer (an accumulator).
  INDEX          dtype = the buffer's pointer dtype, src = (buffer, idx) or (buffer, idx, valid). The address of
                 element idx (an index-typed value) of a DEFINE_GLOBAL or DEFINE_REG. When `valid` (a bool) is
                 false the address is never touched.
  LOAD           src = (INDEX,) or (INDEX, alt). The element's value; with a false `valid`, `alt` (a CONST)
                 instead, without reading memory. LOADs of registers carry a distinct `arg` so that each read
                 is its own UOp (the value differs before and after a loop).
  STORE          dtype void, src = (INDEX, value). Writes the element; no write when `valid` is false.
  SPECIAL        (GPU) dtype index, src = (size,), arg = "gidxD" (workgroup) or "lidxD" (thread in it), D = 0..2.
                 The program runs once per thread of global_size workgroups of local_size threads.
  DEFINE_LOCAL   (GPU) dtype = scalar.pointer(size), arg = id. Memory shared by the threads of a workgroup.
  BARRIER        (GPU) src = (DEFINE_LOCAL, STORE, ...): every thread of the workgroup waits here until all have
                 done their stores before it; its value is the buffer (loads after it index the BARRIER). It may
                 be inside a loop (Opt SMEM: one a step of the reduce loop); every thread reaches it as often.
                 arg: how many of the newest groups of copies made before it may still be in flight after it
                 (0 or None: none; 1: a pipeline's copies for the next step, engine/codegen/smem.py); where copies
                 are synchronous (every device but CUDA's cp.async) it changes nothing.
  WMMA           (GPU, Opt TC) dtype float32.vec(4), src = one lane's A, B and C fragment elements, arg =
                 (instruction, input dtype name): a warp-wide mma.sync (engine/codegen/tc.py); every lane of the warp
                 runs it together, and each gets its own D fragment.
  GEP            arg = (i,): element i of a vector value (a WMMA's D fragment).
  ALU ops, CAST, BITCAST
                 Pure scalar values; semantics are engine.alu.exec_alu (C semantics, ints wrap, IDIV truncates).

Index-typed values are 64-bit signed integers in every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.dtype import DType
from engine.uop import Ops, UOp


def memory_of(buf: UOp) -> UOp:
    """The buffer an INDEX addresses: a BARRIER stands for the workgroup buffer behind it."""
    while buf.op is Ops.BARRIER:
        buf = buf.src[0]
    return buf


@dataclass
class Program:
    """A kernel as an ordered list of UOps, plus what the launcher needs."""

    name: str
    uops: list[UOp]
    # per DEFINE_GLOBAL position: (scalar dtype, element count)
    globals: list[tuple[DType, int]] = field(default_factory=list)
    # which globals the kernel writes
    outs: list[int] = field(default_factory=list)
    # GPU launch (engine/codegen/gpu.py): workgroups per dimension, threads of a workgroup per dimension
    global_size: tuple[int, ...] = (1, 1, 1)
    local_size: tuple[int, ...] = (1, 1, 1)

    def __post_init__(self) -> None:
        if not self.globals:
            gl = sorted((u for u in self.uops if u.op is Ops.DEFINE_GLOBAL), key=lambda u: u.arg)
            self.globals = [(u.dtype.scalar, u.dtype.size) for u in gl]
        if not self.outs:
            self.outs = sorted({u.src[0].src[0].arg for u in self.uops if u.op is Ops.STORE
                                and u.src[0].src[0].op is Ops.DEFINE_GLOBAL})

    def render_text(self) -> str:
        """A readable listing, one UOp per line (for DEBUG output and error messages)."""
        names = {u: f"v{i}" for i, u in enumerate(self.uops)}
        lines, depth = [], 0
        for u in self.uops:
            if u.op is Ops.END:
                depth -= 1
            srcs = ", ".join(names.get(s, "?") for s in u.src)
            lines.append(f"{'  ' * depth}{names[u]} = {u.op.name} {u.dtype!r} ({srcs}) {u.arg!r}")
            if u.op is Ops.RANGE:
                depth += 1
        return "\n".join(lines)
