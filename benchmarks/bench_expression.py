"""Do the ARKit-named expression readings follow the face? Old (least squares) vs new (bounded projection).

Usage: python benchmarks/bench_expression.py [--limit N]

On the ytf68 video frames (../shared/data/ytf68, train and test, 4,232 real frames the shipped
weights never saw), each face is aligned from its annotated 68 points (the training crop rule), and
its readings are compared with references computed from the *annotated* points:

- mouth opening ``MAR`` = mean inner-lip gap (61-67, 62-66, 63-65) / inner mouth width (60-64)
  vs ``jawOpen``;
- eye aspect ratio ``EAR`` = mean lid gap / eye width (both eyes) vs ``eyeBlink`` (mean of L and R);
- mouth width / outer-eye-corner distance vs ``mouthSmile`` (mean of L and R).

Printed: Spearman correlation with the reference (sign so that higher = agrees), AUC of telling the
top 10 % of the reference (widest open / most closed / widest mouth) from the bottom 50 %, the mean
reading on the bottom-50 % faces ("rest"), and the share of negative and of >1 readings over all
57 names. ``old`` = ``a_exp @ exp_to_arkit.T`` (the ddfa 0.1 reading), ``new`` =
:class:`ddfa.morphable.expression.ArkitProjection`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr

from ddfa.data.readers import read_pts
from ddfa.io import load_image
from ddfa.morphable import layout
from ddfa.morphable.expression import ArkitProjection, eye_opening, mouth_opening
from ddfa.pipeline import FaceAligner

YTF = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ytf68"


def references(p: np.ndarray) -> dict[str, float]:
    d = lambda i, j: float(np.linalg.norm(p[i] - p[j]))  # noqa: E731
    return {"jaw": mouth_opening(p), "blink": -eye_opening(p), "smile": d(48, 54) / d(36, 45)}


def auc(score: np.ndarray, ref: np.ndarray) -> float:
    hi, lo = ref >= np.quantile(ref, 0.9), ref <= np.quantile(ref, 0.5)
    s = np.r_[score[hi], score[lo]]
    r = rankdata(s)
    n1, n0 = hi.sum(), lo.sum()
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="use every k-th frame so that at most N remain")
    args = ap.parse_args()
    paths = sorted(YTF.glob("*/*.jpg"))
    if args.limit:
        paths = paths[:: max(1, len(paths) // args.limit)]
    aligner = FaceAligner()
    model = aligner.face_model
    coeffs, refs = [], []
    for path in paths:
        pts = read_pts(path.with_suffix(".pts"))
        face = aligner.align(load_image(path), landmarks=pts)[0]
        coeffs.append(layout.exp_coeffs(face.params[None])[0])
        refs.append(references(pts))
    c = np.array(coeffs)
    names = list(model.arkit_names)
    readings = {"old": c @ model.exp_to_arkit.T, "new": ArkitProjection.load()(c)}
    pick = {"jaw": ["jawOpen"], "blink": ["eyeBlink_L", "eyeBlink_R"], "smile": ["mouthSmile_L", "mouthSmile_R"]}
    print(f"{len(paths)} ytf68 frames\n")
    print("| reading | reference | spearman old / new | AUC top 10 % vs bottom 50 % old / new "
          "| mean at bottom 50 % old / new | mean at top 10 % old / new |")
    print("|---|---|---|---|---|---|")
    for key, cols in pick.items():
        ref = np.array([r[key] for r in refs])
        row = []
        for which in ("old", "new"):
            w = readings[which][:, [names.index(n) for n in cols]].mean(1)
            row.append((spearmanr(w, ref).statistic, auc(w, ref), w[ref <= np.quantile(ref, 0.5)].mean(),
                        w[ref >= np.quantile(ref, 0.9)].mean()))
        print(f"| {'/'.join(cols)} | {key} | " + " | ".join(f"{row[0][i]:.2f} / {row[1][i]:.2f}" for i in range(4))
              + " |")
    for which, w in readings.items():
        print(f"\n{which}: negative {np.mean(w < 0):.1%}, above 1 {np.mean(w > 1):.1%}, "
              f"range [{w.min():.2f}, {w.max():.2f}]", end="")
    print()


if __name__ == "__main__":
    main()
