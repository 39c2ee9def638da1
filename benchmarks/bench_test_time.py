"""What the test-time options cost: the image pipeline with and without the upright pass and the
flip test, measured in one run (ratios to the one-pass pipeline, because machines are noisy).

    python benchmarks/bench_test_time.py [--images DIR] [--repeats 5] [--threads 1]

The faces of ../shared/data/media/images are detected once; then each configuration aligns every
photo from those boxes (crop, regression, landmarks; no detection) ``--repeats`` times after a
warm-up. The table gives the median milliseconds for the folder and the ratio to one pass; the
header counts the faces the upright pass turns (their first-pass in-plane angle is past the start
of its ramp).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ddfa.io import iter_image_paths, load_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.crop import crop_faces
from ddfa.pipeline.regressor import UprightRegressor, in_plane_angle

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CONFIGS = {"one pass": {"upright": False}, "upright": {"upright": True},
           "flip test": {"upright": False, "flip_test": True}, "upright + flip test": {"upright": True, "flip_test": True}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DATA / "media" / "images")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    images = [load_image(p) for p in iter_image_paths(args.images)]
    aligners = {name: FaceAligner(threads=args.threads, **kw) for name, kw in CONFIGS.items()}
    plain = aligners["one pass"]
    upright = aligners["upright"].regressor
    if not isinstance(upright, UprightRegressor):
        raise SystemExit("FaceAligner(upright=True) no longer wraps an UprightRegressor")
    # detect once and hand every configuration the same boxes, so only the regression differs
    boxes, faces, turned = [], 0, 0
    for im in images:
        found = plain.align(im)
        boxes.append(np.array([f.box for f in found]).reshape(-1, 4))
        if found:
            crops, _ = crop_faces(im, [f.roi for f in found])
            faces += len(found)
            turned += int((upright.weight(in_plane_angle(plain.regressor(crops))) > 0).sum())
    times = {name: [] for name in CONFIGS}
    for r in range(args.repeats + 1):
        for name, aligner in aligners.items():
            t = time.perf_counter()
            for im, b in zip(images, boxes):
                if len(b):
                    aligner.align(im, boxes=b)
            if r:  # the first round warms up
                times[name].append((time.perf_counter() - t) * 1000)
    base = np.median(times["one pass"])
    print(f"{len(images)} photos, {faces} faces (boxes from one detection pass), {args.threads} thread(s); "
          f"the upright pass turned {turned} of {faces} faces\n")
    print("| pipeline (given boxes) | ms for the folder (median) | vs one pass |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {np.median(t):.1f} | {np.median(t) / base:.2f}x |")


if __name__ == "__main__":
    main()
