"""Build the fused dense backward + Adam op against the installed TensorFlow (make install).

Usage: python build.py SOURCE OUTPUT. Compiles SOURCE with the C++ compiler in $CXX (else
g++) and TensorFlow's own compile and link flags (tf.sysconfig), so the library matches the
TensorFlow it loads into. On x86-64 CPUs with AVX2 and FMA it targets x86-64-v3 (portable
to any such CPU, within 5% of -march=native here) and writes the CPU features it needs
next to OUTPUT (``OUTPUT.cpu``), which mobileclf/train/fused_dense.py checks before
loading it on another machine (a cluster node). Elsewhere it builds nothing: with SSE
only the op was slower than TensorFlow's kernels (7.0 vs 6.7 ms at 50 px), and other
CPUs are untested. Exits non-zero with one line when it builds nothing; training then
uses TensorFlow's own kernels.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

# scripts/ on the path: the loader's own CPU-flag reader (no TensorFlow at import)
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from mobileclf.train.fused_dense import cpu_flags

NEEDS = ("avx2", "fma")


def main(source: str, output: str) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    cxx = os.environ.get("CXX", "g++")
    if platform.machine() not in ("x86_64", "AMD64") or not set(NEEDS) <= cpu_flags():
        print(f"not built: the op pays on x86-64 CPUs with {' and '.join(NEEDS)}, this is"
              f" {platform.machine()} without them", file=sys.stderr)  # fmt: skip
        return 1
    arch, needs = ["-march=x86-64-v3"], NEEDS
    command = [
        cxx,
        "-shared",
        "-fPIC",
        "-O3",
        *arch,
        "-fno-math-errno",
        "-ffp-contract=fast",
        "-Wno-deprecated-declarations",
        "-Wno-psabi",
        *tf.sysconfig.get_compile_flags(),
        source,
        "-o",
        output,
        *tf.sysconfig.get_link_flags(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        print(f"no C++ compiler {cxx!r} (set CXX or install g++)", file=sys.stderr)
        return 1
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln] or [done.stderr[-300:]]
        print(f"{shlex.join(command[:2])} ... failed: {errors[0]}", file=sys.stderr)
        Path(output).unlink(missing_ok=True)
        return 1
    Path(output + ".cpu").write_text(" ".join(needs) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
