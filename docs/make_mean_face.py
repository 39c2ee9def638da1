"""Render the mean face of the bundled model with its 68 landmarks: docs/mean_face.png.

    python docs/make_mean_face.py [-o docs/mean_face.png]
"""

import argparse
from pathlib import Path

import numpy as np

from ddfa.io import save_image
from ddfa.morphable import FaceModel, compose, layout, rotation_from_euler
from ddfa.render import draw_landmarks, render_shaded


def view(model: FaceModel, yaw: float, size: int) -> np.ndarray:
    """The mean shape at ``yaw`` degrees, shaded, landmarks drawn, in a size x size image."""
    T = compose(np.array([size / 22.0]), rotation_from_euler(yaw, 0, 0)[None], np.zeros((1, 3)))[0]
    v = model.vertices(layout.join(T[None], np.zeros((1, 50))))[0]
    v[:, 1] *= -1  # y up -> image rows down
    v[:, :2] += size / 2
    img = render_shaded(np.full((size, size, 3), 255, np.uint8), v, model.triangles, alpha=1.0)
    return draw_landmarks(img, v[model.landmarks, :2])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).with_name("mean_face.png"))
    ap.add_argument("--size", type=int, default=360)
    args = ap.parse_args()
    m = FaceModel.load()
    save_image(args.out, np.concatenate([view(m, yaw, args.size) for yaw in (0, 45, 80)], axis=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
