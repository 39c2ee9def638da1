"""WPDC (62 reconstructions) vs fWPDC (one) at batch 128: time per call and weight agreement.

    python benchmarks/bench_losses.py [--batch 128] [--repeats 5] [--threads 2]
"""

import argparse
import time

import numpy as np
import torch

from ddfa.losses import FWPDC, VDC, WPDC
from ddfa.morphable import FaceModel, compose, layout, rotation_from_euler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    B = args.batch
    R = rotation_from_euler(rng.uniform(-80, 80, B), rng.uniform(-20, 20, B), rng.uniform(-20, 20, B))
    T = compose(rng.uniform(3, 5, B), R, np.c_[rng.uniform(50, 70, (B, 2)), np.zeros(B)])
    target = torch.tensor(layout.join(T, rng.normal(0, 1, (B, 50))), dtype=torch.float32)
    pred = target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(args.seed)) * target.abs().mean(0)
    tm = FaceModel.load().torch()

    def timed(fn):
        fn()
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return 1000 * float(np.median(ts))

    wpdc, fwpdc, vdc = WPDC(tm), FWPDC(tm), VDC(tm)
    rows = [("WPDC (reference)", timed(lambda: wpdc(pred, target))),
            ("fWPDC", timed(lambda: fwpdc(pred, target))),
            ("VDC (dense)", timed(lambda: vdc(pred, target)))]
    diff = (wpdc.weights(pred, target) - fwpdc.weights(pred, target)).abs().max().item()
    print(f"batch {B}, {args.threads} threads, median of {args.repeats}\n")
    print("| loss | ms per call | vs fWPDC |\n|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / rows[1][1]:.1f}x |")
    print(f"\nmax |w_WPDC - w_fWPDC| = {diff:.2e} (weights normalised to max 1)")


if __name__ == "__main__":
    main()
