"""Pipeline options on held-out photos, to choose by (the counterpart of ``aflw_pipeline.py``, which only measures).

    python benchmarks/held_out_pipeline.py [--cache ../cache_ytf] [--n 400] [--precision int8]

The held-out faces are the cache's validation split (``ddfa data build``: 300-W photos and ytf68 people
never trained on, up to ``--n`` per source, evenly spaced), read as whole images with their annotated
68 points. Each is detected once with the default detector and matched to its annotation
(``ddfa.pipeline.crop.match_detection``; faces the detector misses are left out of every row). Each
row then crops, regresses and decodes that face as ``FaceAligner.align`` does, with one option
changed; it prints the 68-point NME (% of the annotated box) per source, their mean, and the network
crops per face (the upright pass's extra runs included), all in one run:

- default: the detector's box, turned upright by the eye line when it tilts past 5 degrees, upright pass;
- eye-line turn from A degrees (``--turn-from``): the same with another threshold (0: every face);
- no eye-line turn: the upright pass alone handles tilted heads;
- + landmark re-crop: a second regression cropped from the first one's 68 points (as video tracking
  crops from the last frame), every face;
- upright pass (min_roll, ramp, passes) (``--upright``): other settings of the upright pass;
- annotated-landmark crop: the crop of the annotated points (as ``ddfa eval aflw2000 --boxes gt``), for
  reference, with and without the landmark re-crop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_networks import held_out_faces  # noqa: E402

from ddfa.eval.metrics import nme  # noqa: E402
from ddfa.io import load_image  # noqa: E402
from ddfa.morphable.frames import roi_from_landmarks  # noqa: E402
from ddfa.pipeline import FaceAligner  # noqa: E402
from ddfa.pipeline.crop import eye_turns, match_detection, roi_from_box  # noqa: E402
from ddfa.pipeline.face import build_faces  # noqa: E402
from ddfa.pipeline.regressor import UprightRegressor  # noqa: E402


class Counting:
    """Wraps a regressor and counts the crops it is given."""

    def __init__(self, regressor) -> None:
        self.regressor, self.crops = regressor, 0

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.crops += len(crops)
        return self.regressor(crops)


def landmarks(aligner: FaceAligner, image, roi, box, turns=None, recrop: bool = False) -> np.ndarray:
    """(68, 2) image-frame landmarks of one face as ``align`` decodes them, optionally re-cropped once."""
    params = aligner.regress(image, [roi], turns)
    face = build_faces(aligner.face_model, params, [roi], box[None], np.ones(1, np.float32))[0]
    if recrop:
        roi = roi_from_landmarks(face.landmarks)
        params = aligner.regress(image, [roi])
        face = build_faces(aligner.face_model, params, [roi], box[None], np.ones(1, np.float32))[0]
    return face.landmarks[:, :2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("../cache_ytf"))
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"), help="where 300w/ and ytf68/ are")
    ap.add_argument("--n", type=int, default=400, help="held-out faces per source (default: %(default)s)")
    ap.add_argument("--precision", default=None, help="FaceAligner precision (default: the photo default, int8)")
    ap.add_argument("--turn-from", type=float, nargs="*", default=[0.0, 2.0], metavar="A")
    ap.add_argument("--upright", type=float, nargs=3, action="append", default=None,
                    metavar=("MIN_ROLL", "RAMP", "PASSES"))
    args = ap.parse_args()

    aligner = FaceAligner(precision=args.precision)
    default_upright = aligner.regressor
    counter = Counting(default_upright.regressor)
    default_upright.regressor = counter
    faces = []
    for item in held_out_faces(args.cache, args.shared, args.n):
        image = load_image(item.image_path)
        det = match_detection(aligner.detect(image), item.points)
        if det is not None:
            source = "ytf68" if item.image_path.is_relative_to(args.shared / "ytf68") else "300w"
            faces.append((source, image, det, item.points.astype(np.float64)))
    sources = np.array([f[0] for f in faces])

    def default(im, d, gt):
        return landmarks(aligner, im, roi_from_box(d.box), d.box, eye_turns([d]))

    rows = {
        "default (eye-line turn from 5°, upright pass)": default,
        **{f"eye-line turn from {a:g}°": (lambda im, d, gt, a=a: landmarks(
            aligner, im, roi_from_box(d.box), d.box, eye_turns([d], min_angle=a))) for a in args.turn_from},
        "no eye-line turn": lambda im, d, gt: landmarks(aligner, im, roi_from_box(d.box), d.box),
        "default + landmark re-crop": lambda im, d, gt: landmarks(
            aligner, im, roi_from_box(d.box), d.box, eye_turns([d]), recrop=True),
        "annotated-landmark crop": lambda im, d, gt: landmarks(aligner, im, roi_from_landmarks(gt), d.box),
        "annotated-landmark crop + re-crop": lambda im, d, gt: landmarks(
            aligner, im, roi_from_landmarks(gt), d.box, recrop=True),
    }
    uprights = {f"upright pass ({m:g}, {r:g}, {int(p)})": UprightRegressor(counter, aligner.face_model, m, int(p), r)
                for m, r, p in (args.upright or [])}
    rows.update(dict.fromkeys(uprights, default))  # the default row with another upright pass

    counts = ", ".join(f"{(sources == s).sum()} {s}" for s in ("300w", "ytf68"))
    print(f"{len(faces)} held-out faces found by the detector ({counts}); NME % of the annotated box; "
          f"precision {args.precision or 'default'}\n")
    print("| option | held 300-W | held ytf68 | mean | network crops per face |")
    print("|---|---:|---:|---:|---:|")
    for name, fn in rows.items():
        aligner.regressor = uprights.get(name, default_upright)
        counter.crops = 0
        err = np.array([nme(fn(image, det, gt), gt) for _, image, det, gt in faces])
        by = [err[sources == s].mean() for s in ("300w", "ytf68")]
        print(f"| {name} | {by[0]:.3f} | {by[1]:.3f} | {np.mean(by):.3f} | {counter.crops / len(faces):.3f} |")


if __name__ == "__main__":
    main()
