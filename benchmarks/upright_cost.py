"""Cost and accuracy of cheaper upright-pass settings on AFLW2000-3D (ground-truth boxes).

Usage: python benchmarks/upright_cost.py [--weights src/ddfa/assets/mobilenet_v1_0.5.pt]

For each (min_roll, ramp, passes) of :class:`ddfa.pipeline.regressor.UprightRegressor` prints the
network crops per face and the NME (%) of the exact, aligned and exact re-annotated protocols (mean
of |yaw| bins). The first row is the shipped setting; the others need fewer network runs.
"""

from __future__ import annotations

import argparse

from ddfa.eval.aflw2000 import evaluate_aflw2000, load_aflw2000
from ddfa.eval.predictors import make_predictor
from ddfa.morphable import FaceModel
from ddfa.pipeline.regressor import UprightRegressor

SETTINGS = [(10, 10, 2), (10, 10, 1), (12, 6, 2), (12, 6, 1), (8, 6, 1), (15, 10, 2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="src/ddfa/assets/mobilenet_v1_0.5.pt")
    args = ap.parse_args()
    model, data = FaceModel.load(), load_aflw2000()
    print("| min_roll | ramp | passes | crops per face | exact | aligned | exact-re |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for min_roll, ramp, passes in SETTINGS:
        predictor = make_predictor("network", model, args.weights)
        net, crops = predictor.regress, [0]

        def counting(batch, net=net, crops=crops):
            crops[0] += len(batch)
            return net(batch)

        predictor.regress = UprightRegressor(counting, model, min_roll=min_roll, passes=passes, ramp=ramp)
        nme = evaluate_aflw2000(predictor, data, progress=False).nme
        print(f"| {min_roll} | {ramp} | {passes} | {crops[0] / len(data):.3f} | "
              + " | ".join(f"{nme[p].mean_of_bins:.3f}" for p in ("exact", "aligned", "exact-re")) + " |")


if __name__ == "__main__":
    main()
