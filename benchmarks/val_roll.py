"""Robustness to head roll on the held-out 300-W split (no AFLW2000-3D involved).

    python benchmarks/val_roll.py WEIGHTS [WEIGHTS ...] [--cache ../cache] [--n 600] [--rolls 0 15 30 45]
        [--upright [--upright-ramps 0 10]]

Each validation crop is rolled by +-r degrees and re-framed as the crop policy frames the
rolled face's 68-point box (what inference does with a tilted head); the labels move
exactly with it. Prints the 68-point NME (% of the ground-truth box) per roll for every
weights file, and the ratio of each to the first file, measured in the same run. With ``--upright``,
each file is also run with the upright pass (``ddfa.pipeline.regressor.UprightRegressor``), once per
ramp width given (0 = a hard switch at 10 degrees).
"""

import argparse
from pathlib import Path

import numpy as np

from ddfa.data.augment import policy_framed, similarity_matrix, warp_sample
from ddfa.morphable import FaceModel
from ddfa.morphable.frames import CROP_SIZE
from ddfa.pipeline.regressor import TorchRegressor, UprightRegressor
from ddfa.train.sources import CacheSource


def rolled_split(source: CacheSource, model: FaceModel, n: int, roll: float):
    """The first n samples rolled alternately by +roll / -roll -> crops (n, 120, 120, 3), params (n, 62)."""
    c = (CROP_SIZE - 1) / 2
    crops, params = [], []
    for i in range(n):
        image, p = source.get(i)
        move = similarity_matrix(1.0, roll if i % 2 else -roll, 0.0, 0.0, centre=(c, c))
        w = warp_sample(image, policy_framed(model, p, move), params=p)
        crops.append(w.image)
        params.append(w.params)
    return np.stack(crops), np.stack(params)


def nme(model: FaceModel, pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = model.vertices(pred, dense=False)[..., :2], model.vertices(gt, dense=False)[..., :2]
    size = np.sqrt(np.prod(g.max(1) - g.min(1), -1))
    return float((np.linalg.norm(p - g, axis=-1).mean(1) / size).mean() * 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, default=Path("../cache"))
    ap.add_argument("--n", type=int, default=600, help="validation samples per roll (default: %(default)s)")
    ap.add_argument("--rolls", type=float, nargs="+", default=[0, 15, 30, 45])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--upright", action="store_true", help="also run each file with the upright pass")
    ap.add_argument("--upright-ramps", type=float, nargs="+", default=[10.0],
                    help="ramp widths of the upright pass's soft switch, degrees (default: %(default)s)")
    args = ap.parse_args()
    model, val = FaceModel.load(), CacheSource(args.cache, "val")
    n = min(args.n, len(val))
    runs = []  # (name, regressor)
    for w in args.weights:
        reg = TorchRegressor(w, threads=args.threads)
        runs.append((str(w), reg))
        if args.upright:
            runs += [(f"{w} (upright, ramp {r:g})", UprightRegressor(reg, model, ramp=r)) for r in args.upright_ramps]
    names, regs = zip(*runs)
    table = np.zeros((len(regs), len(args.rolls)))
    for j, roll in enumerate(args.rolls):
        crops, gt = rolled_split(val, model, n, roll)
        for i, reg in enumerate(regs):
            table[i, j] = nme(model, np.concatenate([reg(crops[s:s + 128]) for s in range(0, n, 128)]), gt)
    print(f"NME % on {n} held-out 300-W crops, rolled by +-r degrees and re-framed by the crop policy\n")
    print("| weights | " + " | ".join(f"roll {r:g}" for r in args.rolls) + " | mean | vs first |")
    print("|---" * (len(args.rolls) + 3) + "|")
    for i, w in enumerate(names):
        print(f"| {w} | " + " | ".join(f"{v:.2f}" for v in table[i])
              + f" | {table[i].mean():.2f} | {table[i].mean() / table[0].mean():.2f}x |")


if __name__ == "__main__":
    main()
