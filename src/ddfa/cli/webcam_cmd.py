"""``ddfa webcam``: live tracking from a camera (``cv2.VideoCapture(index)``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddfa.cli.align_cmd import add_model_args, comma_list, make_aligner, positive_int
from ddfa.cli.video_cmd import add_tracking_args, tracker_options

EXAMPLES = """\
examples:
  ddfa webcam -o session.mp4 --max-frames 300
  ddfa webcam --camera 1 --display --draw mesh,box
  ddfa webcam -o rec.mp4 --results json

Stop with Ctrl+C (or 'q' in the window with --display); the recording is kept.
--display needs an OpenCV build with GUI support (opencv-python, not -headless)."""


def register(sub) -> None:
    from ddfa.pipeline.kinds import OVERLAY_KINDS

    p = sub.add_parser(
        "webcam", help="track and align faces live from a camera",
        description="Track faces in the camera stream; record an annotated MP4 and/or show it live.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
    )
    p.add_argument("--camera", type=int, default=0, help="camera index for cv2.VideoCapture (default: %(default)s)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.mp4", help="record the annotated stream")
    p.add_argument("--display", action="store_true", help="show the annotated stream in a window")
    p.add_argument("--draw", type=comma_list(OVERLAY_KINDS), default=["landmarks", "box", "pose"], metavar="KINDS",
                   help=f"comma-separated overlays among {', '.join(OVERLAY_KINDS)} (default: landmarks,box,pose)")
    p.add_argument("--results", type=comma_list(("json", "npz")), default=[], metavar="FORMATS",
                   help="also write OUT.json and/or OUT.npz (needs -o)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    add_tracking_args(p)
    add_model_args(p)
    p.set_defaults(run=run)


def _window():
    """Open the display window; InputError when OpenCV has no GUI."""
    import cv2

    from ddfa.errors import InputError

    try:
        cv2.namedWindow("ddfa", cv2.WINDOW_NORMAL)
    except cv2.error:
        raise InputError("this OpenCV build has no GUI support (opencv-python-headless), so --display cannot "
                         "open a window; install opencv-python, or record with -o OUT.mp4") from None

    def show(index, rgb, faces):
        cv2.imshow("ddfa", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF == ord("q"):
            raise KeyboardInterrupt

    return show


def run(args) -> int:
    from ddfa.errors import InputError
    from ddfa.pipeline.video import open_camera, process_stream

    if args.output is None and not args.display:
        raise InputError("nothing to do: record with -o OUT.mp4 and/or show the stream with --display")
    if args.results and args.output is None:
        raise InputError("--results needs -o OUT.mp4 (the results are written next to it)")
    if args.output is not None and args.output.suffix.lower() != ".mp4":
        raise InputError(f"the output video must be a .mp4 file, got '{args.output}'")
    show = _window() if args.display else None
    with open_camera(args.camera) as reader:
        aligner = make_aligner(args)
        results = process_stream(aligner, reader, args.output, draw=args.draw, max_frames=args.max_frames,
                                 on_frame=show, keep_results=bool(args.results), stop_on_interrupt=True,
                                 **tracker_options(args))
    written = [] if args.output is None else [args.output]
    written += [results.save(args.output.with_suffix(f".{fmt}")) for fmt in args.results]
    print(f"ddfa: {results.num_frames} frames from camera {args.camera}"
          + (f", wrote {', '.join(map(str, written))}" if written else ""), file=sys.stderr)
    return 0
