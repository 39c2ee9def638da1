"""Network time of regressor ONNX graphs at batch 1, alternating, as ratios to the first graph.

Usage: python benchmarks/bench_graphs.py GRAPH.onnx [GRAPH.onnx ...] [--rounds 15] [--calls 200] [--threads 1]

Each graph runs through ``ddfa.pipeline.regressor.OnnxRegressor`` (as ``FaceAligner`` runs it) on one
(1, 120, 120, 3) uint8 crop of random pixels. Every round times ``--calls`` calls of each graph, in
alternating order; the table gives the median ms per call and the median of the per-round ratios to the first
graph. An earlier commit's graph: ``git show fcb6fad:src/ddfa/assets/mobilenet_v1_0.5.int8.onnx > old.onnx``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ddfa.pipeline.regressor import OnnxRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_versus_commit import alternating  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    nets = [OnnxRegressor(g, threads=args.threads) for g in args.graphs]
    crop = np.random.default_rng(0).integers(0, 256, (1, 120, 120, 3), dtype=np.uint8)
    for net in nets:  # warm-up
        for _ in range(20):
            net(crop)
    runs = {i: (lambda net=net: [net(crop) for _ in range(args.calls)]) for i, net in enumerate(nets)}
    times = np.stack(list(alternating(runs, args.rounds).values())) / args.calls
    print(f"batch 1, {args.threads} thread(s), {args.rounds} alternating rounds of {args.calls} calls\n")
    print("| graph | ms per call | ratio to the first |\n|---|---:|---:|")
    for g, row in zip(args.graphs, times):
        print(f"| {g} | {1e3 * np.median(row):.3f} | {np.median(row / times[0]):.3f} |")


if __name__ == "__main__":
    main()
