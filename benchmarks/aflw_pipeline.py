"""AFLW2000-3D end to end through ``FaceAligner.align`` (detector, crop, network, upright pass),
for pipeline option sets side by side: the accuracy check of the speed work (docs/speed.md).

Usage: python benchmarks/aflw_pipeline.py [--limit N] [--scale S] [--rotate DEG]

``--scale`` / ``--rotate`` enlarge and turn each image (about its centre, on a canvas that holds it
whole) before alignment, to test the detector's resolution policy on bigger photos and tilted heads;
predictions are mapped back to the original pixels and scored against the original labels.

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

import cv2
import numpy as np

from ddfa.detect.retinaface import BASELINE_OPTIONS, RetinaFaceDetector
from ddfa.eval.aflw2000 import PROTOCOLS, BinnedScore, iter_image_batches, load_aflw2000
from ddfa.eval.metrics import align_scale_shift, box_size, nme, yaw_bin
from ddfa.pipeline import FaceAligner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--scale", type=float, default=1.0, help="enlarge each image by this factor (default 1)")
    ap.add_argument("--rotate", type=float, default=0.0, help="turn each image by this many degrees (default 0)")
    args = ap.parse_args()
    data = load_aflw2000()
    if args.limit:
        data = data.subset(slice(0, args.limit))
    configs = {
        "baseline (640 px one pass, no pre-rotation)": FaceAligner(
            detector=RetinaFaceDetector(**BASELINE_OPTIONS), prerotate=False),
        "new detector, no pre-rotation": FaceAligner(prerotate=False),
        "new default (new detector, pre-rotation)": FaceAligner(),
        "new detector at 640 px, no pre-rotation": FaceAligner(det_size=640, prerotate=False),
        "new detector at 640 px, pre-rotation": FaceAligner(det_size=640),
    }
    n = len(data)
    pred = {k: np.full((n, 68, 2), np.nan) for k in configs}
    seconds = dict.fromkeys(configs, 0.0)
    i = 0
    for images in iter_image_batches(data.image_paths, 64):
        for im in images:
            im, back = _enlarge_and_turn(im, args.scale, args.rotate)
            for name, aligner in configs.items():
                t = time.perf_counter()
                faces = aligner.align(im)
                seconds[name] += time.perf_counter() - t
                if faces:
                    pred[name][i] = faces[0].landmarks[:, :2] @ back[:, :2].T + back[:, 2]
            i += 1
    common = np.all([np.isfinite(p[:, 0, 0]) for p in pred.values()], axis=0)  # found by every option set
    bins = yaw_bin(data.yaw_deg)
    norm, norm_re = box_size(data.points), box_size(data.points_re)
    print(f"AFLW2000-3D, {n} images x{args.scale:g} turned {args.rotate:g} deg, align(image) end to end; "
          f"NME % (mean of |yaw| bins) on the {common.sum()} images where every pipeline found a face\n")
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


def _enlarge_and_turn(image: np.ndarray, scale: float, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale and turn ``image`` about its centre onto a canvas holding it whole -> (new image,
    float64 (2, 3) map from new pixels back to the original's)."""
    if scale == 1 and degrees == 0:
        return image, np.array([[1.0, 0, 0], [0, 1.0, 0]])
    h, w = image.shape[:2]
    c, s_ = abs(np.cos(np.radians(degrees))), abs(np.sin(np.radians(degrees)))
    W, H = int(np.ceil(scale * (w * c + h * s_))), int(np.ceil(scale * (w * s_ + h * c)))
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, scale)
    M[:, 2] += [(W - w) / 2, (H - h) / 2]
    return cv2.warpAffine(image, M, (W, H), flags=cv2.INTER_LINEAR), cv2.invertAffineTransform(M)


if __name__ == "__main__":
    main()
