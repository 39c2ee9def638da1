"""How well can the face model itself express the AFLW2000-3D ground truth? (a representation floor)

    python benchmarks/aflw_fit_floor.py [--aflw ../shared/data/aflw2000-3d]

Fits the shipped face model directly to each crop's ground-truth 68 points (2D, original
annotation) and reports the NME of the best fit by |yaw| bin, on the exact (199) and all
(1,083) crops. No network and no training is involved: this measures what the 3DMM, its
68 landmark vertices and the fitter can reach at best, i.e. a lower bound for any
regressor of our 62 parameters. Rows: landmarks on fixed vertices (AFLW2000-3D's own
definition, what the network outputs), and the jaw moved to the silhouette (300-W's).
"""

import argparse
from pathlib import Path

import numpy as np

from ddfa.eval.metrics import YAW_BINS, yaw_bin
from ddfa.morphable import FaceModel
from ddfa.morphable.fit import CONTOUR_POINTS, LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks


class FixedVertexFitter(LandmarkFitter):
    """The fitter with the jaw kept on its fixed landmark vertices (no silhouette search)."""

    def _silhouette(self, a, s, R):
        return np.broadcast_to(self.model.landmarks[CONTOUR_POINTS], (a.shape[0], len(CONTOUR_POINTS)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aflw", type=Path, default=Path("../shared/data/aflw2000-3d"))
    args = ap.parse_args()
    with np.load(args.aflw / "aflw2000_3d.npz") as z:
        pts, yaw, exact = z["pts68"][:, :2].transpose(0, 2, 1), z["yaw_deg"], z["exact"]
    targets = image_to_vertex(pts, np.stack([roi_from_landmarks(p).affine() for p in pts]))
    model = FaceModel.load()
    bins = yaw_bin(yaw)
    print("| fit (NME %, bins " + " / ".join(YAW_BINS) + " -> mean of bins) | exact (199) | all (1,083) |")
    print("|---|---|---|")
    for name, fitter in (("fixed landmark vertices (AFLW2000-3D's definition)", FixedVertexFitter(model)),
                         ("jaw on the silhouette (300-W's definition)", LandmarkFitter(model))):
        err = fitter.fit(targets).error * 100
        cells = []
        for subset in (exact, np.ones_like(exact)):
            means = [err[subset & (bins == b)].mean() for b in range(3)]
            cells.append(" / ".join(f"{m:.2f}" for m in means) + f" -> **{np.mean(means):.2f}**")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
