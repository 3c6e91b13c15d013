#!/usr/bin/env bash
# Everything the GPU work needs checked on a machine with an NVIDIA GPU, in one run (bench/RESULTS.md takes its
# figures). Run from anywhere: bash bench/gpu_check.sh   (OUT=<dir> for the logs; default ./gpu_check_out)
#   0. environment: python, the GPU, whether the engine sees CUDA (cuda-bindings + NVRTC), OpenCL
#   1. the GPU tests (tests/test_gpu_kernels.py and test_tensor_cores.py: CUDA, OPENCL where a platform exists, the
#      PYTHON_GPU emulator; TC kernels run by the card) and the corpus replay (its CUDA findings included)
#   2. a short graph-fuzzer campaign; dev:CUDA joins every case when CUDA is available
#   3. bench/bench_gpu.py --small (quick, checks every row runs), then the full sizes
#   4. bench/gemm_sweep.py --settings: the settings still to decide (pipeline depth, the small register tile)
# Each step runs even when an earlier one failed; the last lines list each step's exit status.
# Wheels to install offline: WHEELS=<dir of .whl> (pip install --no-index --find-links). Step budgets:
# FUZZ_SECONDS (default 120), BENCH_ITERS (default 5).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
declare -A RC

step() {  # step NAME LOGFILE COMMAND...: run, tee the output, record the status
  local name="$1" log="$2"; shift 2
  echo "=== $name: $*" | tee "$OUT/$log"
  "$@" 2>&1 | tee -a "$OUT/$log"
  RC[$name]=${PIPESTATUS[0]}
  echo "=== $name: exit ${RC[$name]}" | tee -a "$OUT/$log"
}

if [ -n "${WHEELS:-}" ]; then
  step wheels wheels.log "$PY" -m pip install --no-index --find-links "$WHEELS" --quiet -e ".[gpu]"
fi

step env env.log "$PY" - <<'EOF'
import importlib, platform, subprocess, sys
print("python", sys.version.split()[0], platform.platform())
print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap,memory.total", "--format=csv"],
                     capture_output=True, text=True).stdout)
for m in ("numpy", "ml_dtypes", "z3", "llvmlite", "torch", "cuda.bindings", "pyopencl", "hypothesis", "pytest"):
    try:
        mod = importlib.import_module(m)
        print(f"{m:14s} {getattr(mod, '__version__', '?')}")
    except Exception as e:
        print(f"{m:14s} MISSING ({e})")
from engine.device import available, get_device
from engine.runtime.cuda import nvrtc_available
print("nvrtc:", nvrtc_available())
for d in ("CUDA", "OPENCL", "PYTHON_GPU", "LLVM"):
    try:
        dev = get_device(d)
        print(d, "available", getattr(dev, "arch", ""))
    except Exception as e:
        print(d, "NOT available:", e)
sys.exit(0 if available("CUDA") else 1)
EOF

step tests tests.log "$PY" -m pytest tests/test_gpu_kernels.py tests/test_tensor_cores.py tests/test_corpus_replay.py -q -rs -p no:cacheprovider

step smoke smoke.log "$PY" - <<'EOF'
# a few workloads on CUDA against the CPU device, at sizes that take GPU code paths (GROUP, guarded LOCAL)
import numpy as np
from engine import Tensor
from engine.realize import capture_kernels
rng = np.random.default_rng(0)
bad = 0
cases = {
    "sum 2^20": lambda d, a: Tensor(a["v"], device=d).sum(),
    "softmax 256x4096": lambda d, a: Tensor(a["m"], device=d).softmax(-1),
    "layernorm 256x4096": lambda d, a: Tensor(a["m"], device=d).layernorm(-1),
    "matmul 300x500x257": lambda d, a: Tensor(a["x"], device=d) @ Tensor(a["y"], device=d),
    "conv2d": lambda d, a: Tensor(a["img"], device=d).conv2d(Tensor(a["w"], device=d), padding=1),
    "bf16 exp 10^5+3": lambda d, a: Tensor(a["odd"], device=d).cast("bfloat16").exp().cast("float32"),
}
arrays = {"v": rng.standard_normal(1 << 20).astype(np.float32), "m": rng.standard_normal((256, 4096)).astype(np.float32),
          "x": rng.standard_normal((300, 500)).astype(np.float32), "y": rng.standard_normal((500, 257)).astype(np.float32),
          "img": rng.standard_normal((2, 8, 20, 20)).astype(np.float32),
          "w": rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "odd": rng.standard_normal(100003).astype(np.float32)}
for name, fn in cases.items():
    want = fn("CPU", arrays).numpy()
    with capture_kernels() as log:
        got = fn("CUDA", arrays).numpy()
    ok = np.allclose(got, want, rtol=1e-4, atol=1e-4 * max(1, np.abs(want).max()))
    bad += not ok
    print(f"{name:22s} {'ok' if ok else 'DIFFERS'} max err {np.abs(got - want).max():.3g} opts {[k['opts'] for k in log]}")
raise SystemExit(1 if bad else 0)
EOF

step fuzz fuzz.log "$PY" -m fuzz run graphs --seconds "${FUZZ_SECONDS:-120}" --seed 1 --workers 8 --memory-mb 4000000 \
  --corpus "$OUT/corpus" --report "$OUT/reports" --no-progress
# did dev:CUDA run (a worker that cannot start CUDA drops the mode silently)?
grep -o '"mode:dev:CUDA": *[0-9]*' -r "$OUT/reports" | head -3 | tee -a "$OUT/fuzz.log"

step bench_small bench_small.log "$PY" bench/bench_gpu.py --small --iters 3 --json "$OUT/bench_small.json"
step bench bench.log "$PY" bench/bench_gpu.py --iters "${BENCH_ITERS:-5}" --json "$OUT/bench.json"
step settings settings.log "$PY" bench/gemm_sweep.py --settings --rows gemm_fp16,gemm_bf16,gemm_fp8,conv2d,attention

echo "=== summary (logs in $OUT)"
for k in wheels env tests smoke fuzz bench_small bench settings; do
  [ -n "${RC[$k]+x}" ] && echo "$k: exit ${RC[$k]}"
done
