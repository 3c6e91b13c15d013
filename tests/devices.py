"""The devices the tensor tests run on: CPU always, and PYTHON and LLVM (both are test dependencies)."""

from engine.device import get_device


def _available(name: str) -> bool:
    try:
        get_device(name)
    except (ValueError, ImportError):
        return False
    return True


DEVICES = ["CPU"] + [d for d in ("PYTHON", "LLVM") if _available(d)]
