"""Dask campaigns: the same seed gives the same cases and verdicts on a LocalCluster; a lost worker loses no case."""

import builtins
import json

import pytest

from fuzz.campaign import run_campaign
from fuzz.cli import main
from fuzz.dask_pool import DaskPool, parse_dask_address
from fuzz.errors import BadInputError
from fuzz.registry import register

register("toy", "toy_fuzzer:ToyFuzzer")
register("segv-toy", "toy_fuzzer:SegvToyFuzzer")
register("killer-toy", "toy_fuzzer:DaskKillerToyFuzzer")


def _campaign(tmp_path, name, fuzzer, **kw):
    return run_campaign(
        [fuzzer],
        cases=kw.pop("cases", 600),
        seed=4,
        corpus_dir=tmp_path / name / "corpus",
        report_dir=tmp_path / name / "reports",
        minimize_seconds=0,
        **kw,
    )


def _same(a, b):
    assert a.cases == b.cases and a.counts == b.counts
    assert a.failures == b.failures
    assert [(f.signature, f.case_index) for f in a.findings] == [(f.signature, f.case_index) for f in b.findings]


def test_local_cluster_of_two_gives_the_cases_and_verdicts_of_one_local_worker(tmp_path):
    local = _campaign(tmp_path, "local", "segv-toy", workers=1)
    dask = _campaign(tmp_path, "dask", "segv-toy", dask="local:2")
    assert dask.workers == 2 and dask.settings["dask"] == "local:2"
    assert local.counts["crash"] > 0 and local.counts["mismatch"] > 0  # segfaults killed isolated processes only
    _same(local, dask)
    summary = json.loads((tmp_path / "dask" / "reports" / dask.campaign_id / "summary.json").read_text())
    assert summary["complete"] and summary["cases"] == 600


@pytest.mark.parametrize("who_retries", ["dask", "pool"])
def test_losing_a_dask_worker_mid_campaign_loses_no_case(tmp_path, monkeypatch, who_retries):
    """Dask runs a lost task again by itself; with allowed-failures 0 it gives up at once and the pool resubmits."""
    import dask

    marker = tmp_path / "kill-once"
    marker.mkdir()
    local = _campaign(tmp_path, "local", "killer-toy", workers=1)  # no TOY_KILL_ONCE_DIR yet: nobody is killed
    monkeypatch.setenv("TOY_KILL_ONCE_DIR", str(marker))
    allowed = 0 if who_retries == "pool" else 3
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed}):
        lost = _campaign(tmp_path, "dask", "killer-toy", dask="local:2")
    assert (marker / "killed").exists()  # a Dask worker was killed while it checked a batch
    assert lost.worker_respawns >= (1 if who_retries == "pool" else 0)
    _same(local, lost)


def test_bad_dask_address_is_bad_input_before_anything_runs(tmp_path, capsys):
    with pytest.raises(BadInputError, match="local:N needs a positive number"):
        parse_dask_address("local:0")
    assert parse_dask_address("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    args = ["run", "toy", "--cases", "5", "--corpus", str(tmp_path / "c"), "--report", str(tmp_path / "r")]
    assert main([*args, "--dask", "nowhere"]) == 2
    assert "--dask nowhere: give a scheduler address" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_distributed_gives_one_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_distributed(name, *args, **kw):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(BadInputError, match=r"pip install -e '\.\[dask\]'"):
        DaskPool("local:1", {"toy": "toy_fuzzer:ToyFuzzer"}, 1, 1.0, None)
