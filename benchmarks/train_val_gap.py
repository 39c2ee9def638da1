"""Does a regressor underfit or overfit, and which parameters carry its error? (300-W cache only.)

    python benchmarks/train_val_gap.py WEIGHTS [WEIGHTS ...] [--cache ../cache] [--n 1500]

For each weights file: the 68-point NME (% of the label's box) on n unaugmented crops drawn
from the cache's training split and n from its held-out split, against the fitted labels. A
train number close to the held-out one means the network underfits (more steps help more
than more regularisation). Then, on the held-out crops, the NME with one group of predicted
parameters replaced by the label's: how much of the error each group carries.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from ddfa.eval.metrics import nme
from ddfa.morphable import FaceModel, layout
from ddfa.nets.checkpoint import load_regressor
from ddfa.train.sources import CacheSource

_T = layout.pose_matrix(np.arange(layout.N_PARAMS))  # (3, 4) indices of T's entries
GROUPS = {"rotation + scale": _T[:, :3].ravel(), "translation": _T[:, 3], "pose (all 12)": layout.POSE,
          f"identity ({layout.N_ID})": layout.ID, f"expression ({layout.N_EXP})": layout.EXP}


def sample(source: CacheSource, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """n random crops of a split -> images (n, 3, 120, 120) float, params (n, 62)."""
    idx = np.sort(np.random.default_rng(seed).choice(len(source), min(n, len(source)), replace=False))
    crops, params = zip(*(source.get(int(i)) for i in idx))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float(), np.stack(params)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, default=Path("../cache"))
    ap.add_argument("--n", type=int, default=1500, help="crops per split (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = FaceModel.load()
    splits = {s: sample(CacheSource(args.cache, s), args.n) for s in ("train", "val")}

    labels = {s: model.vertices(p, dense=False) for s, (_, p) in splits.items()}  # (n, 68, 3) each

    def error(pred, split):
        return float(nme(model.vertices(pred, dense=False), labels[split]).mean())

    rows = []
    for w in args.weights:
        reg = load_regressor(w)
        preds = {s: np.concatenate([reg(x[i:i + 128]) for i in range(0, len(x), 128)]) for s, (x, _) in splits.items()}
        gt = splits["val"][1]
        swapped = []
        for cols in GROUPS.values():
            p = preds["val"].copy()
            p[:, cols] = gt[:, cols]
            swapped.append(error(p, "val"))
        rows.append((w, error(preds["train"], "train"), error(preds["val"], "val"), swapped))
    n_train, n_val = (len(splits[s][1]) for s in ("train", "val"))
    print(f"NME % against the fitted labels; {n_train} training and {n_val} held-out crops of {args.cache}, "
          "unaugmented\n")
    print("| weights | train | held out | held out / train | " + " | ".join(f"label {g}" for g in GROUPS) + " |")
    print("|---" * (4 + len(GROUPS)) + "|")
    for w, tr, va, sw in rows:
        print(f"| {w} | {tr:.2f} | {va:.2f} | {va / tr:.2f}x | " + " | ".join(f"{v:.2f}" for v in sw) + " |")


if __name__ == "__main__":
    main()
