"""Planting bugs for mutation tests: `Patch` (setattr, setitem and function-body edits, all undone by `undo`), `edit`
(a one-line source edit of an engine function, swapped in by `__code__` so every reference to it runs the bug) and
`edit_rule` (a symbolic rule gets a new body). Used by bench/mutants_sym_onnx.py and the blind symbolic set."""

from __future__ import annotations
import __future__

import inspect
import textwrap
from typing import Any, Callable

import engine.symbolic as sym


class Patch:
    """A monkeypatch for planting bugs: setattr, setitem and function-body edits, undone in reverse by `undo`."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        self._undo.append(lambda: setattr(obj, name, old))

    def setitem(self, d: dict, key: Any, value: Any) -> None:
        missing = key not in d
        old = d.get(key)
        d[key] = value
        self._undo.append(lambda: d.pop(key) if missing else d.__setitem__(key, old))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


def _compile_function(src: str, glb: dict[str, Any], what: str) -> Callable:
    ns: dict[str, Any] = {}
    code = compile(src, f"<mutant of {what}>", "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, glb, ns)
    (fn,) = [v for v in ns.values() if callable(v)]
    return fn


def edit(p: Patch, fn: Callable, *changes: tuple[str, str]) -> None:
    """Plant a bug in `fn` by source edits (each `old` must occur exactly once); every caller then runs the edit."""
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines(keepends=True)
    src = "".join(line for line in lines if not line.startswith("@"))  # not again through @op: it registers
    for old, new in changes:
        if src.count(old) != 1:
            raise ValueError(f"mutant of {fn.__qualname__}: {old!r} occurs {src.count(old)} times, not once")
        src = src.replace(old, new)
    new_fn = _compile_function(src, fn.__globals__, fn.__qualname__)
    if new_fn.__code__.co_freevars != fn.__code__.co_freevars:
        raise ValueError(f"mutant of {fn.__qualname__}: a closure cannot be edited")
    p.setattr(fn, "__code__", new_fn.__code__)


def edit_rule(p: Patch, rule: str, lambda_src: str) -> None:
    """Give the symbolic rule named `rule` the body of `lambda_src` (same parameters): the table keeps its entry."""
    (r,) = [r for r in sym.symbolic.rules if r.name == rule]
    new_fn = _compile_function(f"_f = {lambda_src}\n", r.fn.__globals__, rule)
    if inspect.signature(new_fn).parameters.keys() != inspect.signature(r.fn).parameters.keys():
        raise ValueError(f"mutant of rule {rule}: the parameters must stay {list(inspect.signature(r.fn).parameters)}")
    p.setattr(r.fn, "__code__", new_fn.__code__)
