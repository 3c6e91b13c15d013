"""A device whose driver cannot cross a fork (CUDA, OpenCL) is unavailable in a forked child of a process that
started it: campaign workers are forked, and PoCL's enqueue_copy hung forever in them (found by the test suite,
where an earlier test had started OpenCL in the pytest process)."""

from __future__ import annotations

import os

import pytest

from engine.codegen.program import Program
from engine.device import Device, DeviceUnavailable, available, get_device, register_device


class _ForkUnsafe(Device):
    name = "FORKUNSAFE"
    fork_safe = False

    def render(self, prg: Program) -> str:
        return ""

    def compile(self, src: str, name: str) -> object:
        return None

    def launcher(self, compiled: object, prg: Program):
        return lambda *bufs: None


def _in_child(fn) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_unsafe_device_started_before_fork_is_unavailable_in_the_child():
    register_device("FORKUNSAFE", _ForkUnsafe)
    register_device("FORKUNSAFE2", _ForkUnsafe)
    assert get_device("FORKUNSAFE").name == "FORKUNSAFE"  # started in this (parent) process

    def child() -> int:
        if available("FORKUNSAFE"):
            return 1
        try:
            get_device("FORKUNSAFE")
            return 2
        except DeviceUnavailable as e:
            if "parent" not in str(e):
                return 3
        # one the parent never started works in the child; host devices always do
        return 0 if available("FORKUNSAFE2") and available("CPU") else 4

    assert _in_child(child) == 0
    assert available("FORKUNSAFE")  # the parent keeps it
