"""GPU kernels: launch shape, LOCAL/GROUP opts, the PYTHON_GPU emulator, and the OPENCL and CUDA devices where they
exist (OPENCL on PoCL in CI; CUDA only on a machine with a GPU), plus NVRTC compile-only checks."""

import numpy as np
import pytest

import engine
from engine import Tensor
from engine.codegen import gpu as gpu_shape
from engine.codegen.kernel import Opt, OptError, build_kernel, build_program
from engine.device import available
from engine.realize import realize, schedule_tensors
from engine.renderer.c import CUDA, OPENCL, render
from engine.uop import Ops

GPU_DEVICES = ["PYTHON_GPU", "OPENCL", "CUDA"]


def need(dev: str) -> None:
    if not available(dev):
        pytest.skip(f"{dev} is not available here (OPENCL: pyopencl and a platform, e.g. pocl-opencl-icd; CUDA: a GPU "
                    f"and cuda-bindings)")


def _ast(t: Tensor):
    items = schedule_tensors(t)
    assert len(items) == 1
    return items[0]


def test_gpu_program_maps_output_loops_to_launch_indices():
    item = _ast(Tensor(np.ones((6, 10), np.float32)) + 1)
    prg = build_program(item.ast, item.name, [Opt("LOCAL", 1, 5)], gpu=True)
    specials = {u.arg: u.src[0].arg for u in prg.uops if u.op is Ops.SPECIAL}
    assert not any(u.op is Ops.RANGE for u in prg.uops)
    assert prg.local_size == (5, 1, 1) and prg.global_size[0] * prg.global_size[1] == 12
    assert specials["lidx0"] == 5


def test_gpu_opts_refused_on_cpu_kernels():
    item = _ast(Tensor(np.ones(64, np.float32)).sum())
    with pytest.raises(OptError, match="needs a GPU kernel"):
        build_kernel(item.ast, item.name, [Opt("GROUP", 0, 8)])
    with pytest.raises(OptError, match="threads"):
        build_kernel(item.ast, item.name, [Opt("GROUP", 0, 2048)], gpu=True)


def test_default_gpu_opts_group_a_large_reduce_and_local_an_output_loop():
    item = _ast(Tensor(np.ones(4096, np.float32)).sum())
    assert build_kernel(item.ast, item.name, gpu=True).applied == [Opt("GROUP", 0, 256)]
    item = _ast(Tensor(np.ones((3, 1000), np.float32)).exp())
    assert [o.op for o in build_kernel(item.ast, item.name, gpu=True).applied] == ["LOCAL"]


def test_grid_merges_loops_past_three_dimensions():
    ast = _ast(Tensor(np.ones((2, 3, 4, 5), np.float32)) * 2).ast
    prg = build_program(ast, "k", [], gpu=True)
    assert len([u for u in prg.uops if u.op is Ops.SPECIAL]) == 3 and np.prod(prg.global_size) == 120


@pytest.mark.parametrize("dev", GPU_DEVICES)
def test_local_that_does_not_divide_gates_the_last_workgroup(dev):
    need(dev)
    a = np.arange(300, dtype=np.float32)
    t = Tensor(a, device=dev) * 3 + 1
    realize([t], opts=[Opt("LOCAL", 0, 64)])
    np.testing.assert_array_equal(t.numpy(), a * 3 + 1)


@pytest.mark.parametrize("dev", GPU_DEVICES)
def test_grouped_reduces_match_numpy(dev):
    need(dev)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 512)).astype(np.float32)
    t = Tensor(a, device=dev).softmax(1)
    realize([t], opts=[Opt("GROUP", 0, 32), Opt("GROUP", 1, 32)])  # the max and the sum, one thread index
    out = t.numpy()
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    s = Tensor(a, device=dev).sum()
    realize([s], opts=[Opt("GROUP", 1, 32)])
    np.testing.assert_allclose(s.numpy(), a.astype(np.float64).sum(), rtol=1e-5)
    with pytest.raises(OptError, match="already grouped"):
        realize([Tensor(a, device=dev).sum()], opts=[Opt("GROUP", 0, 2), Opt("GROUP", 1, 32)])


@pytest.mark.parametrize("dev", GPU_DEVICES)
def test_gpu_devices_agree_with_cpu_on_narrow_floats_and_ints(dev):
    need(dev)
    rng = np.random.default_rng(2)
    for dt in ("float16", "bfloat16", "float8_e4m3fn", "int8", "uint32", "float64"):
        x = rng.uniform(-3, 3, 257).astype(np.float32)
        cpu = (Tensor(x).cast(dt) * 3 - 1).cast("float32").numpy()
        got = (Tensor(x, device=dev).cast(dt) * 3 - 1).cast("float32").numpy()
        np.testing.assert_array_equal(got, cpu, err_msg=dt)


@pytest.mark.parametrize("dev", GPU_DEVICES)
def test_matmul_with_local_and_upcast(dev):
    need(dev)
    rng = np.random.default_rng(3)
    a, b = rng.random((33, 40)).astype(np.float32), rng.random((40, 24)).astype(np.float32)
    t = Tensor(a, device=dev) @ Tensor(b, device=dev)
    realize([t], opts=[Opt("UPCAST", 1, 4), Opt("LOCAL", 1, 6), Opt("GROUP", 0, 8)])
    np.testing.assert_allclose(t.numpy(), a @ b, rtol=1e-5)


def test_emulator_refuses_a_launch_unlike_the_kernel():
    item = _ast(Tensor(np.ones(40, np.float32)) + 1)
    prg = build_program(item.ast, item.name, [Opt("LOCAL", 0, 8)], gpu=True)
    prg.global_size = (6, 1, 1)  # one workgroup too many: its threads would index past the buffer
    dev = engine.device.get_device("PYTHON_GPU")
    run = dev.runner(prg)
    with pytest.raises(ValueError, match="gidx0 has size 5, launched with 6"):
        run(np.zeros(40, np.float32), np.zeros(40, np.float32))


def test_planted_missing_barrier_is_caught_by_the_emulator(monkeypatch):
    """Without its barrier, thread 0 combines the partial sums before the others stored theirs: PYTHON_GPU runs
    threads in lock-step only between barriers, and a thread that reads workgroup memory another wrote since the last
    barrier is a data race, which it reports."""
    real = gpu_shape.group_reduces

    def no_barrier(ast, next_axis, local, spread=None):
        from engine.rewrite import substitute
        out, outer = real(ast, next_axis, local, spread)
        bars = {u: u.src[0] for u in out.toposort if u.op is Ops.BARRIER}
        stores = [u.src[1] for u in bars]
        # keep the partial stores reachable (as extra sinks) while the loads no longer wait for them
        return type(out)(Ops.SINK, out.dtype, tuple(substitute(out, bars).src) + tuple(stores), out.arg), outer

    a = np.arange(64, dtype=np.float32)
    s = Tensor(a, device="PYTHON_GPU").sum()
    realize([s], opts=[Opt("GROUP", 0, 8)])
    assert s.numpy() == a.sum()
    monkeypatch.setattr(gpu_shape, "group_reduces", no_barrier)
    s = Tensor(a, device="PYTHON_GPU").sum()
    with pytest.raises(RuntimeError, match="data race at v.*: thread 1 reads element 0 of local buffer 0, which "
                                           "thread 0 wrote since the last barrier"):
        realize([s], opts=[Opt("GROUP", 0, 8)])


def _programs():
    rng = np.random.default_rng(4)
    x = Tensor(rng.random((8, 300)).astype(np.float32))
    cases = [x.softmax(1), x.cast("bfloat16").exp(), x.cast("float8_e5m2") + 1, (x * 100).cast("int64") // 7,
             x.cast("float16").sum(0), x.max(), x.cast("float64").sqrt()]
    progs = []
    for t in cases:
        for item in schedule_tensors(t):
            progs.append(build_program(item.ast, item.name, "default", gpu=True))
            progs.append(build_program(item.ast, item.name, [], gpu=True))
    return progs


def test_cuda_kernels_compile_with_nvrtc():
    from engine.runtime.cuda import compile_cuda, nvrtc_available

    if not nvrtc_available():
        pytest.skip("NVRTC is not installed (pip install -e '.[gpu]')")
    for prg in _programs():
        cubin = compile_cuda(render(prg, CUDA), prg.name)
        assert cubin[:4] == b"\x7fELF", prg.name


def test_opencl_source_builds_on_every_program():
    need("OPENCL")
    dev = engine.device.get_device("OPENCL")
    for prg in _programs():
        assert dev.compile(render(prg, OPENCL), prg.name) is not None


def test_gpu_dialects_compute_signed_ints_unsigned_so_they_wrap():
    """CUDA and OpenCL have no -fwrapv: signed overflow is undefined there (ptxas miscompiled the int32 min
    -max(-x) on an H100: found by the graph fuzzer, corpus/graphs/mismatch-device-CUDA-argmin-int32.json). The
    engine's int32/int64 wrap, so the GPU dialects compute add, sub, mul and neg on unsigned values."""
    x = Tensor(np.array([[2**31 - 1, -(2**31), 5]], np.int32))
    for t in (x.argmin(1), x + 1, x * 3, -x, x - 7):
        for it in schedule_tensors(t):
            for d in (CUDA, OPENCL):
                src = render(build_program(it.ast, it.name, "default", gpu=True), d)
                assert "(uint32_t)" in src, src


@pytest.mark.parametrize("device", ["PYTHON_GPU", "OPENCL", "CUDA"])
def test_int32_overflow_wraps_on_gpu_devices(device):
    if not available(device):
        pytest.skip(f"{device} is not available here")
    a = np.array([2**31 - 1, -(2**31), 7, -3, 123456789], np.int32)
    with np.errstate(over="ignore"):
        want = [a + np.int32(1), a * np.int32(3), -a, a - np.int32(7), -np.maximum(-a, np.int32(-5))]
    t = Tensor(a, device=device)
    got = [(t + 1).numpy(), (t * 3).numpy(), (-t).numpy(), (t - 7).numpy(), (-((-t).maximum(-5))).numpy()]
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)


def test_serial_loop_after_a_grouped_reduce_is_spread_over_the_group():
    """softmax/layernorm rows: every thread holds the combined max and sum, so the column loop that writes the row
    is strided over the group's threads (each writes its own columns) instead of run by thread 0 alone."""
    rng = np.random.default_rng(16)
    m = rng.standard_normal((3, 2048)).astype(np.float32)
    for fn in (lambda d: Tensor(m, device=d).softmax(-1), lambda d: Tensor(m, device=d).layernorm(-1)):
        item = _ast(fn("PYTHON_GPU"))
        prg = build_program(item.ast, item.name, "default", gpu=True)
        assert [o.op for o in build_kernel(item.ast, item.name, "default", gpu=True).applied] == ["GROUP", "GROUP"]
        loops = [u for u in prg.uops if u.op is Ops.RANGE]
        assert any(u.src[0].arg == 2048 // 256 for u in loops), loops  # the column loop: 8 per thread
        src = render(prg, CUDA)
        assert "lidx0 == 0" not in src.replace("(", "").replace(")", ""), src  # no single writer
        np.testing.assert_allclose(fn("PYTHON_GPU").numpy(), fn("CPU").numpy(), rtol=1e-5, atol=1e-5)
    # a column count the group does not divide stays in one thread (gated), and is still right
    m = rng.standard_normal((2, 2050)).astype(np.float32)
    np.testing.assert_allclose(Tensor(m, device="PYTHON_GPU").softmax(-1).numpy(), Tensor(m).softmax(-1).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_float32_matmul_gets_a_register_tile_with_adjacent_threads_on_adjacent_columns():
    """default_gpu_opts: 16 x 16 threads of 4 x 8 outputs; the column threads are the innermost index (lidx0), so a
    warp reads a row of B and writes a row of C together (the other order ran 4x slower on an H100)."""
    from engine.codegen.kernel import GPU_TILE, GPU_TILE_LOCAL

    rng = np.random.default_rng(17)
    a, b = rng.standard_normal((128, 96)).astype(np.float32), rng.standard_normal((96, 256)).astype(np.float32)
    item = _ast(Tensor(a) @ Tensor(b))
    k = build_kernel(item.ast, item.name, "default", gpu=True)
    assert k.applied == [Opt("LOCAL", 0, GPU_TILE_LOCAL), Opt("LOCAL", 1, GPU_TILE_LOCAL),
                         Opt("UPCAST", 0, GPU_TILE[0]), Opt("UPCAST", 1, GPU_TILE[1])]
    prg = build_program(item.ast, item.name, "default", gpu=True)
    assert prg.local_size[:2] == (GPU_TILE_LOCAL, GPU_TILE_LOCAL)
    assert prg.global_size[0] == 256 // (GPU_TILE[1] * GPU_TILE_LOCAL)  # dimension 0 (innermost): the columns
    got = (Tensor(a, device="PYTHON_GPU") @ Tensor(b, device="PYTHON_GPU")).numpy()
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


def test_a_grouped_reduce_that_an_upcast_leaves_inside_a_serial_loop_is_refused():
    """GROUP 2 on a padded float16 conv's channel reduce, then UPCAST 3 of its columns: the lanes at the padded edges
    simplify to reduces that do not read the rows, so the rows become a serial loop with the middle lane's grouped
    reduce inside; each row rewrote its workgroup memory while other threads could still read the last row's
    partials (a data race the emulator caught: corpus/graphs/crash-opts-random-PYTHON_GPU-grouped-reduce-in-a-serial-
    loop-race.json). The opts are refused now; GROUP without the UPCAST still builds and runs right."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 2, 3)).astype(np.float16), rng.standard_normal((2, 2, 2, 1)).astype(np.float16)
    b = rng.standard_normal((2,)).astype(np.float16)
    item = _ast(Tensor(x).conv2d(Tensor(w), Tensor(b), padding=1, stride=2))
    with pytest.raises(OptError, match="grouped reduce runs inside loop"):
        build_program(item.ast, item.name, [Opt("GROUP", 0, 2), Opt("UPCAST", 2, 3)], gpu=True)
    want = Tensor(x).conv2d(Tensor(w), Tensor(b), padding=1, stride=2).numpy()
    got = Tensor(x, device="PYTHON_GPU").conv2d(Tensor(w, device="PYTHON_GPU"), Tensor(b, device="PYTHON_GPU"),
                                                padding=1, stride=2)
    realize([got], opts=lambda ast, name: [Opt("GROUP", 0, 2)])
    np.testing.assert_array_equal(got.numpy(), want)


def test_conv_and_attention_values_get_a_register_tile_over_the_loops_their_loads_share():
    """A conv's output loops (batch, channels, rows, columns) do not take the matmul tile (16 x 4 of 56 columns): it
    gets 4 x 4 outputs a thread over the output channels and the columns (the input's columns are adjacent, the
    weight does not move along them, the input does not move along the channels), threads a divisor of each loop;
    P @ V's head dim (64) likewise against the query rows. Both run right on the emulated GPU, tails of the tile
    where the upcast takes a whole loop included."""
    from engine.codegen.kernel import GPU_TILE_SMALL as u

    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 8, 6, 16)).astype(np.float32), rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    item = _ast(Tensor(x).conv2d(Tensor(w), padding=1))
    k = build_kernel(item.ast, item.name, "default", gpu=True)
    # channels 16 = 4 threads x 4 (taken whole: the columns' position moves down), columns 16 = 4 x 4
    assert k.applied == [Opt("LOCAL", 1, 4), Opt("LOCAL", 3, 4), Opt("UPCAST", 1, u), Opt("UPCAST", 2, u)]
    want = Tensor(x).conv2d(Tensor(w), padding=1).numpy()
    np.testing.assert_allclose(Tensor(x, device="PYTHON_GPU").conv2d(Tensor(w, device="PYTHON_GPU"), padding=1)
                               .numpy(), want, rtol=1e-5, atol=1e-5)
    p, v = rng.standard_normal((2, 32, 64)).astype(np.float32), rng.standard_normal((2, 64, 32)).astype(np.float32)
    item = schedule_tensors(Tensor(p) @ Tensor(v))[-1]
    assert [o.op for o in build_kernel(item.ast, item.name, "default", gpu=True).applied] == \
        ["LOCAL", "LOCAL", "UPCAST", "UPCAST"]
    np.testing.assert_allclose((Tensor(p, device="PYTHON_GPU") @ Tensor(v, device="PYTHON_GPU")).numpy(), p @ v,
                               rtol=1e-4, atol=1e-4)


def test_gated_index_simplification_terminates_where_sharing_keeps_a_sum_out_of_order():
    """LOCAL 7 on a cat's kernel (40 rows, a gated tail): simplify keeps the index of the middle input's gated load in
    a non-canonical order that shares a partial sum; the kernel rules' canonical_sum restored the canonical order and
    the gated-index rule simplified it again, forever (a graph fuzzer timeout, kept in corpus/graphs). Now the
    kernel builds at once, and runs right on the emulated GPU."""
    import signal

    def stuck(*_):
        raise TimeoutError("the kernel's index simplification did not terminate")
    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(20)
    try:
        rng = np.random.default_rng(3)
        x, y = rng.standard_normal((5, 8, 8)).astype(np.float16), rng.standard_normal((2, 40, 2, 2)).astype(np.float16)
        a = Tensor(x, device="PYTHON_GPU").reshape(2, 40, 2, 2)
        out = Tensor.cat([a, Tensor(y, device="PYTHON_GPU"), a], axis=2)
        (it,) = schedule_tensors(out)
        build_program(it.ast, it.name, [Opt("LOCAL", 1, 7)], gpu=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    ref = np.concatenate([x.reshape(2, 40, 2, 2), y, x.reshape(2, 40, 2, 2)], axis=2)
    np.testing.assert_array_equal(out.numpy(), ref)
