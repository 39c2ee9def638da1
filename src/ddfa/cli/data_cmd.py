"""``ddfa data``: build the profiled training cache and draw a profiling contact sheet."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_300W = Path("../shared/data/300w")
# five near-frontal 300-W faces of varied look, lighting and background, and one turned face
SHEET_FACES = ("helen-train/1018882799_1", "afw/2406586388_3", "helen-train/1163855977_1",
               "helen-test/2988554491_1", "helen-train/1012675629_1", "afw/255360810_1")


def register(sub) -> None:
    p = sub.add_parser("data", help="build training data")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = dsub.add_parser(
        "build",
        help="fit, profile and flip the 300-W faces into a training cache",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ddfa data build --out /work/cache --w300 ../shared/data/300w --workers 2\n"
        "  ddfa data build --out /work/cache_ytf --ytf68 ../shared/data/ytf68   # 300-W + ytf68 video frames\n\n"
        "Resumable: rerun the same command after an interruption; finished faces are skipped.",
    )
    b.add_argument("--out", type=Path, required=True, help="cache folder (created; keep it outside the repository)")
    b.add_argument("--w300", type=Path, default=DEFAULT_300W, help="300-W folder (default: %(default)s)")
    b.add_argument("--ytf68", type=Path, default=None,
                   help="also add the ytf68 video frames of this folder (split by person)")
    b.add_argument("--per-face", type=int, default=14, help="profiled views per face, each also flipped (default: 14)")
    b.add_argument("--ytf68-views", type=int, default=4,
                   help="profiled views per ytf68 frame, each also flipped (default: 4)")
    b.add_argument("--ytf68-landmarks", choices=("300w", "own"), default="300w",
                   help="fit ytf68's frames with the bundled landmark vertices (calibrated to 300-W's annotations) "
                   "or with vertices calibrated to ytf68's own training people, whose annotations follow "
                   "another definition (default: %(default)s)")
    b.add_argument("--workers", type=int, default=2, help="worker processes; 0 = in this process (default: 2)")
    b.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    b.add_argument("--val-fraction", type=float, default=0.06,
                   help="fraction of source photos held out for validation (default: 0.06)")
    b.add_argument("--max-pitch", type=float, default=10.0,
                   help="half-range in degrees of the random pitch change per view (default: 10)")
    b.add_argument("--limit", type=int, default=None, help="use only the first N faces of each source (quick trials)")
    b.set_defaults(run=_build)

    s = dsub.add_parser("sheet", help="draw a contact sheet of profiled views (faces x yaw)")
    s.add_argument("--out", type=Path, required=True, help="output PNG")
    s.add_argument("--w300", type=Path, default=DEFAULT_300W, help="300-W folder (default: %(default)s)")
    s.add_argument("--faces", nargs="+", default=list(SHEET_FACES), help="300-W face names (default: 6 faces)")
    s.add_argument("--yaws", type=str, default="0,30,60,90",
                   help="target |yaw| values in degrees (default: %(default)s)")
    s.add_argument("--cell", type=int, default=128, help="cell size in pixels (default: %(default)s)")
    s.set_defaults(run=_sheet)


def _build(args) -> int:
    from ddfa.data.cache import BuildSettings, build_cache
    from ddfa.data.readers import read_300w, read_ytf68

    settings = BuildSettings(per_face=args.per_face, seed=args.seed, val_fraction=args.val_fraction,
                             max_pitch=args.max_pitch)
    names = None
    if args.limit is not None:
        names = [it.name for it in read_300w(args.w300)[: args.limit]]
        names += [it.name for it in read_ytf68(args.ytf68)[: args.limit]] if args.ytf68 is not None else []
    s = build_cache(args.out, args.w300, settings, workers=args.workers, names=names, ytf68=args.ytf68,
                    ytf68_views=args.ytf68_views, ytf68_own_landmarks=args.ytf68_landmarks == "own")
    print(f"{s.out}: train {s.counts['train']}, val {s.counts['val']} samples; "
          f"rendered {s.rendered} faces, skipped {s.skipped}; {s.seconds:.0f} s")
    return 0


def _sheet(args) -> int:
    import cv2
    import numpy as np

    from ddfa.errors import InputError

    try:
        yaws = [float(v) for v in args.yaws.split(",")]
    except ValueError:
        raise InputError(f"--yaws must be comma-separated numbers, got {args.yaws!r}") from None
    sheet = contact_sheet(args.w300, args.faces, yaws, args.cell)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(args.out), np.ascontiguousarray(sheet[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise InputError(f"cannot write {args.out}")
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {args.out.stat().st_size / 1e3:.0f} kB)")
    return 0


def contact_sheet(w300: Path, names: list[str], yaws: list[float], cell: int = 144):
    """RGB uint8 grid: one row per face, one column per target |yaw| (the sign of the face's
    own yaw), each a view around the rotated face with its projected 68 landmarks (dots)."""
    import cv2
    import numpy as np

    from ddfa.data.cache import fit_sources
    from ddfa.data.profile import FaceProfiler
    from ddfa.data.readers import read_300w
    from ddfa.errors import InputError
    from ddfa.io import load_image
    from ddfa.morphable import FaceModel
    from ddfa.morphable.frames import roi_from_landmarks
    from ddfa.render import draw_landmarks

    by_name = {it.name: it for it in read_300w(w300)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(f"faces not found in {w300}: {', '.join(missing)}")
    model = FaceModel.load()
    fits = fit_sources([by_name[n] for n in names], model, val_fraction=0.0)
    profiler = FaceProfiler(model)
    rows = []
    for i, name in enumerate(names):
        scene = profiler.scene(load_image(by_name[name].image_path), fits.params_image()[i])
        sign = 1.0 if fits.yaw[i] >= 0 else -1.0
        tiles = []
        for target in yaws:
            d_yaw = sign * target - float(fits.yaw[i])
            _, params = profiler.rotate(scene, d_yaw)
            pts = model.vertices(params[None], dense=False)[0]
            roi = roi_from_landmarks(pts, scale=2.0)
            A = roi.affine(cell)
            view = profiler.render(scene, d_yaw, affine=A, size=(cell, cell))
            shown = pts[:, :2] * A[0, 0] + A[:, 2]
            tile = draw_landmarks(view.image, shown, lines=False, radius=1)
            label = f"{sign * target:+.0f}" if target else "0"
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)
