"""Benchmark the regressors: params, MACs and CPU latency (torch vs ONNX Runtime).

Usage: python benchmarks/bench_nets.py [--widths 1.0 0.5] [--archs efficientnet_lite0] [--batches 1 64] [--threads 1 2]

Prints a markdown table of median milliseconds per forward call (whole batch) on
random float32 (B, 3, 120, 120) pixels, for torch (eval, inference_mode) and
ONNX Runtime (CPUExecutionProvider, graph exported by ddfa.export.onnx); "ORT vs first" is the ratio
to the first network's ORT time at the same batch and threads, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import onnxruntime as ort
import torch

from ddfa.export.onnx import export_onnx
from ddfa.nets import count_macs, count_parameters, create_model


def median_ms_pair(
    fa: Callable[[], object], fb: Callable[[], object], min_time: float, min_repeats: int, rounds: int = 3
) -> tuple[float, float]:
    """Median ms per call of ``fa`` and ``fb``.

    Timed in alternating blocks (a, b, a, b, ...), so that load drift hits both alike while
    neither runtime's spin-waiting worker threads compete with the other's.
    """
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, times in zip((fa, fb), samples):
            fn()  # warm-up / wake the thread pool
            start = time.perf_counter()
            n = 0
            while n < -(-min_repeats // rounds) or time.perf_counter() - start < min_time / rounds:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
                n += 1
    return 1e3 * statistics.median(samples[0]), 1e3 * statistics.median(samples[1])


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5], help="MobileNetV1 widths")
    ap.add_argument("--archs", nargs="*", default=[], help="other registry networks, e.g. efficientnet_lite0")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed calls per engine and cell")
    ap.add_argument("--min-repeats", type=int, default=5)
    args = ap.parse_args()

    cols = ["network", "params", "MACs conv+fc", "MACs (thop)", "batch"]
    for t in args.threads:
        cols += [f"torch {t}T ms", f"ORT {t}T ms", f"ORT/torch {t}T", f"ORT vs first {t}T"]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, load average {load}")
    print("median ms per forward call of the whole batch\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))

    nets = [(f"mobilenet_v1 {w:g}", "mobilenet_v1", {"width": w}) for w in args.widths]
    nets += [(a, a, {}) for a in args.archs]
    first: dict[tuple[int, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, arch, kwargs in nets:
            torch.manual_seed(0)
            model = create_model(arch, **kwargs).eval()
            path = export_onnx(model, Path(tmp) / f"{label.replace(' ', '_')}.onnx")
            params = count_parameters(model)
            macs, macs_thop = count_macs(model), count_macs(model, thop_compatible=True)
            sessions = {t: ort_session(path, t) for t in args.threads}
            for batch in args.batches:
                x = torch.rand(batch, 3, 120, 120) * 255
                xn = x.numpy()
                row = [label, f"{params:,}", f"{macs / 1e6:.1f}M", f"{macs_thop / 1e6:.1f}M", str(batch)]
                for t in args.threads:
                    torch.set_num_threads(t)
                    sess = sessions[t]
                    with torch.inference_mode():
                        t_torch, t_ort = median_ms_pair(
                            lambda: model(x),
                            lambda: sess.run(["params"], {"image": xn}),
                            args.min_time,
                            args.min_repeats,
                        )
                    first.setdefault((batch, t), t_ort)
                    row += [f"{t_torch:.2f}", f"{t_ort:.2f}", f"{t_ort / t_torch:.2f}", f"{t_ort / first[batch, t]:.2f}"]
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
