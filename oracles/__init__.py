"""Independent references the fuzzers check the engine against (never imports engine internals it checks)."""
