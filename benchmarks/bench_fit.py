"""Landmark-fitting quality and speed on all 300-W faces, for the expression-basis choices.

    python benchmarks/bench_fit.py [--w300 ../shared/data/300w] [--ict ../shared/data/ict-face-model]

Rows: the shipped model (calibrated landmarks, PCA expressions); the same with ICT's
original landmark vertices; and ICT landmarks with 10 hand-picked ARKit shapes
instead of the PCA basis. Error = mean point-to-point distance / sqrt(w*h) of the
annotation box, in %.
"""

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from ddfa.data.readers import read_300w
from ddfa.morphable import FaceModel, layout
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks

SUBSET = ("jawOpen", "mouthSmile_L", "mouthSmile_R", "mouthPucker", "mouthStretch_L", "mouthStretch_R",
          "browInnerUp_L", "browInnerUp_R", "eyeBlink_L", "eyeBlink_R")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--w300", type=Path, default=Path("../shared/data/300w"))
    ap.add_argument("--ict", type=Path, default=Path("../shared/data/ict-face-model"))
    args = ap.parse_args()
    items = read_300w(args.w300)
    pts = np.stack([it.points for it in items])
    targets = image_to_vertex(pts, np.stack([roi_from_landmarks(p).affine() for p in pts]))

    shipped = FaceModel.load()
    ict = np.load(args.ict / "ict_face_model_light.npz")
    names = list(ict["expression_names"])
    original = dataclasses.replace(shipped, landmarks=ict["landmarks_68"].astype(np.int32))
    n = shipped.n_vertices
    subset = ict["expression_modes"][[names.index(s) for s in SUBSET], :n].reshape(len(SUBSET), -1)
    hand_picked = dataclasses.replace(original, basis=np.concatenate([shipped.basis[:layout.N_ID], subset]))
    calibrated_hand_picked = dataclasses.replace(hand_picked, landmarks=shipped.landmarks)
    # how much of all 53 moving ARKit shapes each 10-d expression basis can express
    shapes = ict["expression_modes"][[names.index(s) for s in shipped.arkit_names], :n].reshape(len(shipped.arkit_names), -1)
    spans = {}
    for key, basis in (("pca", shipped.basis[layout.N_ID:]), ("subset", subset)):
        q, _ = np.linalg.qr(basis.T.astype(np.float64))
        spans[key] = 1 - np.linalg.norm(shapes.T - q @ (q.T @ shapes.T)) ** 2 / np.linalg.norm(shapes) ** 2

    print(f"{len(items)} faces\n")
    print("| model | mean % | median % | 95th pct % | RMS coefficient | s |\n|---|---|---|---|---|---|")
    for name, model in [("calibrated landmarks, PCA expressions (shipped)", shipped),
                        ("ICT landmarks, PCA expressions", original),
                        ("ICT landmarks, 10 hand-picked ARKit shapes", hand_picked),
                        ("calibrated landmarks, 10 hand-picked ARKit shapes", calibrated_hand_picked)]:
        t = time.perf_counter()
        fit = LandmarkFitter(model).fit(targets)
        dt = time.perf_counter() - t
        e = fit.error * 100
        rms = np.sqrt((layout.shape_coeffs(fit.params) ** 2).mean())
        print(f"| {name} | {e.mean():.2f} | {np.median(e):.2f} | {np.percentile(e, 95):.2f} | {rms:.2f} | {dt:.1f} |")
    print(f"\nenergy of all 53 moving ARKit shapes inside the 10-d span: PCA {spans['pca']:.1%}, "
          f"hand-picked {spans['subset']:.1%}")


if __name__ == "__main__":
    main()

