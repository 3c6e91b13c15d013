"""ONNX conformance: onnx's own backend node tests (`onnx.backend.test`, built from the installed package) run on the
engine through a `Backend` that wraps engine.onnx, on the LLVM device at optimization level 0 (kernels compile in
about a millisecond; the level does not change results). Every case not in tests/onnx_exclude.py must pass, and
the pass count must stay at or above PASS_FLOOR. `python tests/test_onnx_conformance.py [-v] [--excluded] [PATTERN]`
prints the count and every failure with its first line (`--excluded`: which excluded cases pass now).
"""

from __future__ import annotations

import functools
import re
import sys
import time
import warnings
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from engine.onnx import OnnxModel, load

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from onnx_exclude import EXCLUDE, EXCLUDE_OLD_ONNX  # noqa: E402

PASS_FLOOR = 1820  # measured 1,836 with onnx 1.23 (README, "ONNX models"); the target was 1,400
LIST_ONNX = (1, 23)  # the onnx release the exclude list and the floor were made with (its node cases)
DEVICE = "LLVM"


def _onnx_version() -> tuple[int, int]:
    return tuple(int(p) for p in onnx.__version__.split(".")[:2])  # type: ignore[return-value]


class EngineRep(BackendRep):
    """A prepared model: positional inputs in, positional outputs out (what onnx's runner expects)."""

    def __init__(self, model: OnnxModel, device: str):
        self.model, self.device = model, device

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        names = [n for n, _, _ in self.model.inputs]
        feeds = dict(zip(names, inputs))
        out = self.model.run(feeds, self.device)
        return tuple(out[name] for name, _, _ in self.model.outputs)


class EngineBackend(Backend):
    """onnx.backend.base.Backend over engine.onnx ("CPU" in onnx's terms is any engine host device)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EngineRep:
        return EngineRep(load(model), kwargs.get("engine_device", DEVICE))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


@functools.cache
def _node_cases() -> list[Any]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model_tests(kind="node")


def excluded(name: str) -> str | None:
    """The reason a case is excluded, or None."""
    table = EXCLUDE if _onnx_version() >= LIST_ONNX else {**EXCLUDE, **EXCLUDE_OLD_ONNX}
    for pattern, reason in table.items():
        if re.fullmatch(pattern, name):
            return reason
    return None


def _close(out: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> None:
    """onnx's runner's comparison: same shape and dtype, then allclose (bfloat16 with two ulps of rtol)."""
    np.testing.assert_array_equal(out.shape, ref.shape, err_msg="shape")
    np.testing.assert_equal(out.dtype, ref.dtype)
    if out.dtype.name == "bfloat16":
        rtol, out, ref = max(rtol, 2**-6), out.astype(np.float32), ref.astype(np.float32)
    elif out.dtype.name.startswith("float8"):
        out, ref = out.astype(np.float32), ref.astype(np.float32)
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)


def _ml_dtype(arr: np.ndarray, elem_type: int) -> np.ndarray:
    """onnx < 1.18 gives bfloat16, float8 and int4 arrays in its own structured dtypes: as ml_dtypes arrays."""
    import ml_dtypes

    names = {"BFLOAT16": "bfloat16", "FLOAT8E4M3FN": "float8_e4m3fn", "FLOAT8E4M3FNUZ": "float8_e4m3fnuz",
             "FLOAT8E5M2": "float8_e5m2", "FLOAT8E5M2FNUZ": "float8_e5m2fnuz", "INT4": "int4", "UINT4": "uint4"}
    name = names.get(onnx.TensorProto.DataType.Name(elem_type)) if elem_type else None
    if name is None or arr.dtype == np.dtype(getattr(ml_dtypes, name)):
        return arr
    target = np.dtype(getattr(ml_dtypes, name))
    if name in ("int4", "uint4"):  # one value per byte
        return arr.view(np.int8 if name == "int4" else np.uint8).astype(target)
    return arr.view(np.uint8 if target.itemsize == 1 else np.uint16).view(target)


def _read_value(path: str, tp: onnx.TypeProto) -> Any:
    """A test data file as the value its graph type says: an array, a list of them, or None (empty optional)."""
    from onnx import numpy_helper

    data = open(path, "rb").read()
    kind = tp.WhichOneof("value")
    if kind == "sequence_type":
        return numpy_helper.to_list(onnx.SequenceProto.FromString(data))
    if kind == "optional_type":
        return numpy_helper.to_optional(onnx.OptionalProto.FromString(data))
    return _ml_dtype(numpy_helper.to_array(onnx.TensorProto.FromString(data)), tp.tensor_type.elem_type)


def _model_and_data(case: Any) -> tuple[onnx.ModelProto, list[tuple[list[Any], list[Any]]]]:
    """The case's model and data sets: built in memory (onnx >= 1.18) or read from its folder (older releases)."""
    if case.model is not None:
        return case.model, case.data_sets
    import glob
    import os

    model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
    init = {t.name for t in model.graph.initializer}
    ins = [vi for vi in model.graph.input if vi.name not in init]
    sets = []
    for folder in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set_*"))):
        inputs = [_read_value(os.path.join(folder, f"input_{i}.pb"), vi.type) for i, vi in enumerate(ins)]
        refs = [_read_value(os.path.join(folder, f"output_{i}.pb"), vi.type)
                for i, vi in enumerate(model.graph.output)]
        sets.append((inputs, refs))
    return model, sets


def run_case(case: Any, device: str = DEVICE) -> None:
    """Run one node case on the engine; AssertionError or the importer's error when it does not pass."""
    model, data_sets = _model_and_data(case)
    rep = EngineBackend.prepare(model, "CPU", engine_device=device)
    for inputs, refs in data_sets:
        inputs = [onnx.numpy_helper.to_array(t) if isinstance(t, onnx.TensorProto) else t for t in inputs]
        inputs = [[onnx.numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v for v in t]
                  if isinstance(t, list) else t for t in inputs]
        outs = rep.run(inputs)
        assert len(outs) == len(refs), f"{len(outs)} outputs, expected {len(refs)}"
        for out, ref in zip(outs, refs):
            _same(out, ref, case.rtol, case.atol)


def _same(out: Any, ref: Any, rtol: float, atol: float) -> None:
    """A tensor, a sequence (list) or an empty optional (None) equal to the reference's."""
    ref = onnx.numpy_helper.to_array(ref) if isinstance(ref, onnx.TensorProto) else ref
    if ref is None or isinstance(ref, (list, tuple)):
        assert type(out) is type(ref) or (isinstance(out, list) and isinstance(ref, (list, tuple))), \
            f"expected {type(ref).__name__}, got {type(out).__name__}"
        if ref is not None:
            assert len(out) == len(ref), f"a sequence of {len(out)}, expected {len(ref)}"
            for o, r in zip(out, ref):
                _same(o, r, rtol, atol)
        return
    _close(np.asarray(out), np.asarray(ref), rtol, atol)


def run_all(device: str = DEVICE, pattern: str | None = None,
            only_excluded: bool = False) -> tuple[list[str], dict[str, str], list[str]]:
    """Every node case not excluded (or only the excluded ones): (passed, failed name -> first line of the error,
    not run)."""
    import engine.runtime.llvm as llvm_rt

    passed: list[str] = []
    failed: dict[str, str] = {}
    skipped: list[str] = []
    old, llvm_rt.OPT_LEVEL = llvm_rt.OPT_LEVEL, 0
    try:
        for case in _node_cases():
            if pattern and not re.search(pattern, case.name):
                continue
            if (excluded(case.name) is None) == only_excluded:
                skipped.append(case.name)
                continue
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    run_case(case, device)
                passed.append(case.name)
            except Exception as e:  # a failing case, whatever the error: recorded, the loop goes on
                msg = str(e).strip().splitlines()
                failed[case.name] = f"{type(e).__name__}: {' | '.join(msg[:4])[:300]}"
    finally:
        llvm_rt.OPT_LEVEL = old
    return passed, failed, skipped


def test_every_exclude_entry_has_a_reason_and_matches_a_case():
    names = [c.name for c in _node_cases()]
    for pattern, reason in {**EXCLUDE, **EXCLUDE_OLD_ONNX}.items():
        assert reason.strip(), f"exclude entry {pattern!r} gives no reason"
    for pattern in EXCLUDE:
        if _onnx_version() >= LIST_ONNX:  # older releases lack some cases
            assert any(re.fullmatch(pattern, n) for n in names), f"exclude entry {pattern!r} matches no case"


def test_onnx_node_conformance():
    t0 = time.perf_counter()
    passed, failed, skipped = run_all()
    secs = time.perf_counter() - t0
    print(f"\nONNX node conformance on {DEVICE}: {len(passed)} passed, {len(failed)} failed, "
          f"{len(skipped)} excluded of {len(passed) + len(failed) + len(skipped)} in {secs:.0f} s")
    report = "\n".join(f"  {n}: {m}" for n, m in sorted(failed.items()))
    assert not failed, f"{len(failed)} node cases failed that are not excluded:\n{report}"
    if _onnx_version() >= LIST_ONNX:
        assert len(passed) >= PASS_FLOOR


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    t0 = time.perf_counter()
    p, f, s = run_all(pattern=args[0] if args else None, only_excluded="--excluded" in sys.argv)
    if "--excluded" in sys.argv:
        print("\n".join(f"excluded but passes: {n}" for n in p))
        print(f"{len(p)} of {len(p) + len(f)} excluded cases pass")
        sys.exit(0)
    for name, msg in sorted(f.items()):
        print(f"FAIL {name}: {msg}")
    if "-v" in sys.argv:
        for name in p:
            print(f"pass {name}")
    print(f"{len(p)} passed, {len(f)} failed, {len(s)} excluded in {time.perf_counter() - t0:.0f} s")
