"""``ddfa eval``: benchmark a landmark predictor on AFLW2000-3D, on synthetic clips (stability) and on
renders of a textured 3D scan."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = Path("../shared/data/aflw2000-3d")


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a predictor (AFLW2000-3D accuracy, stability, scan views)")
    esub = p.add_subparsers(dest="eval_command", metavar="BENCHMARK", required=True)

    a = esub.add_parser(
        "aflw2000", help="NME on AFLW2000-3D (exact and aligned protocols, original and re-annotated GT)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  ddfa eval aflw2000 --predictor mean-shape -o /tmp/eval_mean",
    )
    _common(a)
    a.add_argument("--boxes", choices=("gt", "detector"), default="gt",
                   help="input boxes: the ground-truth 68-point box, or the face detector's best box (default: gt)")
    a.set_defaults(run=_aflw2000)

    s = esub.add_parser(
        "stability", help="NME and frame-to-frame jitter on synthetic clips of AFLW2000-3D exact crops",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  ddfa eval stability --frames 8 --seed 0 -o /tmp/stability_mean",
    )
    _common(s)
    s.add_argument("--frames", type=int, default=8, help="frames per clip (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the clips (default: %(default)s)")
    s.add_argument("--all-crops", action="store_true", help="use all 1,083 crops, not only the 199 exact ones")
    s.add_argument("--out-of-plane", action=argparse.BooleanOptionalAction, default=True,
                   help="also turn the head a little each frame by face profiling (yaw ±3°, pitch ±1.5°; "
                        "about 0.3 s a clip; default: on)")
    s.set_defaults(run=_stability)

    v = esub.add_parser(
        "scan", help="NME on renders of a textured 3D scan at 81 known poses (yaw, pitch, roll)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  ddfa eval scan --predictor network --weights W.onnx --upright -o /tmp/scan",
    )
    from ddfa.eval.scan_views import DEFAULT_SCAN

    v.add_argument("--scan", type=Path, default=DEFAULT_SCAN,
                   help="scan .obj with <stem>.jpg texture and <stem>.ljson landmarks beside it (default: %(default)s)")
    _predictor_args(v)
    v.set_defaults(run=_scan)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="AFLW2000-3D folder (default: %(default)s)")
    _predictor_args(p)
    p.add_argument("--limit", type=int, default=None, help="only the first N images (quick runs)")


def _predictor_args(p: argparse.ArgumentParser) -> None:
    from ddfa.eval.predictors import predictor_names

    p.add_argument("--predictor", choices=predictor_names(), default="mean-shape",
                   help="predictor to evaluate (default: %(default)s)")
    p.add_argument("--weights", type=Path, default=None, help="weights file, for predictors that take one")
    p.add_argument("--flip-test", action="store_true",
                   help="also regress each crop's mirror image and average the two (network predictor)")
    p.add_argument("--upright", action="store_true",
                   help="regress tilted heads again, turned upright in their crop (network predictor)")
    p.add_argument("-o", "--out", type=Path, default=None, help="output folder for the report files")


def _setup(args, exact_only: bool = False):
    from ddfa.errors import InputError
    from ddfa.eval.aflw2000 import load_aflw2000

    data = load_aflw2000(args.data)
    if exact_only:
        data = data.subset(data.exact)
    if args.limit is not None:
        if args.limit < 1:
            raise InputError(f"--limit must be at least 1, got {args.limit}")
        data = data.subset(slice(0, args.limit))
    return data, _predictor(args)


def _predictor(args):
    from ddfa.eval.predictors import make_predictor

    return make_predictor(args.predictor, weights=args.weights, flip_test=args.flip_test, upright=args.upright)


def _name(args) -> str:
    return args.predictor + (" (flip test)" if args.flip_test else "") + (" (upright)" if args.upright else "")


def _finish(report, out: Path | None) -> int:
    print(report.to_markdown())
    if out is not None:
        paths = report.save(out)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _aflw2000(args) -> int:
    from ddfa.eval.aflw2000 import evaluate_aflw2000

    data, predictor = _setup(args)
    detector = None
    if args.boxes == "detector":
        from ddfa.detect import RetinaFaceDetector

        detector = RetinaFaceDetector()
    return _finish(evaluate_aflw2000(predictor, data, detector=detector, name=_name(args)), args.out)


def _stability(args) -> int:
    from ddfa.eval.out_of_plane import ProfilingMoves
    from ddfa.eval.stability import ClipConfig, evaluate_stability_aflw2000

    data, predictor = _setup(args, exact_only=not args.all_crops)
    report = evaluate_stability_aflw2000(predictor, data, exact_only=False, config=ClipConfig(n_frames=args.frames),
                                         seed=args.seed, name=_name(args),
                                         out_of_plane=ProfilingMoves() if args.out_of_plane else None)
    return _finish(report, args.out)


def _scan(args) -> int:
    from ddfa.eval.scan_views import evaluate_scan_views, load_scan, render_scan_views

    predictor = _predictor(args)
    return _finish(evaluate_scan_views(predictor, render_scan_views(load_scan(args.scan)), name=_name(args)), args.out)
