"""`fuzz onnx-check PATH...`: run real model files on the engine and on onnxruntime, and say where they differ.

Every `.onnx` file given (or found under a given folder) runs with random inputs of its declared shapes (a
symbolic dimension gets a small size, the same for every use of its name), in a worker process of its own (a
time limit; a crash kills only the worker). One table: model, status (match / mismatch with the max error /
unsupported op / crash / timeout / no reference), first-run and steady times of both. A mismatch is narrowed
to the first node (graph order) whose output differs, that node is cut out of the model with
`onnx.utils.Extractor` and saved as a finding folder (model.onnx, inputs.npz, verdict.json, repro.py) under
`--findings`. Exit status: 0 nothing failed, 1 a mismatch, crash or timeout, 2 a path or file that is not a
readable ONNX model (checked before anything runs).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from fuzz.atomic import atomic_write_bytes
from fuzz.case import Verdict, strict_dumps
from fuzz.errors import BadInputError

SYMBOLIC_DIM = 2  # the size a named (symbolic) dimension gets
MAX_ELEMENTS = 1 << 24


def find_models(paths: list[str]) -> list[Path]:
    """The .onnx files named or found under the named folders; BadInputError for a path that does not exist."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.rglob("*.onnx"))
        elif p.is_file():
            out.append(p)
        else:
            raise BadInputError(f"onnx-check: {p}: no such file or folder")
    if not out:
        raise BadInputError(f"onnx-check: no .onnx file under {', '.join(paths)}")
    return out


def load_model(path: Path) -> Any:
    """The ModelProto of path, checked; BadInputError naming the file if it is not a readable ONNX model."""
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:
        raise BadInputError(f"onnx-check: {path}: not a readable ONNX model ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:300] if str(e) else ''})") from None
    if not model.graph.node:
        raise BadInputError(f"onnx-check: {path}: the model has no nodes")
    return model


def random_inputs(model: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays for the graph inputs (initializers excluded): floats normal, integers 0..3, bools."""
    from onnx import helper

    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dt = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
        shape = tuple(d.dim_value if d.HasField("dim_value") else SYMBOLIC_DIM for d in tt.shape.dim)
        if int(np.prod(shape)) > MAX_ELEMENTS:
            raise BadInputError(f"onnx-check: input {vi.name!r} of shape {list(shape)} is too large")
        if dt.kind == "b":
            v: np.ndarray = rng.random(shape) < 0.5
        elif dt.kind in "iu":
            v = rng.integers(0, 4, shape)
        else:
            v = rng.standard_normal(shape)
        out[vi.name] = np.asarray(v).astype(dt)
    return out


# ---------------------------------------------------------------------------------------------- one model
def _timed(fn: Any, runs: int) -> tuple[Any, float, float]:
    t0 = time.perf_counter()
    first = fn()
    t_first = time.perf_counter() - t0
    steady = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        steady.append(time.perf_counter() - t0)
    return first, t_first, statistics.median(steady) if steady else float("nan")


def check_model(path: Path, device: str, runs: int, seed: int, findings: Path | None) -> dict[str, Any]:
    """Compare one model on the engine and onnxruntime (in this process); a row of the table."""
    import onnx

    import engine.onnx
    from fuzz.onnx.fuzzer import reference_outputs
    from oracles.ort_ref import ReferenceError, compare, session

    model = onnx.load(str(path))
    inputs = random_inputs(model, seed)
    row: dict[str, Any] = {"model": str(path), "status": "", "detail": ""}
    try:
        sess_holder: list[Any] = []

        def ort_once() -> Any:
            if not sess_holder:
                sess_holder.append(session(model, optimize=True))
            return sess_holder[0].run(None, inputs)

        _, row["ort_first_s"], row["ort_steady_s"] = _timed(ort_once, runs)
    except Exception as e:
        row["ort_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    try:
        ref_name, want = reference_outputs(model, inputs)
    except ReferenceError as e:
        return {**row, "status": "no reference", "detail": str(e)[:300]}
    holder: list[Any] = []

    def engine_once() -> Any:
        if not holder:
            holder.append(engine.onnx.load(model))
        return holder[0].run(inputs, device=device)

    try:
        got, row["engine_first_s"], row["engine_steady_s"] = _timed(engine_once, runs)
    except engine.onnx.OnnxImportError as e:
        m = re.search(r"unsupported op '?(\w+)", str(e))
        status = "unsupported op" if m else "crash"
        return {**row, "status": status, "detail": (m.group(1) if m else str(e))[:300]}
    except Exception as e:
        return {**row, "status": "crash", "detail": f"{type(e).__name__}: {str(e)[:300]}"}
    worst = None
    for name, w in want.items():
        d = compare(got[name], w)
        if d is not None:
            worst = (name, d)
            break
    if worst is None:
        return {**row, "status": "match", "reference": ref_name}
    name, d = worst
    err = d.detail.get("max_error")
    row.update(status="mismatch", reference=ref_name,
               detail=f"{name}: {d.kind}" + (f", max error {err:.3g}" if err is not None else ""))
    narrowed = narrow(model, inputs, device)
    if narrowed is not None:
        row["node"] = f"{narrowed['node']} ({narrowed['op']})"
        row["detail"] += f"; first at node {row['node']}"
        if findings is not None:
            row["finding"] = str(save_finding(findings, path, narrowed, device))
    return row


def narrow(model: Any, inputs: dict[str, np.ndarray], device: str) -> dict[str, Any] | None:
    """The first node whose output the engine computes differently, as a one-node model with its inputs."""
    import onnx
    from onnx import shape_inference

    import engine.onnx
    from fuzz.onnx.fuzzer import reference_outputs
    from oracles.ort_ref import compare

    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    typed = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    wide = onnx.ModelProto()
    wide.CopyFrom(model)
    known = {o.name for o in wide.graph.output}
    values = [o for n in model.graph.node for o in n.output if o]
    for v in values:
        if v not in known and v in typed and typed[v].type.tensor_type.elem_type:
            wide.graph.output.append(typed[v])
    try:
        names = [o.name for o in wide.graph.output]
        _, want = reference_outputs(wide, inputs, names)
        got = engine.onnx.load(wide).run(inputs, device=device, outputs=names)
    except Exception:
        return None
    inits = {t.name for t in model.graph.initializer}
    for k, node in enumerate(model.graph.node):
        outs = [o for o in node.output if o in want and o in got]
        bad = [o for o in outs if compare(got[o], want[o]) is not None]
        if not bad:
            continue
        ins = [i for i in node.input if i and i not in inits]
        if not all(i in want or i in inputs for i in ins):
            return None
        sub = onnx.utils.Extractor(inferred).extract_model(ins, outs)
        feeds = {i: (inputs[i] if i in inputs else want[i]) for i in ins}
        return {"node": node.name or f"#{k}", "op": node.op_type, "model": sub, "inputs": feeds,
                "outputs": bad}
    return None


def save_finding(root: Path, path: Path, narrowed: dict[str, Any], device: str) -> Path:
    """A finding folder: model.onnx (the one-node subgraph), inputs.npz, verdict.json, repro.py."""
    from fuzz.onnx.finding import model_reproducer, npz_bytes

    data = narrowed["model"].SerializeToString()
    folder = root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', path.stem)}-{narrowed['op']}-" \
                    f"{hashlib.sha256(data).hexdigest()[:10]}"
    signature = f"mismatch:{narrowed['op']}"
    verdict = Verdict("mismatch", signature, {"model": str(path), "node": narrowed["node"], "device": device,
                                              "outputs": narrowed["outputs"]})
    atomic_write_bytes(folder / "model.onnx", data)
    atomic_write_bytes(folder / "inputs.npz", npz_bytes(narrowed["inputs"]))
    atomic_write_bytes(folder / "verdict.json", (strict_dumps(verdict.to_dict(), indent=2) + "\n").encode())
    atomic_write_bytes(folder / "repro.py", model_reproducer(data, narrowed["inputs"], signature, device).encode())
    return folder


# ---------------------------------------------------------------------------------------------- isolation, table
def _child(conn: Any, args: tuple[Any, ...]) -> None:
    try:
        conn.send(check_model(*args))
    except Exception as e:
        conn.send({"model": str(args[0]), "status": "crash", "detail": f"{type(e).__name__}: {str(e)[:300]}"})


def check_isolated(path: Path, device: str, runs: int, seed: int, findings: Path | None, timeout_s: float
                   ) -> dict[str, Any]:
    """check_model in a forked worker: a hang is a timeout, a dead worker a crash."""
    ctx: Any = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, (path, device, runs, seed, findings)), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(timeout_s):
            return dict(parent.recv())
        status = "timeout" if proc.is_alive() else "crash"
        detail = f"over {timeout_s:g} s" if status == "timeout" else f"worker died (exit {proc.exitcode})"
        return {"model": str(path), "status": status, "detail": detail}
    except EOFError:
        proc.join(5)
        return {"model": str(path), "status": "crash", "detail": f"worker died (exit {proc.exitcode})"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()


def _ms(v: Any) -> str:
    return "-" if v is None or v != v else f"{v * 1000:.3g}"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from fuzz.report import report_console

    table = Table(title=f"onnx-check: {len(rows)} models (times in ms)")
    for col in ("model", "status", "detail", "engine first", "engine steady", "ort first", "ort steady"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["model"], r["status"], r.get("detail", ""), _ms(r.get("engine_first_s")),
                      _ms(r.get("engine_steady_s")), _ms(r.get("ort_first_s")), _ms(r.get("ort_steady_s")))
    report_console().print(table)
    for r in rows:
        if "finding" in r:
            print(f"finding: {r['finding']} (python {r['finding']}/repro.py)")


def main(argv: list[str]) -> int:
    """Entry point of `fuzz onnx-check`."""
    from fuzz.onnx.fuzzer import base_device

    ap = argparse.ArgumentParser(prog="fuzz onnx-check", description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help=".onnx files or folders to search")
    ap.add_argument("--device", default=None,
                    help="engine device (default: DEVICE= in the environment, else LLVM where llvmlite is installed)")
    ap.add_argument("--runs", type=int, default=3, help="steady-state runs timed after the first (median)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    ap.add_argument("--timeout", type=float, default=300.0, metavar="S", help="time limit per model")
    ap.add_argument("--findings", default="corpus/onnx-check", metavar="DIR",
                    help="where narrowed mismatches are saved (default corpus/onnx-check)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    if args.runs < 0 or not args.timeout > 0:
        raise BadInputError("onnx-check: --runs must be >= 0 and --timeout > 0")
    paths = find_models(args.paths)
    for p in paths:  # every file is checked before anything runs
        load_model(p)
    device = args.device or base_device()
    rows = [check_isolated(p, device, args.runs, args.seed, Path(args.findings), args.timeout) for p in paths]
    if args.json:
        print(strict_dumps(rows, indent=2))
    else:
        print_table(rows)
    return 1 if any(r["status"] in ("mismatch", "crash", "timeout") for r in rows) else 0
