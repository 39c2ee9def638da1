"""Speed of this tree's default pipeline against the same pipeline at an earlier commit, in one process.

Usage: python benchmarks/bench_versus_commit.py COMMIT [--rounds 9] [--video V.mp4] [--video-frames 60]

``git archive COMMIT src/ddfa`` is unpacked into a temporary folder as the package ``ddfa_then`` (its
imports and asset lookups renamed), so both versions run side by side on the same decoded data. Every
row times ``FaceAligner()`` of each version in alternating order for ``--rounds`` paired rounds (after a
warm-up round) and reports the median of the per-round ratios now / then: what the commits in between
changed, with the machine's load shared by both. One thread (set OMP_NUM_THREADS=1 too).

Rows: photo pipeline (``align(image)`` on the 12 media photos, ms/image); per face, one face per call
(``align(image, boxes=[box])``) and all faces of an image in one call (ms/face; the boxes of this tree's
detector for both); ``track()`` on the first ``--video-frames`` frames of a media video (ms/frame).
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

from ddfa.io import iter_image_paths, load_image
from ddfa.pipeline import FaceAligner
from ddfa.pipeline.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / ".." / "shared" / "data" / "media"
_RENAME = re.compile(r"\b(from|import) ddfa\b|([\"'])ddfa\.")


def import_commit(commit: str, where: Path):
    """The package ``ddfa`` of ``commit``, unpacked under ``where`` as ``ddfa_then`` and imported."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src/ddfa"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(where, filter="data")
    package = where / "ddfa_then"
    (where / "src" / "ddfa").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text()
        path.write_text(_RENAME.sub(lambda m: f"{m[1]} ddfa_then" if m[1] else f"{m[2]}ddfa_then.", text))
    sys.path.insert(0, str(where))
    return importlib.import_module("ddfa_then.pipeline")


def aligner_of_commit(commit: str, where: Path):
    """``commit``'s default ``FaceAligner()`` (:func:`import_commit`); stops if it would run this tree's code."""
    aligner = import_commit(commit, where).FaceAligner()
    origin = type(aligner.regressor).__module__
    if not origin.startswith("ddfa_then."):  # the old package must run its own code, not this tree's
        raise SystemExit(f"{commit}'s pipeline runs this tree's code ({origin}); nothing to compare")
    return aligner


def alternating(runs: dict, rounds: int) -> dict:
    """name -> (rounds,) seconds of the call ``runs[name]()`` in each round; a round calls
    every run once, in the dict's order on even rounds and reversed on odd ones, so that load is shared."""
    times: dict = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            t = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
    return {name: np.array(v) for name, v in times.items()}


def paired(now, then, rounds: int) -> tuple[float, float, float]:
    """(now s/round, then s/round, median of the per-round ratios now / then), alternating, one warm-up."""
    now(), then()
    t = alternating({"now": now, "then": then}, rounds)
    return float(np.median(t["now"])), float(np.median(t["then"])), float(np.median(t["now"] / t["then"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("commit", help="the earlier commit (any git revision)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--video", type=Path, default=MEDIA / "videos" / "WolfgangLanger_Pexels.mp4")
    ap.add_argument("--video-frames", type=int, default=60)
    args = ap.parse_args()

    images = [load_image(p) for p in iter_image_paths(MEDIA / "images")]
    with VideoReader.open(args.video) as reader:
        frames = list(reader.frames(args.video_frames))
    with tempfile.TemporaryDirectory() as tmp:
        now, then = FaceAligner(), aligner_of_commit(args.commit, Path(tmp))
        per_image = [(im, np.array([d.box for d in now.detect(im)], np.float32).reshape(-1, 4)) for im in images]
        per_image = [(im, b) for im, b in per_image if len(b)]
        items = [(im, box[None]) for im, b in per_image for box in b]

        def loops(aligner):
            return {
                "photo pipeline (ms/image)": (lambda: [aligner.align(im) for im in images], len(images)),
                "per face, one per call (ms/face)": (lambda: [aligner.align(im, boxes=b) for im, b in items],
                                                     len(items)),
                "per face, all in one call (ms/face)": (lambda: [aligner.align(im, boxes=b) for im, b in per_image],
                                                        len(items)),
                f"track(), {args.video.name}, {len(frames)} frames (ms/frame)":
                    (lambda: sum(1 for _ in aligner.track(frames)), len(frames)),
            }

        print(f"this tree against {args.commit}: {len(images)} photos, {len(items)} faces, {args.rounds} paired rounds, "
              f"one warm-up\n\n| row | now | then | now / then (median of rounds) |\n|---|---:|---:|---:|")
        for (name, (f_now, n)), (f_then, _) in zip(loops(now).items(), loops(then).values()):
            a, b, ratio = paired(f_now, f_then, args.rounds)
            print(f"| {name} | {1e3 * a / n:.2f} | {1e3 * b / n:.2f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
