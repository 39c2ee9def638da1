"""Mean offset of predicted from annotated landmarks on held-out faces, in pixels, by face size.

    python benchmarks/annotation_offset.py NAME=WEIGHTS [NAME=WEIGHTS ...] [--cache ../cache_px]

The held-out faces of the cache's validation split (300-W photos and ytf68 people,
``compare_networks.held_out_faces``), cropped from their annotated 68-point box, one network pass.
Per source and face-size tercile (the geometric mean of the 68-point box's sides): the mean of
``predicted - annotated`` over faces and points, x and y in image pixels and x in % of the box.

What it shows: an offset that stays the same number of pixels at every face size is a coordinate
convention, not an error of the face model or of the crop (those scale with the face). A network
trained on labels whose mirror half sits 2 px off the other half in x (``.pts`` files read as if
they counted pixels from 0 while they count from 1, and mirrored with ``x -> W - 1 - x``) learns
the average, and sits about 1 px left of the annotations (docs/training.md, "Pixel convention").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_networks import held_out_faces  # noqa: E402

from ddfa.eval.predictors import make_predictor  # noqa: E402
from ddfa.io import load_image  # noqa: E402
from ddfa.morphable import FaceModel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("candidates", nargs="+", metavar="NAME=WEIGHTS", help=".pt or .onnx weights")
    ap.add_argument("--cache", type=Path, default=Path("../cache_px"), help="a cache built with --ytf68 (its split)")
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    args = ap.parse_args()
    faces = held_out_faces(args.cache, args.shared, 10_000)
    model = FaceModel.load()
    sources = {src: [f for f in faces if f.subset.startswith("ytf68") == (src == "ytf68")] for src in ("300w", "ytf68")}
    print("| weights | source | faces | box (px) | dx (px) | dy (px) | dx (% of box) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for cand in args.candidates:
        name, path = cand.split("=", 1)
        predictor = make_predictor("network", model, weights=path)
        for src, items in sources.items():
            if not items:
                continue
            gt = np.stack([f.points for f in items]).astype(np.float64)
            boxes = np.concatenate([gt.min(1), gt.max(1)], 1)
            pred = np.asarray(predictor.predict([load_image(f.image_path) for f in items], boxes), np.float64)
            offset = (pred[..., :2] - gt).mean(1)  # (N, 2) px
            span = gt.max(1) - gt.min(1)
            size = np.sqrt(span[:, 0] * span[:, 1])
            edges = np.quantile(size, [0, 1 / 3, 2 / 3, 1])
            tercile = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, 2)
            for t in range(3):
                s = tercile == t
                print(f"| {name} | {src} | {s.sum()} | {size[s].mean():.0f} | {offset[s, 0].mean():+.2f} | "
                      f"{offset[s, 1].mean():+.2f} | {100 * (offset[s, 0] / size[s]).mean():+.2f} |")


if __name__ == "__main__":
    main()
