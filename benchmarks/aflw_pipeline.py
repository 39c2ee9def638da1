"""AFLW2000-3D end to end through ``FaceAligner.align`` (detector, crop, network, upright pass),
for pipeline option sets side by side: the accuracy check of the speed work (docs/speed.md).

Usage: python benchmarks/aflw_pipeline.py [--limit N]

Each AFLW2000-3D image is aligned as a user would (``align(image)``, the top-scoring face;
images where a pipeline finds no face are counted as its misses, and every pipeline is scored on
the images that all of them found). Prints, per option set,
the NME (%) of the four protocols of ``ddfa eval aflw2000`` (mean of the three |yaw| bins), the
misses and ms per image. Option sets: the baseline pipeline (640 px one-pass detector), the new
detector without pre-rotation, and the new default (detector + pre-rotated crops).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ddfa.detect.retinaface import BASELINE_OPTIONS, RetinaFaceDetector
from ddfa.eval.aflw2000 import PROTOCOLS, BinnedScore, iter_image_batches, load_aflw2000
from ddfa.eval.metrics import align_scale_shift, box_size, nme, yaw_bin
from ddfa.pipeline import FaceAligner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    data = load_aflw2000()
    if args.limit:
        data = data.subset(slice(0, args.limit))
    configs = {
        "baseline (640 px one pass, no pre-rotation)": FaceAligner(
            detector=RetinaFaceDetector(**BASELINE_OPTIONS), prerotate=False),
        "new detector, no pre-rotation": FaceAligner(prerotate=False),
        "new default (new detector, pre-rotation)": FaceAligner(),
    }
    n = len(data)
    pred = {k: np.full((n, 68, 2), np.nan) for k in configs}
    seconds = dict.fromkeys(configs, 0.0)
    i = 0
    for images in iter_image_batches(data.image_paths, 64):
        for im in images:
            for name, aligner in configs.items():
                t = time.perf_counter()
                faces = aligner.align(im)
                seconds[name] += time.perf_counter() - t
                if faces:
                    pred[name][i] = faces[0].landmarks[:, :2]
            i += 1
    common = np.all([np.isfinite(p[:, 0, 0]) for p in pred.values()], axis=0)  # found by every option set
    bins = yaw_bin(data.yaw_deg)
    norm, norm_re = box_size(data.points), box_size(data.points_re)
    print(f"AFLW2000-3D, {n} images, align(image) end to end; NME % (mean of |yaw| bins) on the "
          f"{common.sum()} images where every pipeline found a face\n")
    print("| pipeline | " + " | ".join(PROTOCOLS) + " | misses | ms/image |")
    print("|---|" + "---:|" * (len(PROTOCOLS) + 2))
    for name, p in pred.items():
        per = {"nme": nme(p, data.points, norm),
               "nme_aligned": nme(align_scale_shift(p, data.points), data.points, norm),
               "nme_re": nme(p, data.points_re, norm_re),
               "nme_aligned_re": nme(align_scale_shift(p, data.points_re), data.points_re, norm_re)}
        cells = []
        for key, proto in PROTOCOLS.items():
            include = (data.exact if proto.exact_only else np.ones(n, bool)) & common
            cells.append(f"{BinnedScore.of(per[proto.key], bins, include).mean_of_bins:.3f}")
        misses = int(np.isnan(p[:, 0, 0]).sum())
        print(f"| {name} | " + " | ".join(cells) + f" | {misses} | {1e3 * seconds[name] / n:.1f} |")


if __name__ == "__main__":
    main()
