"""Fuzzer registry: name -> "module:Class" import path, loaded lazily so fuzz/ never imports the engine itself."""

from __future__ import annotations

import importlib
import os

from fuzz.base import Fuzzer
from fuzz.errors import BadInputError

# Plugins outside this table can be added with register() or UOPFUZZ_FUZZERS="name=module:Class,...".
FUZZERS: dict[str, str] = {
    "symbolic": "fuzz.symbolic:SymbolicFuzzer",
    "graphs": "fuzz.graphs:GraphFuzzer",
    "onnx": "fuzz.onnx:OnnxFuzzer",
}

ENV_VAR = "UOPFUZZ_FUZZERS"


class UnknownFuzzerError(BadInputError):
    """A fuzzer name that is not registered, or whose plugin cannot be loaded."""


def register(name: str, spec: str) -> None:
    """Register (or replace) the fuzzer `name` as the class at import path "module:Class"."""
    if ":" not in spec:
        raise ValueError(f"fuzzer spec {spec!r} for {name!r} must look like 'module:Class'")
    FUZZERS[name] = spec


def known_fuzzers() -> dict[str, str]:
    """Return all registered fuzzers, including those named in the UOPFUZZ_FUZZERS environment variable."""
    known = dict(FUZZERS)
    for item in filter(None, (part.strip() for part in os.environ.get(ENV_VAR, "").split(","))):
        name, _, spec = item.partition("=")
        if not spec or ":" not in spec:
            raise UnknownFuzzerError(f"{ENV_VAR}: entry {item!r} must look like 'name=module:Class'")
        known[name.strip()] = spec.strip()
    return known


def fuzzer_spec(name: str) -> str:
    """Return the "module:Class" import path of the fuzzer `name`; raise UnknownFuzzerError if unknown."""
    known = known_fuzzers()
    if name not in known:
        listing = ", ".join(sorted(known)) or "none"
        raise UnknownFuzzerError(f"unknown fuzzer {name!r}; known fuzzers: {listing}")
    return known[name]


def load_fuzzer(spec: str, name: str = "") -> Fuzzer:
    """Import and instantiate the fuzzer class at "module:Class"."""
    module_name, _, class_name = spec.partition(":")
    label = f"fuzzer {name!r} ({spec})" if name else f"fuzzer {spec}"
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise UnknownFuzzerError(f"{label} cannot be loaded: {type(e).__name__}: {e}") from e
    fuzzer = cls()
    if not isinstance(fuzzer, Fuzzer):
        raise UnknownFuzzerError(f"{label} is not a fuzz.base.Fuzzer subclass")
    if name:
        fuzzer.name = name  # the registry name is the one corpus entries and reproducers refer to
    return fuzzer


def get_fuzzer(name: str) -> Fuzzer:
    """Return a new instance of the registered fuzzer `name`."""
    return load_fuzzer(fuzzer_spec(name), name)
