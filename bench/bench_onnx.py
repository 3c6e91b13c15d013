"""ONNX models on the engine vs onnxruntime, same run, same thread count: ResNet-50 and a transformer block.

Usage: python bench/bench_onnx.py [--model resnet50|transformer|all] [--device CPU] [--repeat N] [--fold-bn]
       [--threads 2] [--kernels]

Both models are built with onnx.helper, random weights (seed 0), batch 1:
- ResNet-50 v1.5, 224x224, as an exporter emits it without folding: Conv (no bias) + BatchNormalization + Relu,
  MaxPool, Add residuals, GlobalAveragePool, Flatten, Gemm (`--fold-bn`: batch norm folded into the convs' weights
  and biases, as `torch.onnx.export` does in eval mode);
- a BERT-base-sized transformer block (sequence 128, width 768, 12 heads, MLP 3072): LayerNormalization, Q/K/V
  MatMul + Add, Reshape/Transpose into heads, MatMul, Div, Softmax, MatMul, the output projection, residual Adds, an
  MLP with the exact Gelu spelled as Erf (as exporters write it).

For each model: the engine's first run (import, build the lazy graph, schedule, codegen, compile with an empty
kernel cache, run: each timed),
the steady latency (best of N) of the engine's compiled kernels replayed on new inputs and of an onnxruntime session
with intra_op_num_threads = --threads (OMP_NUM_THREADS is set to the same before the engine's kernels load), and the
largest error of the engine's outputs relative to onnxruntime's (pass: max |a - b| <= ATOL + RTOL |b|).
`--kernels` prints where the engine's steady time goes, kernel by kernel.
"""

from __future__ import annotations

import argparse
import os
import sys

THREADS_FLAG = "--threads"
if __name__ == "__main__":  # the OpenMP runtime reads OMP_NUM_THREADS once, when the first kernel loads
    _t = sys.argv[sys.argv.index(THREADS_FLAG) + 1] if THREADS_FLAG in sys.argv[:-1] else "2"
    os.environ.setdefault("OMP_NUM_THREADS", _t)

import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RTOL, ATOL = 1e-3, 1e-3  # float32 sums in another order: ResNet-50's logits are O(1), the block's outputs O(1)
OPSET = 17


class _Graph:
    """A graph under construction: nodes, initializers, unique names."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, base: str, arr: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> str:
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=outs[0], **attrs))
        return outs[0]

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], output: str, out_shape: list[int]) -> onnx.ModelProto:
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)
        g = helper.make_graph(self.nodes, name, inputs, [out], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def _conv_bn_relu(g: _Graph, x: str, cin: int, cout: int, k: int, stride: int, fold: bool, relu: bool = True) -> str:
    w = (g.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    scale = g.rng.uniform(0.5, 1.0, cout).astype(np.float32)
    bias = (g.rng.standard_normal(cout) * 0.1).astype(np.float32)
    mean = (g.rng.standard_normal(cout) * 0.1).astype(np.float32)
    var = g.rng.uniform(0.5, 1.5, cout).astype(np.float32)
    pads = [k // 2] * 4
    if fold:  # w' = w * scale / sqrt(var + eps), b' = bias - mean * scale / sqrt(var + eps)
        f = scale / np.sqrt(var + 1e-5)
        y = g.node("Conv", [x, g.init("w", w * f[:, None, None, None]), g.init("b", bias - mean * f)],
                   kernel_shape=[k, k], strides=[stride, stride], pads=pads)
    else:
        y = g.node("Conv", [x, g.init("w", w)], kernel_shape=[k, k], strides=[stride, stride], pads=pads)
        y = g.node("BatchNormalization", [y, g.init("scale", scale), g.init("bias", bias), g.init("mean", mean),
                                          g.init("var", var)], epsilon=1e-5)
    return g.node("Relu", [y]) if relu else y


def resnet50(fold_bn: bool = False) -> onnx.ModelProto:
    """ResNet-50 v1.5 (stride in the 3x3 conv), batch 1, 224x224, random weights; output logits (1, 1000)."""
    g = _Graph(0)
    x = _conv_bn_relu(g, "input", 3, 64, 7, 2, fold_bn)
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = _conv_bn_relu(g, x, cin, width, 1, 1, fold_bn)
            y = _conv_bn_relu(g, y, width, width, 3, s, fold_bn)
            y = _conv_bn_relu(g, y, width, width * 4, 1, 1, fold_bn, relu=False)
            short = _conv_bn_relu(g, x, cin, width * 4, 1, s, fold_bn, relu=False) if i == 0 else x
            x = g.node("Relu", [g.node("Add", [y, short])])
            cin = width * 4
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    w = (g.rng.standard_normal((1000, 2048)) * 0.02).astype(np.float32)
    x = g.node("Gemm", [x, g.init("fc_w", w), g.init("fc_b", np.zeros(1000, np.float32))], transB=1)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])
    return g.model("resnet50", [inp], x, [1, 1000])


def transformer_block(seq: int = 128, d: int = 768, heads: int = 12, mlp: int = 3072) -> onnx.ModelProto:
    """A pre-norm encoder block, batch 1: x + attn(LN(x)), then h + MLP(LN(h)) with Gelu as Erf."""
    g = _Graph(1)
    hd = d // heads

    def linear(x: str, n_in: int, n_out: int) -> str:
        w = (g.rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (g.rng.standard_normal(n_out) * 0.02).astype(np.float32)
        return g.node("Add", [g.node("MatMul", [x, g.init("w", w)]), g.init("b", b)])

    def layernorm(x: str) -> str:
        return g.node("LayerNormalization", [x, g.init("ln_g", g.rng.uniform(0.8, 1.2, d).astype(np.float32)),
                                             g.init("ln_b", (g.rng.standard_normal(d) * 0.02).astype(np.float32))],
                      axis=-1, epsilon=1e-5)

    def split_heads(x: str) -> str:
        shape = g.init("shape", np.array([1, seq, heads, hd], np.int64))
        return g.node("Transpose", [g.node("Reshape", [x, shape])], perm=[0, 2, 1, 3])

    h = layernorm("x")
    q, k, v = (split_heads(linear(h, d, d)) for _ in range(3))
    kt = g.node("Transpose", [k], perm=[0, 1, 3, 2])
    scores = g.node("Div", [g.node("MatMul", [q, kt]), g.init("sqrt_hd", np.array(np.sqrt(hd), np.float32))])
    att = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
    att = g.node("Reshape", [g.node("Transpose", [att], perm=[0, 2, 1, 3]),
                             g.init("shape", np.array([1, seq, d], np.int64))])
    x1 = g.node("Add", ["x", linear(att, d, d)])
    u = linear(layernorm(x1), d, mlp)
    erf = g.node("Erf", [g.node("Div", [u, g.init("sqrt2", np.array(np.sqrt(2.0), np.float32))])])
    gelu = g.node("Mul", [g.node("Mul", [u, g.node("Add", [erf, g.init("one", np.array(1.0, np.float32))])]),
                          g.init("half", np.array(0.5, np.float32))])
    out = g.node("Add", [x1, linear(gelu, mlp, d)])
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, d])
    return g.model("transformer_block", [inp], out, [1, seq, d])


# ---------------------------------------------------------------------------------------------- timing the engine


class _Phases:
    """Wall time per phase of the engine's first run, by wrapping the engine's phase functions for the block."""

    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)
        self.kernels = 0

    @contextmanager
    def wrapped(self) -> Iterator[None]:
        from engine import realize
        from engine.codegen import kernel
        from engine.device import Device

        saved: list[tuple[Any, str, Any]] = []

        def wrap(owner: Any, attr: str, phase: str) -> None:
            fn = getattr(owner, attr)
            saved.append((owner, attr, fn))

            def timed(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    self.t[phase] += time.perf_counter() - t0

            setattr(owner, attr, timed)

        wrap(realize, "schedule", "schedule")
        wrap(realize, "build_kernel", "codegen")
        wrap(kernel.Kernel, "to_program", "codegen")
        wrap(Device, "runners", "render + compile")
        wrap(realize, "_run", "run kernels")
        try:
            yield
        finally:
            for owner, attr, fn in reversed(saved):
                setattr(owner, attr, fn)


class _Replay:
    """The engine's kernels of one model run, built once, replayed on new inputs (a compiled model's steady state).

    The graph is built and scheduled once; replaying copies the new inputs into the input buffers and runs the
    kernels in order. Valid because no kernel's code depends on the inputs' values (the importer read no graph
    input as static data: checked by comparing a replay with a fresh model.run)."""

    def __init__(self, model: Any, feeds: dict[str, np.ndarray], device: str) -> None:
        from engine import realize

        self.items: list[Any] = []
        real_build = realize._build

        def keep(items: list[Any], dev: str, opts: Any) -> Any:
            built = real_build(items, dev, opts)
            self.items.extend(built)
            return built

        realize._build = keep
        try:
            self.out = model.run(feeds, device=device)
        finally:
            realize._build = real_build
        self.inputs = self._buffers(feeds)
        self.outputs = self._buffers(self.out)

    def _buffers(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The buffer of each named value: the kernels' buffer whose contents equal it."""
        found: dict[str, np.ndarray] = {}
        for name, arr in arrays.items():
            flat = np.ascontiguousarray(arr).reshape(-1)
            for item, _, _, _ in self.items:
                for b in item.bufs:
                    if b.allocated and b.data.size == flat.size and b.data.dtype == flat.dtype and \
                            np.array_equal(b.data, flat):
                        found[name] = b.data
        return found

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, arr in feeds.items():
            self.inputs[name][...] = arr.reshape(-1)
        for item, _, runner, _ in self.items:
            runner(*[b.data for b in item.bufs])
        return {name: buf.reshape(self.out[name].shape) for name, buf in self.outputs.items()}

    def per_kernel(self, repeat: int) -> list[tuple[str, tuple[int, ...], float, str]]:
        """(name, output shape, best ms, opts) per kernel."""
        rows = []
        for item, prg, runner, applied in self.items:
            args = [b.data for b in item.bufs]
            best = min(_timed(lambda: runner(*args)) for _ in range(repeat))
            rows.append((item.name, tuple(item.shape), best * 1e3, " ".join(f"{o.op}{o.axis}:{o.amount}"
                                                                            for o in applied)))
        return rows


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _best(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    return min(_timed(fn) for _ in range(repeat)) * 1e3


def _max_rel_excess(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    err = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(err.max()), bool((err <= ATOL + RTOL * np.abs(b)).all())


def bench(name: str, proto: onnx.ModelProto, device: str, repeat: int, threads: int, kernels: bool) -> dict[str, Any]:
    """First run split into phases, steady latency of both, and the largest difference, for one model."""
    import onnxruntime as ort

    from engine.onnx import load

    inp = proto.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    rng = np.random.default_rng(7)
    feeds = [{inp.name: rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
    blob = proto.SerializeToString()

    phases = _Phases()
    t0 = time.perf_counter()
    model = load(blob, name)
    t_import = time.perf_counter() - t0
    with phases.wrapped():
        t1 = time.perf_counter()
        replay = _Replay(model, feeds[0], device)
        t_first = time.perf_counter() - t1
    graph = t_first - sum(phases.t.values())

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    ref = [sess.run(None, f)[0] for f in feeds]
    got0 = next(iter(replay.out.values()))
    got1 = next(iter(replay(feeds[1]).values())).copy()  # a replay on other inputs must give onnxruntime's too
    err0, ok0 = _max_rel_excess(got0, ref[0])
    err1, ok1 = _max_rel_excess(got1, ref[1])
    t_engine = _best(lambda: replay(feeds[1]), repeat)
    t_ort = _best(lambda: sess.run([out_name], feeds[1]), repeat)
    res = {"model": name, "kernels": len(replay.items), "import": t_import, "graph": graph, **phases.t,
           "first": t_import + t_first, "engine_ms": t_engine, "ort_ms": t_ort, "max_err": max(err0, err1),
           "ok": ok0 and ok1}
    if kernels:
        rows = replay.per_kernel(max(3, repeat // 2))
        total = sum(r[2] for r in rows)
        print(f"\n{name}: {len(rows)} kernels, {total:.1f} ms summed (slowest first)")
        for kname, kshape, ms, opts in sorted(rows, key=lambda r: -r[2])[:25]:
            print(f"  {ms:8.2f} ms {100 * ms / total:5.1f}%  {kname:28s} {str(kshape):22s} {opts}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("resnet50", "transformer", "all"), default="all")
    ap.add_argument("--device", default="CPU")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads and OMP_NUM_THREADS")
    ap.add_argument("--fold-bn", action="store_true", help="fold batch norm into the convs, as exporters do")
    ap.add_argument("--kernels", action="store_true", help="per-kernel steady times of the engine")
    ap.add_argument("--warm-cache", action="store_true", help="keep the on-disk kernel cache (default: a fresh one, "
                    "so the first run compiles every kernel)")
    args = ap.parse_args()
    if not args.warm_cache:
        os.environ["UOPFUZZ_CACHE"] = tempfile.mkdtemp(prefix="bench_onnx_")
    import onnxruntime as ort

    models: list[tuple[str, Callable[[], onnx.ModelProto]]] = []
    if args.model in ("resnet50", "all"):
        models.append(("resnet50" + ("-folded" if args.fold_bn else ""), lambda: resnet50(args.fold_bn)))
    if args.model in ("transformer", "all"):
        models.append(("transformer-block", transformer_block))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; device {args.device}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, onnxruntime {ort.__version__} with "
          f"{args.threads} intra-op threads; tolerance |a-b| <= {ATOL} + {RTOL}|b|")
    rows = [bench(name, make(), args.device, args.repeat, args.threads, args.kernels) for name, make in models]
    print(f"\n{'model':18s} {'engine ms':>9s} {'ort ms':>7s} {'ratio':>6s} {'max err':>8s} {'match':>5s} "
          f"{'first s':>7s} = {'import':>6s} {'graph':>6s} {'sched':>6s} {'codegen':>7s} {'compile':>7s} {'run':>6s}"
          f" {'kernels':>7s}")
    for r in rows:
        print(f"{r['model']:18s} {r['engine_ms']:9.1f} {r['ort_ms']:7.1f} {r['engine_ms'] / r['ort_ms']:6.2f} "
              f"{r['max_err']:8.1e} {'yes' if r['ok'] else 'NO':>5s} {r['first']:7.2f} = {r['import']:6.2f} "
              f"{r['graph']:6.2f} {r['schedule']:6.2f} {r['codegen']:7.2f} {r['render + compile']:7.2f} "
              f"{r['run kernels']:6.2f} {r['kernels']:7d}")


if __name__ == "__main__":
    main()
