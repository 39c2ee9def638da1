"""Benchmark the image pipeline stage by stage: torch vs ONNX Runtime, 1 and 2 threads.

Usage: python benchmarks/bench_pipeline.py [--images DIR] [--repeats 5] [--threads 1 2]
                                           [--weights X.pt | --untrained WIDTH]

Prints a markdown table of median milliseconds per image for every stage
(see :mod:`ddfa.pipeline.bench`) on ../shared/data/media/images. Uses the
bundled weights by default. Before they exist, ``--untrained 1.0`` times a
randomly initialised MobileNetV1 of that width (same cost as the trained one)
whose normaliser mean is the mean 300-W fit, so every stage sees a plausible face.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from ddfa.io import iter_image_paths
from ddfa.pipeline.bench import benchmark, format_table

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def untrained_checkpoint(path: Path, width: float) -> Path:
    """Random MobileNetV1 of ``width`` with the mean 300-W parameters as its normaliser mean."""
    import torch

    from ddfa.data.readers import read_300w
    from ddfa.morphable import FaceModel, Normalizer
    from ddfa.morphable.fit import LandmarkFitter
    from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks
    from ddfa.nets import create_model
    from ddfa.nets.checkpoint import save_checkpoint

    items = read_300w(DATA / "300w")[::30]
    affines = np.stack([roi_from_landmarks(it.points).affine() for it in items])
    params = LandmarkFitter(FaceModel.load()).fit(image_to_vertex(np.stack([it.points for it in items]), affines))
    torch.manual_seed(0)
    norm = Normalizer(params.params.mean(0).astype(np.float32), np.ones(62, np.float32))
    return save_checkpoint(path, create_model("mobilenet_v1", width=width), norm, "mobilenet_v1", {"width": width})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=DATA / "media" / "images")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"])
    ap.add_argument("--model", default="mobilenet_v1_0.5")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--weights", type=Path, default=None)
    group.add_argument("--untrained", type=float, default=None, metavar="WIDTH")
    args = ap.parse_args()

    paths = iter_image_paths(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DDFA_CACHE_DIR", tmp)  # keep temporary ONNX exports out of the user cache
        weights = args.weights
        if args.untrained is not None:
            weights = untrained_checkpoint(Path(tmp) / f"untrained_{args.untrained}.pt", args.untrained)
        results = [benchmark(paths, backend, threads, args.repeats, model=args.model, weights=weights)
                   for backend in args.backends for threads in args.threads]
    label = f"untrained width {args.untrained}" if args.untrained is not None else (args.weights or args.model)
    print(f"{len(paths)} images ({results[0].faces} faces), {args.repeats} repeats, {os.cpu_count()} CPUs, "
          f"weights: {label}")
    print(format_table(results))


if __name__ == "__main__":
    main()
