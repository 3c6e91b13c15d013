"""The caches and shortcuts that make the graph fuzzer fast must never keep memory alive for good, and must never
hand back code that a changed renderer or compiler setting would have made differently."""

from __future__ import annotations

import gc

import numpy as np

from engine import Tensor
from engine.tensor import REALIZED


def test_realizing_a_realized_tensor_leaves_no_immortal_entry():
    # a buffer view mapped to itself in the weak REALIZED map was held by its own value: never freed, and every
    # later realize copied the ever-growing map (the graph fuzzer slowed down case after case)
    before = len(REALIZED)
    t = (Tensor(np.arange(6, dtype=np.float32)) + 1).realize()
    t.realize()
    t.numpy()
    assert all(k is not v for k, v in REALIZED.items())
    del t
    gc.collect()
    assert len(REALIZED) <= before


def test_compiled_programs_are_bounded_least_recently_used_first(monkeypatch):
    # every distinct kernel source was kept for the life of the process: a campaign worker grew without bound, and
    # late in the test suite each forked check copied a process of over a gigabyte
    from engine.device import get_device

    dev = get_device("PYTHON")
    monkeypatch.setattr(dev, "compile_cache_size", 3)
    x = Tensor(np.arange(4, dtype=np.float32), device="PYTHON")
    first = (x + 1).realize()
    for k in range(2, 8):
        np.testing.assert_array_equal((x * k).numpy(), np.arange(4) * k)
        np.testing.assert_array_equal((x + 1).numpy(), np.arange(4) + 1)  # used again: stays in the cache
        assert len(dev._compiled) <= 3
    keys = list(dev._compiled)
    np.testing.assert_array_equal((x + 1).numpy(), first.numpy())
    assert list(dev._compiled) == keys  # the kernel of x + 1 was still cached: nothing compiled, nothing evicted


def _store_const(name: str, k: int) -> str:
    return f'define void @"{name}"(ptr %data0) {{\n  store i32 {k}, ptr %data0\n  ret void\n}}\n'


def _call(compiled: object) -> int:
    import ctypes

    out = np.zeros(1, np.int32)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(compiled.address)(out.ctypes.data)  # type: ignore[attr-defined]
    return int(out[0])


def test_llvm_kernels_of_one_name_in_the_shared_engine_keep_their_own_code():
    # every module goes into one engine, which resolves names across modules: a kernel whose function kept its
    # name would run another kernel's code
    from engine.runtime.llvm import compile_llvm, compile_llvm_batch

    a = compile_llvm(_store_const("same", 3), "same", 0)
    b = compile_llvm(_store_const("same", 5), "same", 0)
    c, d = compile_llvm_batch([(_store_const("same", 7), "same"), (_store_const("same", 9), "same")], 0)
    assert [_call(x) for x in (a, b, c, d)] == [3, 5, 7, 9]
    assert a.engine is b.engine is c.engine  # one engine per optimization level


def test_llvm_engines_rotate_and_old_code_outlives_the_switch(monkeypatch):
    import engine.runtime.llvm as llvm_rt

    monkeypatch.setattr(llvm_rt, "ENGINE_KERNELS", 2)
    kept = []
    for k in range(7):
        got = llvm_rt.compile_llvm(_store_const("rot", k), "rot", 1)
        if k % 2:
            kept.append((k, got))
        del got
        gc.collect()  # a dropped kernel may free an old engine: the ones kept must still run
    assert len({id(x.engine) for _, x in kept}) >= 3
    assert [_call(x) for _, x in kept] == [k for k, _ in kept]


def test_a_patched_llvm_renderer_is_not_masked_by_compiled_kernels(monkeypatch):
    # the planted-bug tests patch a renderer in the process that already compiled the same kernel: the compile
    # cache is keyed by the rendered source, so the patched code is what runs
    import engine.renderer.llvm as ll
    from engine.device import get_device

    get_device("LLVM")
    x = np.arange(5, dtype=np.float32)
    first = (Tensor(x, device="LLVM") + 2).numpy()
    np.testing.assert_array_equal(first, x + 2)
    from engine.uop import Ops

    orig = ll._Renderer.float_alu

    def planted(self, u, dt, args):  # a float add is rendered as a subtraction
        return orig(self, u.replace(op=Ops.SUB) if u.op is Ops.ADD else u, dt, args)

    monkeypatch.setattr(ll._Renderer, "float_alu", planted)
    second = (Tensor(x, device="LLVM") + 2).numpy()
    np.testing.assert_array_equal(second, x - 2)



def test_program_cache_reuses_runners_only_for_the_same_device_settings(monkeypatch):
    # the graph fuzzer's modes of one case share loaded runners; llvm-O2 changes the code of the same Program, so it
    # must render and compile its own
    import engine.runtime.llvm as llvm_rt
    from engine.device import get_device
    from engine.realize import program_cache

    dev = get_device("LLVM")
    rendered: list[str] = []
    orig = type(dev).render
    monkeypatch.setattr(type(dev), "render", lambda self, prg: rendered.append(prg.name) or orig(self, prg))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    counts = []
    with program_cache():
        for level in (0, 0, 2):
            monkeypatch.setattr(llvm_rt, "OPT_LEVEL", level)
            got = (Tensor(x, device="LLVM").exp() * 3).sum(1).numpy()
            np.testing.assert_allclose(got, (np.exp(x) * 3).sum(1), rtol=1e-6)
            counts.append(len(rendered))
    assert counts[0] >= 1 and counts[1] == counts[0] and counts[2] > counts[1], counts


def test_program_cache_keeps_kernels_built_with_other_opts_apart():
    from engine.realize import capture_kernels, program_cache, realize

    x = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    with program_cache(), capture_kernels() as log:
        for opts in ("default", None, "default"):
            t = Tensor(x, device="LLVM").sum(1)
            realize([t], opts=opts)
            np.testing.assert_allclose(t.numpy(), x.sum(1), rtol=1e-6)
    assert log[0]["opts"] and not log[1]["opts"] and log[2]["opts"] == log[0]["opts"], log


def test_a_patched_renderer_is_used_in_the_next_program_cache_block(monkeypatch):
    # the cache is scoped to a block (one fuzzer case): code changed between blocks is always what runs
    import engine.renderer.llvm as ll
    from engine.realize import program_cache
    from engine.uop import Ops

    x = np.arange(5, dtype=np.float32)
    with program_cache():
        np.testing.assert_array_equal((Tensor(x, device="LLVM") + 2).numpy(), x + 2)
    orig = ll._Renderer.float_alu
    monkeypatch.setattr(ll._Renderer, "float_alu",
                        lambda self, u, dt, args: orig(self, u.replace(op=Ops.SUB) if u.op is Ops.ADD else u, dt, args))
    with program_cache():
        np.testing.assert_array_equal((Tensor(x, device="LLVM") + 2).numpy(), x - 2)


def test_a_schedule_builds_each_repeated_kernel_once(monkeypatch):
    # a model repeats its layers: kernels with the same AST (the same op on buffers of the same shapes) were built
    # and generated once per use (ResNet-50: 52 codegens for 28 different kernels)
    from engine.codegen.kernel import Kernel

    calls: list[str] = []
    orig = Kernel.to_program
    monkeypatch.setattr(Kernel, "to_program", lambda self: (calls.append(self.name), orig(self))[1])
    a, b = np.arange(12, dtype=np.float32).reshape(3, 4), np.ones((3, 4), np.float32) * 5
    x, y = Tensor(a).exp2().sum(1).contiguous(), Tensor(b).exp2().sum(1).contiguous()
    from engine.realize import realize

    realize([x, y])
    assert len(calls) == 1, calls
    np.testing.assert_allclose(x.numpy(), np.exp2(a).sum(1), rtol=1e-6)
    np.testing.assert_allclose(y.numpy(), np.exp2(b).sum(1), rtol=1e-6)
