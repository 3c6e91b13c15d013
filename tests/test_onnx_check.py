"""`fuzz onnx-check`: real-looking models built with onnx.helper (a ResNet-style CNN, a transformer block with
attention and layernorm, an MLP with Gemm) run on the engine and onnxruntime; a planted importer bug is narrowed
to its node and saved as a one-node finding; bad files and unsupported ops get their own answers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fuzz.cli import main as cli_main

RNG = np.random.default_rng(0)


def _w(name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def _i64(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _save(path, nodes, inputs, outputs, inits, opset: int = 17) -> None:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def resnet_block(path) -> None:
    """conv-bn-relu, conv-bn, residual add, relu, global pool, flatten, gemm classifier; symbolic batch."""
    c = 4
    n = helper.make_node
    nodes = [n("Conv", ["x", "w0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             n("Conv", ["c0", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             n("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["n1"]),
             n("Relu", ["n1"], ["r1"]),
             n("Conv", ["r1", "w2"], ["c2"], kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
             n("Add", ["c2", "c0"], ["s"]), n("Relu", ["s"], ["r2"]),
             n("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], ceil_mode=1),
             n("GlobalAveragePool", ["p"], ["gp"]), n("Flatten", ["gp"], ["f"]),
             n("Gemm", ["f", "fc", "fcb"], ["y"], transB=1)]
    inits = [_w("w0", c, 3, 3, 3), _w("w1", c, c, 3, 3), _w("b1", c), _w("w2", c, c, 3, 3), _w("g", c),
             _w("be", c), _w("mu", c), numpy_helper.from_array(RNG.uniform(0.5, 2, c).astype(np.float32), "var"),
             _w("fc", 10, c), _w("fcb", 10)]
    _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 12, 12])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)


def transformer_block(path) -> None:
    """Self-attention (2 heads) with a residual and layernorm, then a Relu MLP with a residual and layernorm."""
    s, d, h = 5, 8, 2
    n = helper.make_node
    nodes = [n("MatMul", ["x", "wq"], ["q"]), n("MatMul", ["x", "wk"], ["k"]), n("MatMul", ["x", "wv"], ["v"])]
    for t in "qkv":
        nodes += [n("Reshape", [t, "heads_shape"], [f"{t}4"]),
                  n("Transpose", [f"{t}4"], [f"{t}h"], perm=[0, 2, 1, 3])]
    nodes += [n("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]), n("MatMul", ["qh", "kt"], ["att"]),
              n("Mul", ["att", "scale"], ["atts"]), n("Softmax", ["atts"], ["p"], axis=-1),
              n("MatMul", ["p", "vh"], ["o"]), n("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
              n("Reshape", ["ot", "model_shape"], ["o2"]), n("MatMul", ["o2", "wo"], ["o3"]),
              n("Add", ["x", "o3"], ["r1"]), n("LayerNormalization", ["r1", "ln1g", "ln1b"], ["l1"], axis=-1),
              n("MatMul", ["l1", "w1"], ["m1"]), n("Add", ["m1", "b1"], ["m1b"]), n("Relu", ["m1b"], ["m1r"]),
              n("MatMul", ["m1r", "w2"], ["m2"]), n("Add", ["l1", "m2"], ["r2"]),
              n("LayerNormalization", ["r2", "ln2g", "ln2b"], ["y"], axis=-1, epsilon=1e-3)]
    inits = [_w(nm, d, d) for nm in ("wq", "wk", "wv", "wo")] + [
        _i64("heads_shape", [0, 0, h, d // h]), _i64("model_shape", [0, 0, d]),
        numpy_helper.from_array(np.array(1 / np.sqrt(d // h), np.float32), "scale"),
        _w("ln1g", d), _w("ln1b", d), _w("w1", d, 2 * d), _w("b1", 2 * d), _w("w2", 2 * d, d), _w("ln2g", d),
        _w("ln2b", d)]
    _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", s, d])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", s, d])], inits)


def mlp(path) -> None:
    n = helper.make_node
    nodes = [n("Gemm", ["x", "w1", "b1"], ["h1"], transB=1), n("Relu", ["h1"], ["a1"]),
             n("Gemm", ["a1", "w2", "b2"], ["h2"], alpha=0.5, beta=2.0), n("Sigmoid", ["h2"], ["y"])]
    inits = [_w("w1", 16, 12), _w("b1", 16), _w("w2", 16, 3), _w("b2", 3)]
    _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 12])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])], inits)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    (root / "nested").mkdir()
    resnet_block(root / "resnet.onnx")
    transformer_block(root / "nested" / "transformer.onnx")
    mlp(root / "mlp.onnx")
    return root


def _check(argv, capsys) -> tuple[int, list[dict]]:
    code = cli_main(["onnx-check", *argv, "--json", "--runs", "1"])
    return code, json.loads(capsys.readouterr().out)


def test_three_real_models_match_onnxruntime_with_times(models, tmp_path, capsys):
    code, rows = _check([str(models), "--findings", str(tmp_path / "f")], capsys)
    assert code == 0, rows
    assert sorted(r["model"].rsplit("/", 1)[1] for r in rows) == ["mlp.onnx", "resnet.onnx", "transformer.onnx"]
    for r in rows:
        assert r["status"] == "match", r
        assert r["engine_first_s"] > 0 and r["engine_steady_s"] > 0 and r["ort_first_s"] > 0
    assert not (tmp_path / "f").exists()


def test_table_is_printed(models, capsys):
    assert cli_main(["onnx-check", str(models / "mlp.onnx"), "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "mlp.onnx" in out and "match" in out and "engine steady" in out


def test_mismatch_is_narrowed_to_its_node_and_saved_as_a_one_node_finding(models, tmp_path, capsys, monkeypatch):
    import engine.onnx_ops as ops

    orig = ops.OPS["LayerNormalization"]
    monkeypatch.setitem(ops.OPS, "LayerNormalization",  # the planted bug: epsilon ignored, bias dropped
                        lambda inp, attrs, *rest: orig(inp[:2], attrs, *rest))
    code, rows = _check([str(models / "nested"), "--findings", str(tmp_path / "f")], capsys)
    assert code == 1
    (row,) = rows
    assert row["status"] == "mismatch" and "max error" in row["detail"], row
    assert row["node"].endswith("(LayerNormalization)")
    folder = tmp_path / "f" / row["finding"].rsplit("/", 1)[1]
    sub = onnx.load(str(folder / "model.onnx"))
    assert [n.op_type for n in sub.graph.node] == ["LayerNormalization"]
    assert list(np.load(folder / "inputs.npz").files) == ["r1"]
    assert json.loads((folder / "verdict.json").read_text())["signature"] == "mismatch:LayerNormalization"
    src = (folder / "repro.py").read_text()
    with pytest.raises(SystemExit) as e:
        exec(compile(src, "repro.py", "exec"), {"__name__": "__main__"})
    assert e.value.code == 1
    capsys.readouterr()
    monkeypatch.undo()
    done = subprocess.run([sys.executable, str(folder / "repro.py")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unsupported_op_is_its_own_status(tmp_path, capsys):
    n = helper.make_node
    _save(tmp_path / "rand.onnx", [n("RandomNormalLike", ["x"], ["y"])],  # random: the importer never runs it
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])], [])
    code, rows = _check([str(tmp_path / "rand.onnx")], capsys)
    assert code == 0 and rows[0]["status"] == "unsupported op" and rows[0]["detail"] == "RandomNormalLike", rows


def test_bad_files_exit_2_with_one_message_before_anything_runs(models, tmp_path, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes((models / "mlp.onnx").read_bytes()[:50])
    assert cli_main(["onnx-check", str(models / "mlp.onnx"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not a readable ONNX model" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["onnx-check", str(tmp_path / "nope.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["onnx-check", str(tmp_path / "empty")]) == 2
