"""How much of a test set's error is a fixed offset per landmark: where the set *defines* its 68 points.

    python benchmarks/landmark_convention.py --weights src/ddfa/assets/mobilenet_v1_0.5.int8.onnx --upright
    [--calibrate-on ytf68] [--cache ../cache_px] [--repeats 10]

Four sets, each cropped from its ground-truth 68-point box: the held-out 300-W photos and ytf68 people of
the cache's split (human 2D annotations, the convention ddfa trains on), the menpo3d scan's 81 rendered views
(landmarks on the 3D surface, ``ddfa.eval.scan_views``) and AFLW2000-3D (a 3DMM fitted to 21 points, then
its 68 landmark vertices; also against the re-annotated points). Each face's residual (predicted minus
true, % of the ground-truth box) is turned upright by the ground truth's in-plane angle (2D Procrustes onto
the face model's mean landmarks) and grouped by the predicted yaw (left / right, |yaw| up to 30, 60, above).
Twofold cross-validation, repeated: the mean upright residual of each group and landmark in one half is
subtracted from the predictions of the other half, so no face is corrected with its own error.

Columns: NME (mean of faces; for AFLW2000-3D also its protocols' mean of yaw bins), NME after removing the
cross-validated offsets, the share removed, and the mean length of the offsets per region on faces within
30 degrees of frontal, and the landmarks with the largest of them. With ``--calibrate-on ytf68`` the same
network's points are read from vertices calibrated to the ytf68 training people's annotations. A set whose
share is large defines its points at consistent places other than where
the network puts them: a convention that more training on our labels cannot learn. Analysis only: nothing
here feeds training, and offsets measured on AFLW2000-3D are never applied to any shipped output.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_networks import split_faces  # noqa: E402

from ddfa.eval.aflw2000 import load_aflw2000  # noqa: E402
from ddfa.eval.metrics import align_scale_shift, box_size, nme, yaw_bin  # noqa: E402
from ddfa.eval.predictors import make_predictor  # noqa: E402
from ddfa.eval.scan_views import load_scan, render_scan_views  # noqa: E402
from ddfa.io import load_image  # noqa: E402
from ddfa.morphable import FaceModel  # noqa: E402
from ddfa.morphable.calibrate import calibrate_to_annotations  # noqa: E402

REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}


def upright_rotation(points: np.ndarray, model: FaceModel) -> np.ndarray:
    """(N, 68, 2) image points (y down) -> (N, 2, 2) rotations that undo each face's in-plane angle,
    the best 2D rotation of the model's mean landmarks (y flipped to point down) onto the points."""
    ref = model.mean[model.landmarks][:, :2] * (1, -1)
    ref = ref - ref.mean(0)
    p = points - points.mean(1, keepdims=True)
    dot = np.einsum("npi,pi->n", p, ref)
    cross = p[..., 1] @ ref[:, 0] - p[..., 0] @ ref[:, 1]
    t = -np.arctan2(cross, dot)
    c, s = np.cos(t), np.sin(t)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def yaw_group(yaw_deg: np.ndarray) -> np.ndarray:
    """(N,) predicted yaw -> (N,) group ids: |yaw| bin (<= 30, <= 60, above) x side."""
    return yaw_bin(yaw_deg) * 2 + (yaw_deg < 0)


def cross_validated_offsets(residual: np.ndarray, rot: np.ndarray, group: np.ndarray, repeats: int,
                            seed: int = 0) -> np.ndarray:
    """residual (N, 68, 2) in % of the box, image axes -> (N, 68, 2) the offset to subtract from each face:
    the mean upright residual of its group in the other half of a random split, averaged over repeats."""
    upright = np.einsum("nij,npj->npi", rot, residual)
    rng = np.random.default_rng(seed)
    out = np.zeros_like(residual)
    for _ in range(repeats):
        half = rng.permutation(len(residual)) % 2
        for h in (0, 1):
            for g in np.unique(group):
                fit, apply = (half != h) & (group == g), (half == h) & (group == g)
                if fit.any() and apply.any():
                    out[apply] += np.einsum("nji,pj->npi", rot[apply], upright[fit].mean(0)) / repeats
    return out


def region_offsets(off: np.ndarray) -> str:
    """(68, 2) mean upright offsets -> the mean offset length of each region, as table cells."""
    return " | ".join(f"{np.linalg.norm(off[list(idx)], axis=-1).mean():.2f}" for idx in REGIONS.values())


def mean_of_bins(pred: np.ndarray, truth: np.ndarray, keep: np.ndarray, bins: np.ndarray, align: bool) -> float:
    """AFLW2000-3D's score: the mean over the three yaw bins of the NME of the ``keep`` faces, after a
    least-squares scale and shift when ``align`` (the aligned protocol)."""
    e = nme(align_scale_shift(pred, truth) if align else pred, truth)
    return float(np.mean([e[keep & (bins == b)].mean() for b in range(3)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help=".pt or .onnx weights (network predictor)")
    ap.add_argument("--upright", action="store_true", help="the pipeline's upright pass, as the default runs")
    ap.add_argument("--cache", type=Path, default=Path("../cache_px"), help="a cache built with --ytf68 (its split)")
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--repeats", type=int, default=10, help="random twofold splits averaged")
    ap.add_argument("--calibrate-on", choices=("300w", "ytf68"),
                    help="read the points from the vertices calibrated to this source's training faces (the "
                    "cache's split; ddfa.morphable.calibrate.calibrate_to_annotations, as the bundled ones were "
                    "calibrated to all of 300-W) instead of the bundled ones")
    ap.add_argument("--top", type=int, default=6, help="list each set's largest frontal offsets (0: none)")
    args = ap.parse_args()
    model = FaceModel.load()
    if args.calibrate_on:
        train = split_faces(args.cache, args.shared, "train")[args.calibrate_on]
        ids = calibrate_to_annotations(model, np.stack([f.points for f in train]))
        print(f"landmarks calibrated to {len(train)} {args.calibrate_on} training faces: "
              f"{(ids != model.landmarks).sum()} of 68 vertices moved\n")
        model = dataclasses.replace(model, landmarks=ids)
    predictor = make_predictor("network", model, weights=args.weights, upright=args.upright)

    sets = {}  # name -> (images, gt (N, 68, 2), extra ground truths)
    for src, items in split_faces(args.cache, args.shared, "val").items():
        sets[f"held-out {src}"] = ([load_image(f.image_path) for f in items],
                                   np.stack([f.points for f in items]).astype(np.float64), {})
    views = render_scan_views(load_scan())
    sets["scan views"] = (list(views.images), views.landmarks.astype(np.float64), {})
    aflw = load_aflw2000()
    sets["AFLW2000-3D"] = ([load_image(p) for p in aflw.image_paths], aflw.points[..., :2].astype(np.float64),
                           {"re-annotated": aflw.points_re[..., :2].astype(np.float64)})

    print(f"`{args.weights}`{' with the upright pass' if args.upright else ''}; offsets cross-validated "
          f"over {args.repeats} random halves, grouped by predicted yaw and side\n")
    print("| set | faces | NME % | NME %, offsets removed | share removed | frontal offset (% of box): "
          + " | ".join(REGIONS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(REGIONS))
    largest = []
    for name, (images, gt, others) in sets.items():
        boxes = np.concatenate([gt.min(1), gt.max(1)], 1).astype(np.float32)
        pts, angles = predictor.predict_with_pose(images, boxes)
        pred = np.asarray(pts, np.float64)[..., :2]
        group, frontal = yaw_group(angles[:, 0]), np.abs(angles[:, 0]) <= 30
        for label, truth in {"": gt, **others}.items():
            size = box_size(truth)
            residual = (pred - truth) / size[:, None, None] * 100
            rot = upright_rotation(truth, model)
            fixed = pred - cross_validated_offsets(residual, rot, group, args.repeats) * size[:, None, None] / 100
            before, after = nme(pred, truth).mean(), nme(fixed, truth).mean()
            title = name + (f", {label}" if label else "")
            off = np.einsum("nij,npj->npi", rot[frontal], residual[frontal]).mean(0)
            top = np.argsort(-np.linalg.norm(off, axis=-1))[:args.top]
            largest.append(f"- {title}: " + ", ".join(f"{i} ({off[i, 0]:+.1f}, {off[i, 1]:+.1f})" for i in top))
            print(f"| {title} | {len(pred)} | {before:.2f} | {after:.2f} | {100 * (1 - after / before):.0f} % | "
                  f"{region_offsets(off)} |")
            if name == "AFLW2000-3D":
                for proto, keep, align in (("exact", aflw.exact, False), ("aligned", np.ones(len(gt), bool), True)):
                    b, a = (mean_of_bins(p, truth, keep, yaw_bin(aflw.yaw_deg), align) for p in (pred, fixed))
                    print(f"| {title}, {proto} protocol, mean of yaw bins | {keep.sum()} | {b:.2f} | {a:.2f} | "
                          f"{100 * (1 - a / b):.0f} % |" + " |" * len(REGIONS))
    if args.top:
        print("\nLargest mean offsets on faces within 30 degrees of frontal, predicted minus true, upright frame "
              "(x right, y down; % of the box), by landmark (0-based iBUG index):")
        print("\n".join(largest))


if __name__ == "__main__":
    main()
