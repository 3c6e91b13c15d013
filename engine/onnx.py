"""ONNX importer: load a model (path, bytes or ModelProto) and run it on any engine device.

The rule: every value a node computes is an engine Tensor (a sequence is a list of them, an empty optional None),
computed by the handler in `OPS[op_type]` (`OPS["domain:op"]` for another domain; looked up when the node runs, so
a test can patch one), or, for an op without a handler that onnx defines by a function body, by running that body.
Only values an op needs as static data (Reshape's shape, Slice's starts, Pad's pads, TopK's k, ...) are read back
as numpy (`engine.onnx_ops.static`): initializers, Constant outputs and graph inputs are known without running a
kernel; ops whose output sizes depend on the values (NonZero, Unique, NonMaxSuppression) realize them. Element
types the engine lacks are held widened (`engine.onnx_ops.NARROW`). Attributes get the defaults of the op's schema
for the model's opset. Every error about the model or its inputs is one OnnxImportError naming the file, the node
(its name, or `#index`) and the op type.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import external_data_helper, numpy_helper

from engine import (  # noqa: F401  (they register their handlers in OPS)
    onnx_ops_control,
    onnx_ops_domains,
    onnx_ops_nn,
    onnx_ops_quant,
    onnx_ops_resize,
    onnx_ops_sequence,
    onnx_ops_signal,
)
from engine.dtype import DType
from engine.onnx_ops import (
    NARROW,
    OPS,
    Narrow,
    Node,
    OnnxImportError,
    onnx_elem_type,
    op_key,
    register_static,
    value_dtype,
)
from engine.tensor import Tensor

SUPPORTED_OPS = frozenset(OPS)
# the ops that may read sub-byte integer values (held widened): they keep them in range or leave the type
NARROW_OK = frozenset({"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear", "Identity", "Reshape", "Flatten",
                       "Squeeze", "Unsqueeze", "Transpose", "Shape", "Size"})

__all__ = ["OnnxImportError", "OnnxModel", "load", "OPS", "SUPPORTED_OPS"]



def _attr_value(a: onnx.AttributeProto) -> Any:
    """An attribute as a Python value (strings decoded, tensors as numpy)."""
    t = a.type
    A = onnx.AttributeProto
    if t == A.FLOAT:
        return float(a.f)
    if t == A.INT:
        return int(a.i)
    if t == A.STRING:
        return a.s.decode("utf-8", "replace")
    if t == A.TENSOR:
        return numpy_helper.to_array(a.t)
    if t == A.FLOATS:
        return [float(v) for v in a.floats]
    if t == A.INTS:
        return [int(v) for v in a.ints]
    if t == A.STRINGS:
        return [s.decode("utf-8", "replace") for s in a.strings]
    if t == A.GRAPH:
        return a.g
    raise ValueError(f"attribute {a.name!r} has a type the importer does not read ({A.AttributeType.Name(t)})")


class _ParsedNode:
    """One node of the graph with its attributes parsed and defaulted."""

    __slots__ = ("proto", "index", "op_type", "key", "inputs", "outputs", "attrs", "where", "schema")

    def __init__(self, proto: onnx.NodeProto, index: int, attrs: dict[str, Any], where: str,
                 schema: Any = None):
        self.proto, self.index, self.op_type = proto, index, proto.op_type
        self.key = op_key(proto.domain, proto.op_type)
        self.schema = schema  # set for an op without a handler that onnx defines by a function body
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        self.attrs, self.where = attrs, where


def _kind(tp: onnx.TypeProto) -> str:
    """What a value is: "tensor", "sequence", "optional" or "optional sequence"."""
    k = tp.WhichOneof("value")
    if k == "sequence_type":
        return "sequence"
    if k == "optional_type":
        return "optional " + _kind(tp.optional_type.elem_type) if _kind(tp.optional_type.elem_type) != "tensor" \
            else "optional"
    return "tensor"


def _element_type(tp: onnx.TypeProto) -> onnx.TypeProto:
    """The tensor type inside a sequence or optional type (the type itself for a tensor)."""
    k = tp.WhichOneof("value")
    if k == "sequence_type":
        return _element_type(tp.sequence_type.elem_type)
    if k == "optional_type":
        return _element_type(tp.optional_type.elem_type)
    return tp


def _narrow_output(n: _ParsedNode, narrow_in: list[Narrow | None]) -> Narrow | None:
    """The sub-byte type of a node's first output, if it has one."""
    if n.op_type == "Cast":
        return NARROW.get(n.attrs.get("to", 0))
    if n.op_type == "CastLike":
        return narrow_in[1] if len(narrow_in) > 1 else None
    if n.op_type == "QuantizeLinear":
        zp = narrow_in[2] if len(narrow_in) > 2 else None
        return zp if len(n.inputs) > 2 and n.inputs[2] else NARROW.get(n.attrs.get("output_dtype", 0))
    if n.op_type in NARROW_OK and n.op_type not in ("DequantizeLinear", "Shape", "Size"):
        return narrow_in[0] if narrow_in else None
    return None


def _function_graph(n: _ParsedNode, inp: list[Any]) -> onnx.GraphProto:
    """The function body of a node's op as a graph: attribute references resolved from the node's attributes
    (with the schema's defaults), its formal inputs and outputs as the graph's."""
    schema = n.schema
    node = onnx.NodeProto()
    node.CopyFrom(n.proto)
    given = {a.name for a in node.attribute}
    node.attribute.extend(a.default_value for name, a in schema.attributes.items()
                          if name not in given and a.default_value is not None and a.default_value.type != 0)
    if schema.has_function:
        fn = schema.function_body
    else:
        types = [onnx.TypeProto() if t is None else
                 onnx.helper.make_tensor_type_proto(onnx_elem_type(t.dtype), t.shape) for t in inp]
        fn = onnx.FunctionProto.FromString(schema.get_context_dependent_function(
            node.SerializeToString(), [t.SerializeToString() for t in types]))
    attrs = {a.name: a for a in node.attribute}
    nodes = []
    for fnode in fn.node:
        c = onnx.NodeProto()
        c.CopyFrom(fnode)
        kept = []
        for a in c.attribute:
            if a.ref_attr_name:
                if a.ref_attr_name in attrs:
                    r = onnx.AttributeProto()
                    r.CopyFrom(attrs[a.ref_attr_name])
                    r.name = a.name
                    kept.append(r)
            else:
                kept.append(a)
        del c.attribute[:]
        c.attribute.extend(kept)
        nodes.append(c)
    return onnx.helper.make_graph(nodes, f"{n.op_type}_function", [onnx.helper.make_empty_tensor_value_info(i)
                                                                   for i in fn.input],
                                  [onnx.helper.make_empty_tensor_value_info(o) for o in fn.output])


def _outer_names(n: onnx.NodeProto) -> list[str]:
    """The values a node's graph attributes read from enclosing scopes (what its subgraphs use but do not define)."""
    names: list[str] = []
    for a in n.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            local = {vi.name for vi in g.input} | {t.name for t in g.initializer}
            for sub in g.node:
                names.extend(i for i in list(sub.input) + _outer_names(sub) if i and i not in local)
                local.update(sub.output)
    return names


class _Subgraph:
    """A graph attribute (If's branches, Loop's and Scan's body): its nodes, initializers, input and output names."""

    def __init__(self, proto: onnx.GraphProto, nodes: list[_ParsedNode], init: dict[str, np.ndarray]):
        self.proto, self.nodes, self.init = proto, nodes, init
        self.inputs = [vi.name for vi in proto.input]
        self.outputs = [vi.name for vi in proto.output]


class OnnxModel:
    """A loaded model: its declared inputs and outputs, and `run` on any engine device."""

    def __init__(self, proto: onnx.ModelProto, path: str | None = None):
        self.proto, self.path = proto, path
        self._file = f"{path}: " if path else ""
        g = proto.graph
        self._domains = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in proto.opset_import}
        self.opset = self._domains.get("", 0)
        if not self.opset and not any(n.domain not in ("", "ai.onnx") for n in g.node):
            raise OnnxImportError(f"{self._file}the model imports no version of the default ONNX domain")
        self._init: dict[str, np.ndarray] = {}
        self._init_narrow: dict[str, Narrow] = {}
        for t in g.initializer:
            self._init[t.name] = self._initializer(t)
        for st in g.sparse_initializer:
            raise OnnxImportError(f"{self._file}sparse initializer {st.values.name!r} is not supported")
        self._inputs: list[tuple[str, tuple[int | str | None, ...], np.dtype]] = []
        self._input_types: dict[str, tuple[tuple[int | str | None, ...] | None, DType, np.dtype, Narrow | None]] = {}
        self._input_kinds: dict[str, str] = {}  # "tensor", "sequence", "optional" or "optional sequence"
        for vi in g.input:
            if vi.name in self._init:
                continue
            shape, dt, npdt, nt = self._value_type(vi, "graph input")
            self._input_types[vi.name] = (shape, dt, npdt, nt)
            self._input_kinds[vi.name] = _kind(vi.type)
            self._inputs.append((vi.name, shape if shape is not None else (), npdt))
        self._outputs = [o.name for o in g.output]
        self._output_types = [(o.name, *self._declared(o, "graph output")) for o in g.output]
        self._nodes = [self._parse_node(n, i) for i, n in enumerate(g.node)]
        self._producer = {o: n for n in self._nodes for o in n.outputs if o}
        known = set(self._init) | set(self._input_types)
        for n in self._nodes:
            for name in n.inputs:
                if name and name not in known:
                    raise OnnxImportError(f"{n.where}: input {name!r} is produced by no node, initializer or "
                                          "graph input")
            known.update(o for o in n.outputs if o)
        for name in self._outputs:
            if name not in known:
                raise OnnxImportError(f"{self._file}graph output {name!r} is produced by no node")
        self._device_init: dict[str, dict[str, Tensor]] = {}
        self._subgraphs: dict[int, _Subgraph] = {}

    def _subgraph(self, g: onnx.GraphProto, where: str) -> _Subgraph:
        """A graph attribute parsed once (its nodes named after the node that holds it)."""
        sg = self._subgraphs.get(id(g))
        if sg is None:
            init = {t.name: self._initializer(t) for t in g.initializer}
            nodes = [self._parse_node(n, i, f"{where} / {g.name or 'subgraph'}") for i, n in enumerate(g.node)]
            sg = self._subgraphs[id(g)] = _Subgraph(g, nodes, init)
        return sg

    def _run_subgraph(self, g: onnx.GraphProto, ins: list[Tensor], outer: dict[str, Tensor | None], device: str,
                      where: str, narrow: dict[str, Narrow]) -> list[Tensor]:
        """Run a subgraph: its inputs bound in order, the enclosing scope's values visible."""
        sg = self._subgraph(g, where)
        if len(ins) != len(sg.inputs):
            raise OnnxImportError(f"{where}: subgraph {g.name!r} takes {len(sg.inputs)} inputs, got {len(ins)}")
        scope: dict[str, Any] = dict(outer)
        for name, arr in sg.init.items():
            scope[name] = register_static(Tensor(arr, device=device), arr)
        scope.update(zip(sg.inputs, ins))
        for n in sg.nodes:
            self._run_node(n, scope, device, dict(narrow))
        missing = [o for o in sg.outputs if o not in scope]
        if missing:
            raise OnnxImportError(f"{where}: subgraph {g.name!r} computes no value {missing[0]!r}")
        return [scope[o] for o in sg.outputs]

    def _function_handler(self, n: _ParsedNode) -> Any:
        """A handler that runs the function body onnx defines the node's op by (context-dependent ones are built
        for the input types of the run)."""

        def handler(inp: list[Any], attrs: dict[str, Any], node: Node) -> list[Any]:
            assert node.run_graph is not None
            body = _function_graph(n, inp)
            ins = list(inp) + [None] * (len(body.input) - len(inp))
            return node.run_graph(body, ins)

        return handler

    # ------------------------------------------------------------------ loading helpers
    def _initializer(self, t: onnx.TensorProto) -> np.ndarray:
        try:
            dt, _, nt = value_dtype(t.data_type, f"initializer {t.name!r}")
            if nt is not None:
                self._init_narrow[t.name] = nt
            return numpy_helper.to_array(t).astype(dt.np)
        except OnnxImportError as e:
            raise OnnxImportError(f"{self._file}{e}") from None
        except Exception as e:  # a truncated raw_data, a missing external file
            raise OnnxImportError(f"{self._file}initializer {t.name!r} cannot be read: {e}") from None

    def _value_type(self, vi: onnx.ValueInfoProto,
                    what: str) -> tuple[tuple[int | str | None, ...] | None, DType, np.dtype, Narrow | None]:
        """Declared shape (None if undeclared), engine dtype, numpy dtype and sub-byte type of a value."""
        tt = _element_type(vi.type)
        if tt.WhichOneof("value") != "tensor_type":
            raise OnnxImportError(f"{self._file}{what} {vi.name!r} is a {tt.WhichOneof('value')}, not a tensor")
        try:
            dt, npdt, nt = value_dtype(tt.tensor_type.elem_type, f"{what} {vi.name!r}")
        except OnnxImportError as e:
            raise OnnxImportError(f"{self._file}{e}") from None
        if not tt.tensor_type.HasField("shape"):
            return None, dt, npdt, nt
        dims: list[int | str | None] = []
        for d in tt.tensor_type.shape.dim:
            k = d.WhichOneof("value")
            dims.append(int(d.dim_value) if k == "dim_value" else d.dim_param if k == "dim_param" else None)
        return tuple(dims), dt, npdt, nt

    def _parse_node(self, n: onnx.NodeProto, i: int, parent: str = "") -> _ParsedNode:
        where = f"{parent or self._file}{' / ' if parent else ''}node {n.name or '#' + str(i)} ({n.op_type})"
        domain = "" if n.domain == "ai.onnx" else n.domain
        try:
            schema = onnx.defs.get_schema(n.op_type, self._domains.get(domain, 0), domain)
        except Exception:
            schema = None
        by_function = schema is not None and bool(getattr(schema, "has_function", False)
                                                  or getattr(schema, "has_context_dependent_function", False))
        if op_key(domain, n.op_type) not in OPS and not by_function:
            of = f" of domain {domain!r}" if domain else ""
            raise OnnxImportError(f"{where}: unsupported op {n.op_type!r}{of}")
        if domain not in self._domains:
            raise OnnxImportError(f"{where}: the model imports no version of domain {domain or 'ai.onnx'!r}")
        attrs: dict[str, Any] = {}
        if schema is not None:
            for name, a in schema.attributes.items():
                if a.default_value is not None and a.default_value.type != 0:
                    attrs[name] = _attr_value(a.default_value)
        for a in n.attribute:
            if a.ref_attr_name:
                raise OnnxImportError(f"{where}: attribute {a.name!r} refers to a function attribute")
            try:
                attrs[a.name] = _attr_value(a)
            except Exception as e:
                raise OnnxImportError(f"{where}: bad attribute {a.name!r}: {e}") from None
        if schema is not None:
            for name, a in schema.attributes.items():
                if a.required and name not in attrs:
                    raise OnnxImportError(f"{where}: required attribute {name!r} is missing")
        return _ParsedNode(n, i, attrs, where, schema if op_key(domain, n.op_type) not in OPS else None)

    # ------------------------------------------------------------------ public
    @property
    def inputs(self) -> list[tuple[str, tuple[int | str | None, ...], np.dtype]]:
        """The declared graph inputs that are not initializers: (name, shape (str/None: symbolic), numpy dtype)."""
        return list(self._inputs)

    @property
    def outputs(self) -> list[tuple[str, tuple[int | str | None, ...], np.dtype | None]]:
        """The graph outputs: (name, declared shape (str/None: symbolic, () if undeclared), numpy dtype or None)."""
        return list(self._output_types)

    def _declared(self, vi: onnx.ValueInfoProto, what: str) -> tuple[tuple[int | str | None, ...], np.dtype | None]:
        if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.elem_type:
            return (), None
        shape, _, npdt, _ = self._value_type(vi, what)
        return (shape if shape is not None else ()), npdt

    def _init_tensors(self, device: str) -> dict[str, Tensor]:
        if device not in self._device_init:
            ts = {}
            for name, arr in self._init.items():
                ts[name] = Tensor(arr, device=device)
                register_static(ts[name], arr)
            self._device_init[device] = ts
        return self._device_init[device]

    def _feed_value(self, name: str, value: Any, device: str) -> Any:
        """A checked feed as the importer's value: a Tensor, a list of them (a sequence), or None (an empty
        optional)."""
        kind = self._input_kinds[name]
        where = f"{self._file}graph input {name!r}"
        if kind.startswith("optional") and value is None:
            return None
        if kind.endswith("sequence"):
            if not isinstance(value, (list, tuple)):
                raise OnnxImportError(f"{where}: expected a sequence (list) of arrays, got {type(value).__name__}")
            return [self._tensor(self._check_feed(name, v, False), device) for v in value]
        return self._tensor(self._check_feed(name, value), device)

    @staticmethod
    def _tensor(arr: np.ndarray, device: str) -> Tensor:
        return register_static(Tensor(arr, device=device), arr)

    def _check_feed(self, name: str, value: Any, check_shape: bool = True) -> np.ndarray:
        shape, dt, npdt, _ = self._input_types[name]
        arr = np.asarray(value)
        where = f"{self._file}graph input {name!r}"
        if arr.dtype != npdt:
            raise OnnxImportError(f"{where}: expected dtype {npdt}, got {arr.dtype}")
        if shape is not None and check_shape:
            if arr.ndim != len(shape):
                raise OnnxImportError(f"{where}: expected rank {len(shape)} (shape {shape}), got shape {arr.shape}")
            for want, got in zip(shape, arr.shape):
                if isinstance(want, int) and want != got:
                    raise OnnxImportError(f"{where}: expected shape {shape}, got {arr.shape}")
        return arr.astype(dt.np, copy=False)

    def run(self, feeds: dict[str, np.ndarray], device: str | None = None,
            outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run the graph on `device` (default: the engine's); returns the named values (default: graph outputs)."""
        from engine.device import canonical_device
        from engine.realize import realize

        device = canonical_device(device)
        wanted = list(self._outputs if outputs is None else outputs)
        for name in feeds:
            if name not in self._input_types:
                raise OnnxImportError(f"{self._file}feed {name!r} is not a graph input (inputs: "
                                      f"{', '.join(n for n, _, _ in self._inputs)})")
        values: dict[str, Tensor | None] = {"": None}
        values.update(self._init_tensors(device))
        narrow = dict(self._init_narrow)
        narrow.update({name: ty[3] for name, ty in self._input_types.items() if ty[3] is not None})
        for name in self._input_types:
            if name not in feeds:
                raise OnnxImportError(f"{self._file}graph input {name!r} is missing from the feeds")
            values[name] = self._feed_value(name, feeds[name], device)
        for name in wanted:
            if name not in values and name not in self._producer:
                raise OnnxImportError(f"{self._file}no value named {name!r} in the graph")
        for n in self._needed(wanted, values):
            self._run_node(n, values, device, narrow)
        outs = [values[name] for name in wanted]
        realize([t for v in outs for t in (v if isinstance(v, list) else [v]) if t is not None])
        narrow_np = {nt.np for nt in NARROW.values()}
        declared = {name: npdt for name, _, npdt in self._output_types if npdt in narrow_np}
        res: dict[str, Any] = {}
        for name, val in zip(wanted, outs):  # sub-byte values go back to their own numpy type
            nt = narrow.get(name)
            want = nt.np if nt is not None else declared.get(name)

            def host(t: Tensor) -> np.ndarray:
                return t.numpy() if want is None else t.numpy().astype(want)

            res[name] = None if val is None else [host(t) for t in val] if isinstance(val, list) else host(val)
        return res

    def _needed(self, wanted: list[str], values: dict[str, Any]) -> list[_ParsedNode]:
        """The nodes the wanted values depend on, in graph order."""
        need: set[int] = set()
        stack = [w for w in wanted if w not in values]
        while stack:
            n = self._producer.get(stack.pop())
            if n is None or n.index in need:
                continue
            need.add(n.index)
            stack.extend(i for i in n.inputs + _outer_names(n.proto) if i and i not in values)
        return [n for n in self._nodes if n.index in need]

    def _run_node(self, n: _ParsedNode, values: dict[str, Tensor | None], device: str,
                  narrow: dict[str, Narrow]) -> None:
        """Run one node: its outputs join `values`; `narrow` names the values of a sub-byte type."""
        handler = OPS.get(n.key)
        if handler is None and n.schema is not None:
            handler = self._function_handler(n)
        if handler is None:
            raise OnnxImportError(f"{n.where}: unsupported op {n.op_type!r}")
        missing = [i for i in n.inputs if i not in values]
        if missing:
            raise OnnxImportError(f"{n.where}: input {missing[0]!r} is produced by no node, initializer or graph input")
        args = [values[i] for i in n.inputs]
        narrow_in = [narrow.get(i) for i in n.inputs]
        if n.op_type not in NARROW_OK:
            for name, nt in zip(n.inputs, narrow_in):
                if nt is not None:
                    raise OnnxImportError(f"{n.where}: input {name!r} has the sub-byte type {nt.name}, which only "
                                          f"{', '.join(sorted(NARROW_OK))} read")

        def run_graph(g: onnx.GraphProto, ins: list[Tensor]) -> list[Tensor]:
            return self._run_subgraph(g, ins, values, device, n.where, narrow)

        try:
            out = handler(args, dict(n.attrs), Node(n.op_type, self.opset, device, len(n.outputs), run_graph,
                                                    narrow_in))
        except OnnxImportError as e:
            raise OnnxImportError(f"{n.where}: {e}") from None
        except (ValueError, TypeError, IndexError, NotImplementedError) as e:
            raise OnnxImportError(f"{n.where}: {type(e).__name__}: {e}") from e
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for name, t in zip(n.outputs, outs):
            if name:
                values[name] = t
        nt = _narrow_output(n, narrow_in)
        if nt is not None and n.outputs and n.outputs[0]:
            narrow[n.outputs[0]] = nt
        for name in n.outputs[len(outs):]:
            if name:
                raise OnnxImportError(f"{n.where}: output {name!r} is not computed by the importer")


def load(model: Any, path_hint: str | None = None) -> OnnxModel:
    """Load a model from a path, bytes or an onnx.ModelProto (external data files next to a path are read).

    `path_hint` names the model in error messages when it comes as bytes or a ModelProto, and is the folder
    external data files are read from for a ModelProto whose tensors point at files."""
    path: str | None = None
    if isinstance(model, onnx.ModelProto):
        proto, path = model, path_hint
        if path_hint is not None and _has_external_data(proto):
            proto = onnx.ModelProto.FromString(proto.SerializeToString())
            base = path_hint if os.path.isdir(path_hint) else os.path.dirname(path_hint)
            try:
                external_data_helper.load_external_data_for_model(proto, base)
            except Exception as e:
                raise OnnxImportError(f"{path_hint}: external data cannot be read ({type(e).__name__}: {e})") from None
    elif isinstance(model, (bytes, bytearray, memoryview)):
        path = path_hint or "<bytes>"
        try:
            proto = onnx.load_model_from_string(bytes(model))
        except Exception as e:
            raise OnnxImportError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise OnnxImportError(f"{path}: no such file")
        try:
            proto = onnx.load(path, load_external_data=True)
        except Exception as e:
            raise OnnxImportError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    else:
        raise OnnxImportError(f"load: expected a path, bytes or onnx.ModelProto, got {type(model).__name__}")
    if not proto.HasField("graph") or (not proto.graph.node and not proto.graph.output):
        raise OnnxImportError(f"{path or '<model>'}: the model has no graph (empty or truncated file?)")
    return OnnxModel(proto, path)


def _has_external_data(proto: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
