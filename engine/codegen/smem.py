"""Shared-memory operands: Opt("SMEM") stages a tensor-core kernel's fragments through workgroup memory.

Without it every lane loads its own fragment elements from global memory (engine/codegen/tc.py), so the lanes of a
workgroup read each element of A and of B several times over (once per warp and per upcast tile that uses it).
With it the workgroup copies, each step of its reduce loop, the part of A and of B it uses to workgroup memory once,
and the fragments are read from there. `stage_operands` runs on a kernel whose upcasts are expanded and whose
indices are simplified (Kernel.to_program), so each fragment element is one LOAD with a plain index.

What applies: every A element of every WMMA is an unguarded LOAD(INDEX(a, i)) of one global buffer a (no gate, no
select: a K tail does not apply), every B element one of a buffer b (a may be b); each index splits into
  i = block + thread + c:  block a sum of terms over loops that are not thread loops (the grid's, the reduce's),
                           thread a sum of terms over the thread loops ("local", "warp": lane // 4, lane % 4, a warp's
                           local index), c a constant; a term over both does not apply;
(an M or N tail's clamp applies only where the tile loop is gone: min(thread + c, last) is a thread term), with one
block part for all elements of an operand (the copy is one per workgroup and step), and the offsets
{thread + c} over every thread and every element (its footprint, enumerated) a rectangle {o + r*stride + col : r < R,
col < C} with C <= stride. The copy must divide among the P threads of the workgroup, and the tiles fit SMEM_BYTES.

The rewrite:
  one DEFINE_LOCAL of the input dtype holds each operand's tile, R rows of C + pad elements; pad (a multiple of
  16 bytes, up to 64) is the one under which warp 0's fragment reads meet the fewest bank conflicts (`_pad`);
  where the WMMAs' REDUCEs loop (k_o, or k_o's outer loop after UNROLL or ACCUM), the copies run AHEAD steps ahead
  (software pipelining): the tiles of steps 0 .. AHEAD - 1 are copied before the loop (a barrier between two steps'
  copies, so that each is its own cp.async group), and step f copies those of step f + AHEAD (of the last step again
  near the end: the index stays in bounds) while it computes with those of step f; each tile has AHEAD + 2 copies
  (stages), step f's in stage f % (AHEAD + 2). The CUDA renderer makes the copies cp.async (global to shared memory
  without registers), committed as one group a step, and the barrier waits for all groups but the newest AHEAD
  (BARRIER arg AHEAD): the copies of steps f + 1 .. f + AHEAD are in flight while step f computes;
  the copy: thread tid (the local loops, then the lane, fastest) copies chunks q = tid, tid + P, ... of V elements
  (V up to 16 bytes' worth, where every chunk's global index is a multiple of V: the CUDA renderer moves each chunk
  as one 16-byte load and store); chunk q is row q // (C/V), columns (q % (C/V))*V ..., at global index
  block + o + row*stride + col;
  one BARRIER after both operands' copies (src: the buffer and every copy STORE), and each fragment element at
  global index block + off reads LOAD(INDEX(BARRIER, tile + (off - o) // stride * (C + pad) + (off - o) % stride))
  (built from the terms where they split into row and column, else as written; `_shared_index`).
Why one barrier per step is enough: step f's tiles were copied in step f - AHEAD (or before the loop), and the
barrier of step f waits for that group (the newer ones are those of steps f + 1 .. f + AHEAD) before any read of
step f. The copies in step f go to stage (f + AHEAD) % (AHEAD + 2), last read in step f - 2; a thread makes them after
passing the barrier of step f - 1, which every thread reaches only after its reads of step f - 2 (the linearizer
places the copy, the barrier and the fragment loads in the body of the reduce loop in that order, as they depend on
each other). With one stage fewer the copies of step f would overwrite the tiles of step f - 1 while others still
read them: the emulator reports that race (tests/test_tensor_cores.py).
Semantics: the same values reach the same WMMA operands (PYTHON_GPU computes bit for bit what it computes without).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from engine.codegen.gpu import serial_loops
from engine.codegen.tc import SHAPES
from engine.dtype import dtypes
from engine.rewrite import substitute
from engine.symbolic import build_sum, simplify, sym_infer, terms_of
from engine.uop import Ops, UOp

# workgroup memory the tiles may take: past 48 KB a CUDA kernel declares it dynamic (renderer.c.dynamic_shared_bytes);
# every card with tensor cores (sm_80 and up) gives a block at least 99 KB (sm_86 / sm_89; sm_80 163, sm_90 227)
SMEM_BYTES = 96 * 1024
CHUNK_BYTES = 16  # the widest copy a thread makes at once (uint4)
AHEAD = 1  # steps the copies run ahead of the compute where the reduce loops (module docstring)
BUFFERS = AHEAD + 2  # copies of each tile: one barrier a step suffices with AHEAD + 2 (module docstring)
PADS = (0, 16, 32, 48, 64)  # row pads tried, in bytes (multiples of 16: a padded row stays 16-byte aligned)
BANKS, BANK_BYTES = 32, 4


class SmemError(ValueError):
    """The kernel's tensor-core operands cannot be staged through workgroup memory (the message says why)."""


@dataclass
class _Operand:
    """One WMMA operand (A or B) of the kernel: its loads and the tile they read."""

    name: str
    buf: UOp  # the global buffer
    loads: list[UOp]  # the distinct fragment LOADs, in order of first use
    block: dict[UOp, int]  # the block part (terms over non-thread loops), one for every load
    thread: list[tuple[dict[UOp, int], int]]  # per load: its thread terms and constant
    offs: list[np.ndarray]  # per load: thread part + constant at every thread of the workgroup
    values: dict[UOp, np.ndarray]  # each thread term's value at every thread
    origin: int = 0  # o, stride, R, C: the footprint {o + r*stride + col : r < R, col < C}
    stride: int = 0
    rows: int = 0
    cols: int = 0
    pad: int = 0  # elements
    vec: int = 1  # elements a thread copies at once
    base: int = 0  # element offset of the tile in the buffer


def stage_operands(ast: UOp, order: list[UOp]) -> UOp:
    """The kernel with its WMMAs' A and B fragments copied through workgroup memory (the module docstring says
    how); SmemError where that does not apply. `order`: the kernel's output loops (its thread loops among them)."""
    wmmas = [u for u in ast.toposort if u.op is Ops.WMMA]
    if not wmmas:
        raise SmemError("the kernel has no tensor-core instruction (SMEM needs TC)")
    if len({w.arg for w in wmmas}) != 1:
        raise SmemError("WMMAs of different shapes")
    shape = SHAPES[wmmas[0].arg[0]]
    threads = [r for r in order if r.arg[1] == "local"] + [r for r in order if r.arg[1] == "warp"]
    if any(u.op is Ops.RANGE and u.arg[1] == "group" for u in ast.toposort):
        raise SmemError("a grouped reduce")
    loops = _reduce_loops(ast)
    serial = serial_loops(ast, order)
    allowed = set(loops) | {r for r in order if r.arg[1] in ("loop", "global") and r not in serial}
    points = _thread_points(threads)
    operands = [_operand("A", [x for w in wmmas for x in w.src[:shape.a_elems]], threads, allowed, points),
                _operand("B", [x for w in wmmas for x in w.src[shape.a_elems:shape.a_elems + shape.b_elems]],
                         threads, allowed, points)]
    dt = operands[0].buf.dtype.scalar
    if operands[1].buf.dtype.scalar != dt:
        raise SmemError(f"operands of two dtypes ({dt.name}, {operands[1].buf.dtype.scalar.name})")
    n_threads = math.prod(r.src[0].arg for r in threads)
    copies = BUFFERS if loops else 1
    used = 0
    for op in operands:
        _footprint(op)
        _chunk(op, n_threads, dt.itemsize)
        op.pad = _pad(op, dt.itemsize)
        align = CHUNK_BYTES // dt.itemsize
        op.base = -(-used // align) * align
        used = op.base + copies * op.rows * (op.cols + op.pad)
    if used * dt.itemsize > SMEM_BYTES:
        raise SmemError(f"the tiles take {used * dt.itemsize} bytes of workgroup memory (at most {SMEM_BYTES})")
    ids = [u.arg for u in ast.toposort if u.op is Ops.DEFINE_LOCAL]
    local = UOp(Ops.DEFINE_LOCAL, dt.pointer(used), (), 1 + max(ids, default=-1))
    tid = _flat(threads)
    if loops:  # iteration f reads the tiles of step f, copied AHEAD steps ahead (the first AHEAD before the loop)
        f, steps = _flat(list(loops)), math.prod(r.src[0].arg for r in loops)
        at = [(_at_step(loops, (f + AHEAD).minimum(steps - 1)), f + AHEAD)]
        at += [(_at_step(loops, UOp.const(dtypes.index, min(g, steps - 1))), UOp.const(dtypes.index, g))
               for g in range(AHEAD)]
        tiles = [_tile(op, f % copies) for op in operands]
    else:
        at, tiles = [({}, UOp.const(dtypes.index, 0))], [_tile(op, UOp.const(dtypes.index, 0)) for op in operands]
    stores: list[UOp] = []
    dst = local
    for k, (loop_values, step) in enumerate(at):
        copy = [st for op in operands for st in _copy(op, dst, _tile(op, step % copies), tid, n_threads, loop_values)]
        stores += copy
        if 0 < k < len(at) - 1:  # the copies before the loop, one group a step: a barrier between (no wait)
            dst = UOp(Ops.BARRIER, local.dtype, (local, *copy), AHEAD)
    barrier = UOp(Ops.BARRIER, local.dtype, (local, *stores), AHEAD if loops else 0)
    staged = [{x: _staged_load(op, i, x, barrier, tile) for i, x in enumerate(op.loads)}
              for op, tile in zip(operands, tiles)]
    new = {}
    for w in wmmas:
        a, b = w.src[:shape.a_elems], w.src[shape.a_elems:shape.a_elems + shape.b_elems]
        rest = w.src[shape.a_elems + shape.b_elems:]
        new[w] = w.replace(src=(*(staged[0][x] for x in a), *(staged[1][x] for x in b), *rest))
    return substitute(ast, new)


def _at_step(loops: tuple[UOp, ...], g: UOp) -> dict[UOp, UOp]:
    """The values of the loops (outermost first) at flat step g."""
    out: dict[UOp, UOp] = {}
    for r in reversed(loops):
        n = r.src[0].arg
        out[r] = g % n
        g = g // n
    return out


def _tile(op: _Operand, stage: UOp) -> UOp:
    """The index of the operand's tile of stage `stage` in workgroup memory."""
    return simplify(stage * (op.rows * (op.cols + op.pad)) + op.base)


def _reduce_loops(ast: UOp) -> tuple[UOp, ...]:
    """The loops of the kernel's REDUCEs (outermost first), one tuple for all of them (a TC kernel has no other)."""
    loops = {u.src[1:] for u in ast.toposort if u.op is Ops.REDUCE}
    if len(loops) > 1:
        raise SmemError("reduces over different loops")
    return loops.pop() if loops else ()


def _flat(ranges: list[UOp]) -> UOp:
    """The loops' counter flattened, the first outermost: ((r0 * n1) + r1) * n2 + r2 ..."""
    out = UOp.const(dtypes.index, 0)
    for r in ranges:
        out = out * r.src[0].arg + r
    return simplify(out)


def _affine(u: UOp) -> tuple[dict[UOp, int], int]:
    """u as {atom: coefficient} and a constant, sums inside products by a constant distributed."""
    terms, const = terms_of(u)
    out: dict[UOp, int] = {}
    for t, k in terms.items():
        if t.op is Ops.MUL and t.src[1].op is Ops.CONST and t.src[0].op in (Ops.ADD, Ops.SUB):
            inner, c = _affine(t.src[0])
            for x, j in inner.items():
                out[x] = out.get(x, 0) + j * k * t.src[1].arg
            const += c * k * t.src[1].arg
        else:
            out[t] = out.get(t, 0) + k
    return {t: k for t, k in out.items() if k}, const


def _thread_points(threads: list[UOp]) -> list[dict[UOp, int]]:
    """Every thread of the workgroup as loop values, in thread-id order (the last loop, the lane, fastest)."""
    sizes = [r.src[0].arg for r in threads]
    return [dict(zip(threads, p)) for p in itertools.product(*(range(n) for n in sizes))]


def _operand(name: str, elems: list[UOp], threads: list[UOp], allowed: set[UOp],
             points: list[dict[UOp, int]]) -> _Operand:
    """The operand's loads, split into block and thread parts, with the thread part evaluated at every thread."""
    loads = list(dict.fromkeys(elems))
    bufs = set()
    for x in loads:
        if x.op is not Ops.LOAD or len(x.src) != 1 or x.src[0].op is not Ops.INDEX or len(x.src[0].src) != 2 or \
                x.src[0].src[0].op is not Ops.DEFINE_GLOBAL:
            raise SmemError(f"a fragment element of {name} is not an unguarded load of a buffer ({x.op.name})")
        bufs.add(x.src[0].src[0])
    if len(bufs) != 1:
        raise SmemError(f"the {name} fragments load from {len(bufs)} buffers")
    tset = set(threads)
    block: dict[UOp, int] | None = None
    thread_parts = []
    values: dict[UOp, np.ndarray] = {}
    for x in loads:
        terms, const = _affine(x.src[0].src[1])
        blk, thr = {}, {}
        for t, k in terms.items():
            rs = {r for r in t.toposort if r.op is Ops.RANGE}
            if not rs & tset:
                if rs - allowed:
                    raise SmemError(f"the {name} index depends on loop {next(iter(rs - allowed)).arg[0]}, not a "
                                    f"grid or reduce loop")
                blk[t] = k
            elif rs <= tset:
                thr[t] = k
                if bad := next((y for y in t.toposort if y.op in (Ops.LOAD, Ops.INDEX, Ops.SPECIAL, Ops.DEFINE_VAR)),
                               None):
                    raise SmemError(f"a thread index of {name} reads {bad.op.name}")
                if t not in values:
                    values[t] = np.array([sym_infer(t, p) for p in points], dtype=np.int64)
            else:
                raise SmemError(f"the {name} index term {t.render(max_len=80)} mixes thread and other loops")
        if block is None:
            block = blk
        elif blk != block:
            raise SmemError(f"the {name} fragments of one workgroup read blocks at different indices")
        thread_parts.append((thr, const))
    offs = [sum((k * values[t] for t, k in thr.items()), np.full(len(points), c, dtype=np.int64))
            for thr, c in thread_parts]
    assert block is not None
    return _Operand(name, bufs.pop(), loads, block, thread_parts, offs, values)


def _footprint(op: _Operand) -> None:
    """Set o, stride, R and C of the operand's footprint, or raise where it is not a rectangle."""
    f = np.unique(np.concatenate(op.offs))
    rel = f - f[0]
    cols = int(np.argmax(rel != np.arange(len(rel)))) if (rel != np.arange(len(rel))).any() else len(rel)
    stride = int(rel[cols]) if cols < len(rel) else cols
    rows = len(rel) // cols
    want = (np.arange(rows)[:, None] * stride + np.arange(cols)[None, :]).ravel()
    if rows * cols != len(rel) or not np.array_equal(rel, want):
        raise SmemError(f"the {op.name} fragments' footprint ({len(rel)} elements) is not a rectangle")
    op.origin, op.stride, op.rows, op.cols = int(f[0]), stride, rows, cols


def _chunk(op: _Operand, n_threads: int, itemsize: int) -> None:
    """Set the elements a thread copies at once: the most (up to CHUNK_BYTES) that keep every chunk's global index a
    multiple of their count and divide the copy evenly among the threads."""
    for v in (n for n in (16, 8, 4, 2, 1) if n * itemsize <= CHUNK_BYTES):
        aligned = op.cols % v == 0 and op.origin % v == 0 and (op.rows == 1 or op.stride % v == 0) and \
            all(k % v == 0 for k in op.block.values())
        if (aligned or v == 1) and (op.rows * op.cols // v) % n_threads == 0:
            op.vec = v
            return
    raise SmemError(f"the {op.name} tile of {op.rows} x {op.cols} does not divide among {n_threads} threads")


def _pad(op: _Operand, itemsize: int) -> int:
    """The row pad (elements) under which the first warp's fragment reads meet the fewest bank conflicts (a read of
    one instruction takes as many passes as the most distinct words it reads in one bank)."""
    best, best_cost = 0, -1
    for pad_bytes in PADS:
        pad = pad_bytes // itemsize
        cost = 0
        for offs in op.offs:
            rel = offs[:32] - op.origin
            words = (rel // op.stride * (op.cols + pad) + rel % op.stride) * itemsize // BANK_BYTES
            cost += max(len(set(words[words % BANKS == b].tolist())) for b in range(BANKS))
        if best_cost < 0 or cost < best_cost:
            best, best_cost = pad, cost
    return best


def _copy(op: _Operand, local: UOp, tile: UOp, tid: UOp, n_threads: int, loop_values: dict[UOp, UOp]) -> list[UOp]:
    """The STOREs by which each thread copies its chunks of the operand's tile into workgroup memory (`tile`: the
    index of the tile's first element there), of the step where the reduce loops have `loop_values`."""
    pitch, per_row = op.cols + op.pad, op.cols // op.vec
    block = substitute(build_sum(dtypes.index, op.block, op.origin), loop_values)
    dt = op.buf.dtype.scalar
    stores = []
    for j in range(op.rows * op.cols // op.vec // n_threads):
        q = tid + j * n_threads
        row, col = q // per_row, (q % per_row) * op.vec
        for e in range(op.vec):
            src = simplify(block + row * op.stride + col + e)
            dst = simplify(tile + row * pitch + col + e)
            value = UOp(Ops.LOAD, dt, (UOp(Ops.INDEX, op.buf.dtype, (op.buf, src)),))
            stores.append(UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, local.dtype, (local, dst)), value)))
    return stores


def _staged_load(op: _Operand, i: int, x: UOp, barrier: UOp, tile: UOp) -> UOp:
    """Load i of the operand (x), read from its tile (`tile`: the tile's first element) after the barrier."""
    return UOp(Ops.LOAD, x.dtype, (UOp(Ops.INDEX, barrier.dtype, (barrier, simplify(tile + _shared_index(op, i)))),))


def _shared_index(op: _Operand, i: int) -> UOp:
    """Where load i's element lies in the tile: its offset in the footprint, rel = thread + c - o, at row rel //
    stride and column rel % stride. Built from the terms where they split (terms whose coefficient stride divides
    give the row, the others the column, provided the column stays in [0, C) at every thread), else as written."""
    thr, const = op.thread[i]
    pitch = op.cols + op.pad
    row_terms = {t: k // op.stride for t, k in thr.items() if k % op.stride == 0}
    col_terms = {t: k for t, k in thr.items() if k % op.stride != 0}
    row_c, col_c = divmod(const - op.origin, op.stride)
    col = sum((k * op.values[t] for t, k in col_terms.items()), np.full(len(op.offs[i]), col_c, dtype=np.int64))
    if ((col >= 0) & (col < op.cols)).all():  # then rel = row * stride + col with 0 <= col < stride: they split
        return build_sum(dtypes.index, row_terms, row_c) * pitch + build_sum(dtypes.index, col_terms, col_c)
    off = build_sum(dtypes.index, thr, const - op.origin)
    return off // op.stride * pitch + off % op.stride
