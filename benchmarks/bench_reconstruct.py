"""Reconstruction time, dense (9,409 vertices) and sparse (68), numpy and torch, batch 1 and 64.

    python benchmarks/bench_reconstruct.py [--repeats 50] [--threads 1]
"""

import argparse
import time

import numpy as np
import torch

from ddfa.morphable import FaceModel, compose, layout, rotation_from_euler


def median_ms(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = FaceModel.load()
    tm = m.torch()
    rng = np.random.default_rng(0)
    print(f"{args.threads} thread(s), median ms of {args.repeats} calls\n")
    print("| batch | numpy dense | numpy sparse | torch dense | torch sparse | dense/sparse (numpy) |")
    print("|---|---|---|---|---|---|")
    for B in (1, 64):
        R = rotation_from_euler(rng.uniform(-60, 60, B), 0, 0)
        p = layout.join(compose(np.full(B, 4.0), R, np.full((B, 3), 60.0)), rng.normal(size=(B, 50))).astype(np.float32)
        pt = torch.from_numpy(p)
        nd = median_ms(lambda: m.vertices(p), args.repeats)
        ns = median_ms(lambda: m.vertices(p, dense=False), args.repeats)
        with torch.inference_mode():
            td = median_ms(lambda: tm.vertices(pt), args.repeats)
            ts = median_ms(lambda: tm.vertices(pt, dense=False), args.repeats)
        print(f"| {B} | {nd:.3f} | {ns:.3f} | {td:.3f} | {ts:.3f} | {nd / ns:.0f}x |")


if __name__ == "__main__":
    main()
