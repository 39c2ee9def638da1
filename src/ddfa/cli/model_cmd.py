"""``ddfa model build``: derive the bundled face model from the ICT Face Model Light."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

DEFAULT_SOURCE = Path("../shared/data/ict-face-model")
DEFAULT_300W = Path("../shared/data/300w")


def register(sub) -> None:
    p = sub.add_parser("model", help="build or inspect the face model")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    b = msub.add_parser(
        "build",
        help="derive the compact face model asset from the ICT Face Model Light",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  ddfa model build --source ../shared/data/ict-face-model "
        "--calibrate ../shared/data/300w -o src/ddfa/assets/face_model.npz",
    )
    b.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="ICT Face Model folder (default: %(default)s)")
    b.add_argument("--calibrate", type=Path, default=DEFAULT_300W,
                   help="300-W folder used to re-choose the landmark vertices (default: %(default)s); "
                   "pass 'none' to keep the ICT landmarks")
    b.add_argument("-o", "--out", type=Path, default=None, help="output .npz (default: the package's bundled asset)")
    b.set_defaults(run=_build)
    i = msub.add_parser("info", help="print a summary of the bundled (or a given) face model")
    i.add_argument("path", nargs="?", type=Path, default=None)
    i.set_defaults(run=_info)


def _build(args) -> int:
    from ddfa.morphable.build import build_face_model

    out = args.out or Path(str(resources.files("ddfa.assets") / "face_model.npz"))
    calib = None if str(args.calibrate).lower() == "none" else args.calibrate
    path = build_face_model(args.source, out, calibrate_with=calib)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _info(args) -> int:
    from ddfa.morphable import FaceModel

    m = FaceModel.load(args.path)
    print(f"vertices {m.n_vertices}, triangles {len(m.triangles)}, coefficients {m.basis.shape[0]}")
    for k, v in m.meta.items():
        print(f"{k}: {v}")
    return 0
