"""Does ``jawOpen`` follow the mouth? Each network's reading against the annotated mouth opening.

    python benchmarks/expression_jaw.py NAME=WEIGHTS [NAME=WEIGHTS ...]   # WEIGHTS: .pt, .onnx or a bundled model name

The ytf68 frames of ``tests/test_expression.py`` (every 20th, 212 frames), each cropped from its annotated
points. The reference is the inner-mouth aspect ratio of the annotation (mean of the three lip gaps over the
mouth width). Columns: the mean ``jawOpen`` of the closed half and of the widest-open tenth, the AUC of the
two (the chance that a wide-open frame reads higher than a closed one, ties counted half; the test asks
for > 0.7), the share of frames that read exactly 0 and the correlation over all frames.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_expression import auc  # noqa: E402

from ddfa.data.readers import read_pts  # noqa: E402
from ddfa.io import load_image  # noqa: E402
from ddfa.morphable.expression import mouth_opening  # noqa: E402
from ddfa.pipeline import FaceAligner  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+", metavar="NAME=WEIGHTS")
    ap.add_argument("--ytf68", type=Path, default=Path("../shared/data/ytf68"))
    args = ap.parse_args()
    paths = sorted(args.ytf68.glob("*/*.jpg"))[::20]
    frames = [(load_image(p), read_pts(p.with_suffix(".pts"))) for p in paths]
    mar = mouth_opening(np.stack([p for _, p in frames]))
    closed, wide = mar <= np.quantile(mar, 0.5), mar >= np.quantile(mar, 0.9)
    print(f"{len(frames)} ytf68 frames; closed half {closed.sum()}, widest tenth {wide.sum()}\n")
    print("| weights | jawOpen, closed | jawOpen, wide | AUC | reads 0 | correlation |")
    print("|---|---:|---:|---:|---:|---:|")
    for cand in args.candidates:
        name, w = cand.split("=", 1)
        aligner = FaceAligner(weights=w) if w.endswith((".pt", ".onnx")) else FaceAligner(model=w)
        jaw = np.array([aligner.align(im, landmarks=p)[0].expression["jawOpen"] for im, p in frames])
        print(f"| {name} | {jaw[closed].mean():.3f} | {jaw[wide].mean():.3f} | {auc(jaw, mar):.2f} | "
              f"{np.mean(jaw == 0):.2f} | {np.corrcoef(mar, jaw)[0, 1]:.2f} |")


if __name__ == "__main__":
    main()
