"""The graph fuzzer's random opts reach every opt a kernel's device accepts (VECTOR on CPU, LOCAL and GROUP on GPU
devices), draw deterministically from the case seed, and find bugs planted in the code those opts generate."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from graph_planted import OPT_PLANTED

from fuzz.graphs import GraphFuzzer
from fuzz.graphs.case import infer_types, make_values, op_count, reference
from fuzz.graphs.fuzzer import RANDOPT_MODES, configs_for, random_opts
from fuzz.graphs.generate import gen_case
from fuzz.minimize import minimize


def _cases(tag: str, n: int, nodes: int = 6):
    for i in range(n):
        case = gen_case(random.Random(f"{tag}:{i}"), nodes)
        case["seed"] = i
        yield case


def _opts_drawn(mode: str, n: int) -> tuple[Counter, list[str]]:
    """The opts mode `mode` applies over n generated cases, and the failures it saw on the real engine."""
    fz = GraphFuzzer(base="LLVM", modes=(mode,))
    (cfg,) = configs_for([mode], fz.base)
    drawn: Counter = Counter()
    bad = []
    for case in _cases(f"opts:{mode}", n):
        types = infer_types(case)
        arrays = [make_values(x) for x in case["inputs"]]
        with np.errstate(all="ignore"):
            refs = reference(case, arrays, types)
        o = fz.run_config(case, arrays, refs, cfg)
        if o.status != "pass":
            bad.append(f"{o.status}:{o.error} {case}")
        drawn.update(op for k in o.kernels for op, _, _ in k["opts"])
    return drawn, bad


def test_randopt_on_cpu_draws_vector_and_the_clean_engine_passes():
    drawn, bad = _opts_drawn("randopt:CPU", 40)
    assert not bad, bad
    assert drawn["VECTOR"] >= 3 and drawn["UPCAST"] >= 3, drawn
    assert not drawn["LOCAL"] and not drawn["GROUP"]


def test_randopt_on_a_gpu_device_draws_local_and_group_and_the_clean_engine_passes():
    drawn, bad = _opts_drawn("randopt:gpu", 40)
    assert not bad, bad
    assert drawn["LOCAL"] >= 3 and drawn["GROUP"] >= 2, drawn
    assert not drawn["VECTOR"]


def _kernels(t) -> list:
    """(ast, name) of every kernel realizing t."""
    from engine.realize import realize

    seen: list = []
    realize([t], opts=lambda ast, name: seen.append((ast, name)) or [])
    return seen


def test_random_opts_are_deterministic_and_the_base_draw_is_unchanged():
    """Same seed, same opts; without a device (the plain randopt mode) or on LLVM the draws are the four opts they
    always were, the same lists."""
    from engine.tensor import Tensor

    x = Tensor(np.arange(96 * 5, dtype=np.float32).reshape(8, 12, 5))
    ((ast, name),) = _kernels((x * 2).sum(2))
    draws = {}
    for device in (None, "LLVM", "CPU", "PYTHON_GPU"):
        a = [random_opts(random.Random(f"d:{s}"), device)(ast, name) for s in range(40)]
        assert a == [random_opts(random.Random(f"d:{s}"), device)(ast, name) for s in range(40)]
        draws[device] = {o.op for opts in a for o in opts}
        if device in (None, "LLVM"):
            assert draws[device] <= {"UPCAST", "UNROLL", "ACCUM", "REORDER"}, draws
    assert [random_opts(random.Random(f"d:{s}"), None)(ast, name) for s in range(40)] == \
        [random_opts(random.Random(f"d:{s}"), "LLVM")(ast, name) for s in range(40)]
    assert "VECTOR" in draws["CPU"] and {"LOCAL", "GROUP"} <= draws["PYTHON_GPU"], draws


def test_a_kernels_random_opts_do_not_depend_on_the_kernels_built_before_it():
    """Each kernel draws from its own stream (the case's draw, the kernel's name and its count so far): the
    minimizer can drop the kernels before a wrong one, or ops fused into it, and it keeps its opts. With one stream in
    build order, every earlier kernel moved it."""
    from engine.tensor import Tensor

    x = Tensor(np.arange(96 * 5, dtype=np.float32).reshape(8, 12, 5))
    y = Tensor(np.arange(7 * 33, dtype=np.float32).reshape(7, 33))
    ((ax, nx),) = _kernels((x * 2).sum(2))
    ((ay, ny),) = _kernels((y + 1).max(1))
    for device in (None, "CPU", "PYTHON_GPU"):
        for s in range(30):
            both = random_opts(random.Random(f"k:{s}"), device)
            first_x = both(ax, nx)
            alone = random_opts(random.Random(f"k:{s}"), device)
            assert both(ay, ny) == alone(ay, ny)  # y's kernel draws the same with or without x's before it
            assert random_opts(random.Random(f"k:{s}"), device)(ax, nx) == first_x
    ((az, nz),) = _kernels(((y + 1) * 2).exp().max(1))  # two more ops fused into y's kernel: same loops, same draw
    assert nz == ny and az is not ay
    for s in range(30):
        fused, plain = (random_opts(random.Random(f"k:{s}"), "CPU")(a, n) for a, n in ((az, nz), (ay, ny)))
        assert fused == plain
    draws = {tuple(random_opts(random.Random(f"k:{s}"), None)(ay, ny)) for s in range(30)}
    assert len(draws) > 5, draws  # the case's seed still matters


def test_new_modes_are_drawn_on_their_own(monkeypatch):
    """randopt:CPU and randopt:gpu join some cases; the other modes drawn are the same as without them."""
    import fuzz.graphs.fuzzer as gf

    fz = GraphFuzzer(base="LLVM")
    cases = list(_cases("draw", 400, 3))
    with_new = [fz.mode_names(c) for c in cases]
    seen = Counter(m for names in with_new for m in names if m in RANDOPT_MODES)
    assert 15 <= seen["randopt:CPU"] <= 55 and 15 <= seen["randopt:gpu"] <= 70, seen  # rates 0.08 and 0.06 (+ TC)
    monkeypatch.setattr(gf, "RANDOPT_CPU_RATE", 0.0)
    monkeypatch.setattr(gf, "RANDOPT_GPU_RATE", 0.0)
    assert [[m for m in names if m not in RANDOPT_MODES] for names in with_new] == [fz.mode_names(c) for c in cases]


def test_tensor_core_shaped_cases_run_on_the_emulated_gpu_more_often(monkeypatch):
    """A case with 16-bit or 8-bit float inputs and a matmul-like op (a float32 matmul of values cast up takes tensor
    cores on a GPU) gets the PYTHON_GPU modes more often; the generator makes such cases; a rate of 0 stays 0."""
    import fuzz.graphs.fuzzer as gf

    fz = GraphFuzzer(base="LLVM")
    cases = [gen_case(random.Random(f"tc:{i}")) for i in range(600)]
    shaped = [c for c in cases if gf._tensor_core_shaped(c)]
    plain = [c for c in cases if not gf._tensor_core_shaped(c)]
    assert len(shaped) >= 30

    def share(cs: list, mode: str) -> float:
        return sum(mode in fz.mode_names(c) for c in cs) / len(cs)

    assert share(shaped, "dev:PYTHON_GPU") > 0.3 > 0.2 > share(plain, "dev:PYTHON_GPU")
    assert share(shaped, "randopt:gpu") > 0.3 > 0.15 > share(plain, "randopt:gpu")
    monkeypatch.setattr(gf, "RANDOPT_GPU_RATE", 0.0)
    assert share(shaped, "randopt:gpu") == 0


@pytest.mark.parametrize("name", sorted(OPT_PLANTED))
def test_planted_bug_in_new_code_generation_is_found_and_minimized(monkeypatch, name):
    plant, mode, expect = OPT_PLANTED[name]
    fz = GraphFuzzer(base="LLVM", modes=(mode,))
    plant(monkeypatch)
    found = None
    for case in _cases(f"planted:{name}", 200, 3):  # small graphs: the opts drawn change as a case shrinks
        v = fz.check(case)
        if v.status in ("mismatch", "crash"):
            found = case, v
            break
    assert found is not None, f"{name} was not found in 200 cases of {mode}"
    case, v = found
    assert expect in v.signature and ("opts" in v.signature or "device" in v.signature), v.signature
    small, _ = minimize("graphs", case, v.signature, check_fn=fz.check, time_budget_s=20)
    assert op_count(small) <= 3, small
    assert fz.check(small).signature == v.signature
    monkeypatch.undo()
    assert fz.check(small).status == "pass"  # the real engine passes the minimized case
