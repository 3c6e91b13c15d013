"""The graph fuzzer's shard mode: the same case on one device and sharded over 2-5 (engine.multi), with planted
bugs in the multi-device layer (a gather that puts the pieces in the wrong order, an all-reduce that counts a
device twice) that a seeded campaign must find and minimize."""

import random

import pytest

import engine.multi as multi
from engine.uop import Ops
from fuzz.campaign import run_campaign
from fuzz.cli import main as cli_main
from fuzz.corpus import load_entry
from fuzz.graphs import GraphFuzzer
from fuzz.graphs.case import op_count
from fuzz.graphs.fuzzer import shard_layouts


def _x(shape, dtype="float32", seed=1, domain="normal"):
    return {"shape": list(shape), "dtype": dtype, "seed": seed, "domain": domain}


def gather_in_wrong_order(mp):
    """Gather: the pieces of a split tensor put together last first."""
    orig = multi.gather

    def planted(m, device):
        if m.axis is not None and len(m.shards) > 1:
            m = multi.MultiTensor(m.shards[::-1], m.axis)
        return orig(m, device)

    mp.setattr(multi, "gather", planted)


def allreduce_counts_a_device_twice(mp):
    """All-reduce: the sum gets the last device's part once more."""
    orig = multi.ring_allreduce

    def planted(parts, op=Ops.ADD):
        out = orig(parts, op)
        if op is Ops.ADD and len(parts) > 1:
            out = [multi._combine(o, parts[-1].to(o.device), op) for o in out]
        return out

    mp.setattr(multi, "ring_allreduce", planted)


def test_layouts_are_drawn_from_the_seed_uneven_and_valid():
    case = {"inputs": [_x((7, 5)), _x(()), _x((3, 0, 4))], "nodes": [], "outputs": [0], "seed": 1}
    seen = set()
    for s in range(40):
        a, b = shard_layouts(case, random.Random(s)), shard_layouts(case, random.Random(s))
        assert a == b and 2 <= a["devices"] <= 5
        assert a["inputs"][1] == [None, None]  # a 0-d input is replicated
        for (axis, sizes), inp in zip(a["inputs"], case["inputs"]):
            if axis is not None:
                assert len(sizes) == a["devices"] and sum(sizes) == inp["shape"][axis] and min(sizes) >= 0
                seen.add(len(set(sizes)) > 1)
    assert seen == {True, False}


def test_shard_mode_passes_a_clean_case_and_skips_an_op_that_cannot_run_sharded():
    case = {"inputs": [_x((6, 5)), _x((5, 3), seed=2)],
            "nodes": [{"op": "matmul", "in": [0, 1], "attrs": {}},
                      {"op": "sum", "in": [2], "attrs": {"axis": 0, "keepdim": False}}],
            "outputs": [3, 2], "seed": 4}
    f = GraphFuzzer(modes=["shard"])
    assert f.check(case).status == "pass"
    gather = {"inputs": [_x((4, 3)), _x((4, 3), "int64", 3, "index:4")],
              "nodes": [{"op": "gather", "in": [0, 1], "attrs": {"axis": 0}}], "outputs": [2], "seed": 1}
    assert f.check(gather).status == "pass"  # checked indexing needs the index's values: not run sharded


def test_shard_mode_signature_names_it(monkeypatch):
    allreduce_counts_a_device_twice(monkeypatch)
    case = {"inputs": [_x((6, 5))], "nodes": [{"op": "sum", "in": [0], "attrs": {"axis": None, "keepdim": False}}],
            "outputs": [1], "seed": 4}
    monkeypatch.setattr(multi, "ALLREDUCE", "ring")
    seeds = [s for s in range(30) if shard_layouts({**case, "seed": s}, random.Random(f"{s}:layout"))["inputs"][0][0]
             is not None]
    v = GraphFuzzer(modes=["shard"]).check({**case, "seed": seeds[0]})
    assert v.signature == "mismatch:shard" and v.details["mode"] == "shard", v
    assert v.details["layouts"]["inputs"][0][0] is not None


@pytest.mark.parametrize("plant", [gather_in_wrong_order, allreduce_counts_a_device_twice])
def test_planted_multi_device_bug_is_found_and_minimized(tmp_path, monkeypatch, plant):
    plant(monkeypatch)  # forked workers inherit the planted bug
    monkeypatch.setattr(GraphFuzzer, "shard_rate", 1.0)
    result = run_campaign(["graphs"], cases=60, seed=1, workers=2, corpus_dir=tmp_path / "corpus",
                          report_dir=tmp_path / "reports", minimize_seconds=600, timeout_s=60)  # never the limit
    assert result.exit_code == 1
    found = [f for f in result.findings if f.signature == "mismatch:shard"]
    assert found, [f.signature for f in result.findings]
    entry = load_entry(found[0].corpus_path)
    assert op_count(entry["case"]) <= 3, entry["case"]
    assert cli_main(["repro", str(found[0].corpus_path)]) == 1
    monkeypatch.undo()
    monkeypatch.setattr(GraphFuzzer, "shard_rate", 1.0)
    assert cli_main(["repro", str(found[0].corpus_path)]) == 0  # the real engine passes it
