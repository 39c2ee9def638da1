"""Where the AFLW2000-3D error comes from: head roll and pitch, and per-region offsets.

    ddfa eval aflw2000 --predictor network --weights W.pt -o OUT
    python benchmarks/aflw_error_sources.py OUT/per_image.npz [OTHER/per_image.npz ...]

The eval's per-image landmarks are compared with the original ground truth. The head pose
of each ground-truth face is estimated by rotating the face model's mean 68 landmarks onto
its 3D points (Procrustes, our model's frame; pitch > 0 = nose down, roll > 0 = counter-
clockwise). Tables: the share of crops and the NME (%) by |roll| and by |pitch| bin, and the
mean signed offset (% of the box; y down) of each landmark region on near-frontal crops,
where a non-zero mean is a systematic bias rather than noise. Analysis only: nothing here
feeds training.
"""

import argparse
from pathlib import Path

import numpy as np

from ddfa.eval.aflw2000 import load_aflw2000
from ddfa.eval.metrics import box_size
from ddfa.morphable import FaceModel, euler_from_pose_matrix

REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}
POSE_BINS = ((0, 10), (10, 20), (20, 30), (30, 360))


def ground_truth_pose(points3d: np.ndarray, model: FaceModel) -> np.ndarray:
    """(N, 68, 3) image-frame 3D points -> (N, 3) yaw, pitch, roll degrees of the best rotation of the
    model's mean landmarks onto them (image y down becomes the model's y up)."""
    src = model.mean[model.landmarks].astype(np.float64)
    src = src - src.mean(0)
    dst = points3d.astype(np.float64) * (1, -1, 1)
    dst = dst - dst.mean(1, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("npi,pj->nij", dst, src))
    d = np.sign(np.linalg.det(u @ vt))
    R = u @ (np.eye(3) * np.stack([np.ones_like(d), np.ones_like(d), d], -1)[:, None]) @ vt
    return euler_from_pose_matrix(np.concatenate([R, np.zeros((len(R), 3, 1))], 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("per_image", type=Path, nargs="+", help="per_image.npz files written by ddfa eval aflw2000")
    args = ap.parse_args()
    data, model = load_aflw2000(), FaceModel.load()
    gt = data.points[..., :2].astype(np.float64)
    yaw, pitch, roll = ground_truth_pose(data.points, model).T
    norm = box_size(data.points)[:, None, None]
    runs = []
    for path in args.per_image:
        with np.load(path) as z:
            if list(z["names"]) != list(data.names):
                raise SystemExit(f"{path}: not a full AFLW2000-3D run with ground-truth boxes")
            runs.append((z["landmarks"][..., :2] - gt) / norm * 100)
    print(f"{len(gt)} crops; ground-truth pitch mean {pitch.mean():+.1f} sd {pitch.std():.1f}, "
          f"roll mean {roll.mean():+.1f} sd {roll.std():.1f} degrees\n")
    for label, angle in (("|roll|", np.abs(roll)), ("|pitch|", np.abs(pitch))):
        print(f"| {label} (deg) | share | " + " | ".join(f"NME % ({p.parent.name})" for p in args.per_image) + " |")
        print("|---|---|" + "---|" * len(runs))
        for lo, hi in POSE_BINS:
            m = (angle >= lo) & (angle < hi)
            cells = " | ".join(f"{np.linalg.norm(d[m], axis=-1).mean():.2f}" for d in runs)
            print(f"| {lo}-{hi if hi < 360 else ''} | {m.mean() * 100:.0f} % | {cells} |")
        print()
    frontal = np.abs(data.yaw_deg) <= 30
    print("| region (|yaw| <= 30) | " + " | ".join(f"NME / mean offset x, y ({p.parent.name})" for p in args.per_image)
          + " |")
    print("|---|" + "---|" * len(runs))
    for name, idx in REGIONS.items():
        cells = []
        for d in runs:
            r = d[frontal][:, list(idx)]
            cells.append(f"{np.linalg.norm(r, axis=-1).mean():.2f} / {r[..., 0].mean():+.2f}, {r[..., 1].mean():+.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
