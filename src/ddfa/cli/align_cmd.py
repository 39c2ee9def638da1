"""``ddfa align``: align the faces of images and folders, write drawings and exports.

Also holds the options shared by the other pipeline commands (model, backend,
threads, comma-separated kind lists).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  ddfa align photo.jpg -o out/ --draw landmarks,mesh,pose --export obj,json
  ddfa align photos/ more.png -o out/ --draw mesh --combine --export npz,ply
  ddfa align group.jpg -o out/ --draw depth,pncc,uv --backend torch --threads 2
  ddfa align crowd_4000x3000.jpg -o out/ --min-face 20   # small faces in a big photo (slower)

drawings: mesh, points (dense cloud), landmarks, box, pose (axes),
          depth, pncc, uv (texture per face)
exports:  json (all fields but the dense mesh), npz (all fields),
          obj (+ .mtl + .png texture), ply (vertex colours), glb (embedded texture)
A folder run continues past unreadable files and lists them at the end
(exit status 1 if any failed)."""


def comma_list(allowed: tuple[str, ...]):
    """argparse type: a comma-separated subset of ``allowed`` (order kept, duplicates dropped)."""

    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed)}")
        return list(dict.fromkeys(items))

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def int_between(lo: int, hi: int):
    """argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {lo} to {hi}, got '{text}'") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer from {lo} to {hi}, got {value}")
        return value

    return parse


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --backend, --precision, --weights, --threads, --flip-test, --upright."""
    from ddfa.pipeline.regressor import BACKENDS, MODEL_NAMES, PRECISIONS, VIDEO_MODEL

    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, choices=MODEL_NAMES,
                   help=f"bundled model (default: {MODEL_NAMES[0]} for images, {VIDEO_MODEL} for video)")
    g.add_argument("--backend", default=BACKENDS[0], choices=BACKENDS, help="inference engine (default: %(default)s)")
    g.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="bundled ONNX weights: int8 (the onnxruntime default; ~0.6x the network time, same "
                        "accuracy) or float32")
    g.add_argument("--weights", type=Path, default=None,
                   help="a .pt checkpoint or .onnx graph to use instead of the bundled weights")
    g.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default: %(default)s)")
    g.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="also regress each face's mirror image and average (more accurate and steadier, 2x "
                        "network time; default: video with the 0.5 only)")
    g.add_argument("--upright", action=argparse.BooleanOptionalAction, default=True,
                   help="regress tilted heads (past 5-15 degrees of roll) again, turned upright in their crop "
                        "(default: on; --no-upright gives the bare one-pass network)")


def add_detection_args(p: argparse.ArgumentParser) -> None:
    """--min-face, --det-size (the default detector's resolution policy, docs/speed.md)."""
    from ddfa.detect.retinaface import DETECTION_SIZE

    g = p.add_argument_group("detection")
    g.add_argument("--min-face", type=positive_int, default=None, metavar="PX",
                   help="find faces down to PX pixels high at any image size (e.g. 20; slower on big images; "
                        "default: one pass, finding faces from about min(longer side / 28, 128) px)")
    g.add_argument("--det-size", type=positive_int, default=DETECTION_SIZE, metavar="PX",
                   help="longer side of the detector's first pass (default: %(default)s)")


def make_aligner(args):
    from ddfa.detect.retinaface import DETECTION_SIZE
    from ddfa.pipeline import FaceAligner

    return FaceAligner(model=args.model, backend=args.backend, weights=args.weights, threads=args.threads,
                       precision=args.precision,
                       flip_test=args.flip_test, upright=args.upright,
                       any_rotation=getattr(args, "any_rotation", False),
                       min_face=getattr(args, "min_face", None), det_size=getattr(args, "det_size", DETECTION_SIZE))


def register(sub) -> None:
    from ddfa.pipeline.kinds import DRAW_KINDS, EXPORT_FORMATS

    p = sub.add_parser(
        "align", help="align the faces of images or folders of images",
        description="Detect and align every face of the given images; write drawings and exports to -o.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IMG|DIR", help="image files and/or folders")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--draw", type=comma_list(DRAW_KINDS), default=None, metavar="KINDS",
                   help="comma-separated drawings (default: landmarks, unless --export is given)")
    p.add_argument("--export", type=comma_list(EXPORT_FORMATS), default=None, metavar="FORMATS",
                   help="comma-separated exports (default: json, unless --draw is given)")
    p.add_argument("--combine", action="store_true", help="layer all overlay drawings into one S_overlay.jpg")
    p.add_argument("--uv-size", type=int_between(16, 4096), default=512,
                   help="UV texture side in pixels, 16-4096 (default: %(default)s)")
    p.add_argument("--any-rotation", action="store_true",
                   help="find tilted, sideways and upside-down faces (detects on the image turned by every "
                        "45 degrees: eight detector runs)")
    p.add_argument("--recursive", action="store_true", help="also search sub-folders")
    add_model_args(p)
    add_detection_args(p)
    p.set_defaults(run=run)


def _expand(inputs: list[Path], recursive: bool) -> tuple[list[Path], list[tuple[str, str]], int]:
    """Images to align, failures, and how many files of the folders were skipped as ddfa's own outputs
    (listed in their folder's manifest, :mod:`ddfa.manifest`)."""
    from ddfa.errors import DDFAError
    from ddfa.io import iter_image_paths
    from ddfa.manifest import listed

    images, failures, skipped = [], [], 0
    for path in inputs:
        try:
            found = iter_image_paths(path, recursive=recursive)
        except DDFAError as exc:
            failures.append((str(path), str(exc)))
            continue
        if path.is_dir():
            ours = {f for f in found if f.name in listed(f.parent)}
            skipped += len(ours)
            found = [f for f in found if f not in ours]
            if not found and not ours:
                failures.append((str(path), "the folder holds no image files"))
        images += found
    return images, failures, skipped


def _unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        n = seen.get(p.stem, 0) + 1
        seen[p.stem] = n
        stems.append(p.stem if n == 1 else f"{p.stem}_{n}")
    return stems


def _describe(name: str, why: str) -> str:
    return why if name in why else f"{name}: {why}"


def run(args) -> int:
    from tqdm import tqdm

    from ddfa.errors import DDFAError
    from ddfa.io import load_image
    from ddfa.manifest import MANIFEST, check_writable, record
    from ddfa.pipeline.outputs import save_outputs

    draw = args.draw if args.draw is not None else ([] if args.export else ["landmarks"])
    export = args.export if args.export is not None else ([] if args.draw else ["json"])
    images, failures, skipped = _expand(args.inputs, args.recursive)
    if skipped:
        print(f"ddfa: skipped {skipped} file(s) that ddfa wrote itself (listed in {MANIFEST})", file=sys.stderr)
    if not images:
        for name, why in failures:
            print(f"ddfa: error: {_describe(name, why)}", file=sys.stderr)
        return 1
    check_writable(args.output)  # fail once, before any work
    aligner = make_aligner(args)
    aligner.detector  # build the detector now: missing weights fail once, not per image
    no_face, n_ok, n_faces, n_files = [], 0, 0, 0
    current = None
    try:
        for path, stem in tqdm(list(zip(images, _unique_stems(images))), unit="image", file=sys.stderr,
                               disable=len(images) < 2, desc="align"):
            current = path
            try:
                image = load_image(path)
                faces = aligner.align(image)
                written = save_outputs(args.output, stem, image, faces, draw, export, combine=args.combine,
                                       uv_size=args.uv_size, source=str(path))
            except (DDFAError, OSError) as exc:
                failures.append((str(path), str(exc)))
                current = None
                continue
            record(args.output, written)
            current = None
            n_ok += 1
            n_faces += len(faces)
            n_files += len(written)
            if not faces:
                no_face.append(str(path))
    except KeyboardInterrupt:
        where = f"; '{current}' was not finished: its partial files were removed" if current is not None else ""
        print(f"ddfa: interrupted after {n_ok} image(s) ({n_files} file(s) in {args.output}){where}",
              file=sys.stderr)
        return 130
    print(f"ddfa: {n_ok} image(s) done, {n_faces} face(s), {n_files} file(s) written to {args.output}",
          file=sys.stderr)
    if no_face:
        print(f"ddfa: no face found in {len(no_face)} image(s): {', '.join(no_face)}", file=sys.stderr)
    if failures:
        print(f"ddfa: error: {len(failures)} input(s) failed:", file=sys.stderr)
        for name, why in failures:
            print(f"  {_describe(name, why)}", file=sys.stderr)
        return 1
    return 0
