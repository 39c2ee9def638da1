"""``ddfa bench``: milliseconds per pipeline stage, per backend and thread count."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from ddfa.cli.align_cmd import comma_list, positive_int

EXAMPLES = """\
examples:
  ddfa bench ../shared/data/media/images
  ddfa bench photo.jpg --backends onnxruntime --threads 1,2,4 --repeats 10
  ddfa bench photos/ --weights my.pt --json bench.json

Stages: decode, detect, crop, regress (all faces in one batch), sparse and dense
reconstruction, pose, draw (landmarks, mesh, pose), end_to_end. Each number is
the median over the repeats of the mean ms per image, all in one process."""


def _threads(text: str) -> list[int]:
    return [positive_int(t) for t in text.split(",") if t.strip()]


def _has_torch() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def register(sub) -> None:
    from ddfa.pipeline.regressor import BACKENDS, MODEL_NAMES

    p = sub.add_parser("bench", help="time the pipeline stage by stage",
                       description="Time every stage of the image pipeline on the given images.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    p.add_argument("inputs", nargs="+", type=Path, metavar="IMG|DIR", help="image files and/or folders")
    installed = [b for b in BACKENDS if b != "torch" or _has_torch()]
    p.add_argument("--backends", type=comma_list(BACKENDS), default=installed, metavar="NAMES",
                   help="comma-separated backends (default: those installed, %(default)s)")
    p.add_argument("--threads", type=_threads, default=[1, 2], metavar="N,N",
                   help="comma-separated thread counts (default: 1,2)")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed passes per configuration (default: 5)")
    p.add_argument("--model", default=MODEL_NAMES[0], choices=MODEL_NAMES, help="bundled model (default: %(default)s)")
    p.add_argument("--weights", type=Path, default=None, help="a .pt checkpoint instead of the bundled weights")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    p.set_defaults(run=run)


def run(args) -> int:
    from ddfa.errors import InputError
    from ddfa.export.mesh import write_json
    from ddfa.io import iter_image_paths
    from ddfa.pipeline.bench import benchmark, format_table

    paths = iter_image_paths(args.inputs)
    if not paths:
        raise InputError("no image files found in the given inputs")
    if args.weights is not None and args.weights.suffix.lower() == ".onnx" and "torch" in args.backends:
        raise InputError("an .onnx weights file runs only with --backends onnxruntime")
    results = []
    for backend in args.backends:
        for threads in args.threads:
            print(f"ddfa: timing {backend} with {threads} thread(s) on {len(paths)} image(s)...", file=sys.stderr)
            results.append(benchmark(paths, backend, threads, args.repeats, model=args.model, weights=args.weights,
                                     progress=True))
    print(f"{len(paths)} images, {results[0].faces} faces, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs, weights: {args.weights or args.model}")
    print(format_table(results))
    if args.json is not None:
        write_json(args.json, [{"backend": r.backend, "threads": r.threads, "ms_per_image": r.ms,
                                "images": r.images, "faces": r.faces} for r in results])
    return 0
