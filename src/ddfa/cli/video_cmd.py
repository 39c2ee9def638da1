"""``ddfa video``: track faces through video files; write an annotated MP4 and per-frame results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddfa.cli.align_cmd import add_model_args, comma_list, make_aligner, positive_int

EXAMPLES = """\
examples:
  ddfa video clip.mp4 -o out/clip.mp4
  ddfa video clip.mp4 -o out/ --draw mesh,landmarks,box --results json,npz
  ddfa video a.mp4 b.mov -o out/ --max-frames 100 --beta 2 --min-cutoff 0.5

Faces keep their id (the '#n' in the box caption) while they are tracked.
Results: OUT.json (every frame, every face, all fields but the dense mesh) and
OUT.npz (the same, stacked, with a 'frame' index; --dense adds the meshes)."""


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    """Tracking and smoothing options shared with ``ddfa webcam``."""
    g = p.add_argument_group("tracking")
    g.add_argument("--detect-interval", type=positive_int, default=10,
                   help="run the full detector at least every N frames (default: %(default)s)")
    g.add_argument("--min-score", type=float, default=0.35,
                   help="a tracked face scoring below this is re-detected or lost (default: %(default)s)")
    g.add_argument("--max-faces", type=positive_int, default=None, help="track at most N faces")
    g.add_argument("--no-smooth", action="store_true", help="turn the One-Euro smoothing off")
    g.add_argument("--min-cutoff", type=float, default=1.0,
                   help="One-Euro cutoff at rest, Hz (lower = smoother; default: %(default)s)")
    g.add_argument("--beta", type=float, default=5.0,
                   help="One-Euro speed coefficient (higher = less lag; default: %(default)s)")


def tracker_options(args) -> dict:
    from ddfa.pipeline.tracking import Smoothing

    smoothing = None if args.no_smooth else Smoothing(min_cutoff=args.min_cutoff, beta=args.beta)
    return {"detect_interval": args.detect_interval, "min_score": args.min_score, "max_faces": args.max_faces,
            "smoothing": smoothing}


def register(sub) -> None:
    from ddfa.pipeline.kinds import OVERLAY_KINDS

    p = sub.add_parser(
        "video", help="track and align faces in video files",
        description="Track every face through the video(s); write an annotated MP4 (H.264 with the source's audio "
                    "when PyAV is installed, else mp4v) and optional results.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="VIDEO", help="video file(s)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="output .mp4 file (one input) or folder (written as <folder>/<input name>.mp4)")
    p.add_argument("--draw", type=comma_list(OVERLAY_KINDS), default=["landmarks", "box", "pose"], metavar="KINDS",
                   help=f"comma-separated overlays among {', '.join(OVERLAY_KINDS)} (default: landmarks,box,pose)")
    p.add_argument("--results", type=comma_list(("json", "npz")), default=[], metavar="FORMATS",
                   help="also write OUT.json and/or OUT.npz with every frame's faces")
    p.add_argument("--dense", action="store_true", help="include the dense meshes in OUT.npz (large)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    p.add_argument("--start-frame", type=int, default=0, help="skip the first N frames (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--codec", choices=("auto", "h264", "mp4v"), default="auto",
                   help="output video codec: auto = H.264 with the source's audio when PyAV is installed "
                        "(pip install 'ddfa[video]'), else mp4v without audio (default: auto)")
    add_tracking_args(p)
    add_model_args(p)
    p.set_defaults(run=run)


def _targets(inputs: list[Path], output: Path) -> list[Path]:
    from ddfa.errors import InputError

    if len(inputs) == 1 and output.suffix:
        if output.suffix.lower() != ".mp4":
            raise InputError(f"the output video must be a .mp4 file (or a folder), got '{output}'")
        return [output]
    if output.suffix:
        raise InputError(f"with several input videos, -o must be a folder, got '{output}'")
    return [output / f"{p.stem}.mp4" for p in inputs]


def run(args) -> int:
    from ddfa.errors import DDFAError
    from ddfa.manifest import check_writable
    from ddfa.pipeline.video import StreamInterrupted, VideoReader, process_stream

    targets = _targets(args.inputs, args.output)
    for folder in dict.fromkeys(dst.parent for dst in targets):
        check_writable(folder)  # fail once, before any work
    aligner = make_aligner(args)
    aligner.detector  # missing detector weights fail here, once
    options = tracker_options(args)
    failures = []
    for src, dst in zip(args.inputs, targets):
        try:
            with VideoReader.open(src) as reader:
                results = process_stream(aligner, reader, dst, draw=args.draw, max_frames=args.max_frames,
                                         start_frame=args.start_frame, progress=not args.no_progress,
                                         keep_dense=args.dense, codec=args.codec, **options)
            written = [dst] + [results.save(dst.with_suffix(f".{fmt}"), dense=args.dense) for fmt in args.results]
        except StreamInterrupted as stop:
            kept = [stop.output] if stop.output else []
            if stop.results.num_frames:
                kept += [stop.results.save(dst.with_suffix(f".{fmt}"), dense=args.dense) for fmt in args.results]
            print(f"ddfa: interrupted: {src}: kept the first {stop.results.num_frames} frame(s) in "
                  f"{', '.join(map(str, kept)) or 'nothing'}", file=sys.stderr)
            return 130
        except (DDFAError, OSError) as exc:
            failures.append(str(exc))
            continue
        left = max(reader.info.frame_count - args.start_frame, 0)
        expected = min(left, args.max_frames or left)
        note = (f" (the file announces {expected} frames; decoding stopped early)"
                if reader.info.frame_count and results.num_frames < expected else "")
        print(f"ddfa: {src}: {results.num_frames} frames{note}, {len(results.track_ids)} face track(s), "
              f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    for why in failures:
        print(f"ddfa: error: {why}", file=sys.stderr)
    return 1 if failures else 0
