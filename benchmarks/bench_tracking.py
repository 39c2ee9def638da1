"""Video identity: id counts, fragmentation, ids across shot cuts, jumps and box jitter, old vs new tracker.

Usage: python benchmarks/bench_tracking.py [--videos V ...] [--max-frames N]

Runs :class:`ddfa.pipeline.tracking.FaceTracker` twice per video in the same process, on the same
frames: ``old`` = ``cut_threshold=None, memory=0, steady_boxes=False,
verify=False`` (the ddfa 0.1 tracker), ``new``
= the defaults. Columns per run:

- ``ids``: distinct track ids; ``<5``: ids seen in fewer than 5 frames (fragments);
- ``across cuts``: ids present on both sides of a shot cut. Cuts are found by
  :func:`~ddfa.pipeline.tracking.is_cut` on the frames themselves (listed per video, check them by eye);
- ``jumps``: frame-to-frame moves of one id's landmark centre by more than half the face size (an
  id moving to another face, or landmarks flipping on a non-face); ``jumps 40+``: the same on faces
  of at least 40 px;
- ``box dh``, ``lmk dh``: median relative frame-to-frame change of the box height and of the
  landmark-box height, over all faces seen in consecutive frames;
- ``s``: wall seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ddfa.pipeline import FaceAligner
from ddfa.pipeline.tracking import FaceTracker, frame_signature, is_cut
from ddfa.pipeline.video import VideoReader

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media" / "videos"
OLD = {"cut_threshold": None, "memory": 0, "steady_boxes": False, "verify": False}


def run(aligner, frames, options) -> tuple[list[dict[int, tuple]], float]:
    tracker = FaceTracker(aligner, **options)
    out, t0 = [], time.perf_counter()
    for i, frame in enumerate(frames):
        faces = tracker.update(frame, timestamp=i / 30)
        out.append({f.track_id: (f.box.copy(), f.landmarks.copy()) for f in faces})
    return out, time.perf_counter() - t0


def metrics(per_frame: list[dict[int, tuple]], cuts: list[int]) -> dict[str, float]:
    counts: dict[int, int] = {}
    for faces in per_frame:
        for k in faces:
            counts[k] = counts.get(k, 0) + 1
    across = sum(len(set(per_frame[c - 1]) & set(per_frame[c])) for c in cuts)
    jumps, big_jumps, box_dh, lmk_dh = 0, 0, [], []
    for a, b in zip(per_frame, per_frame[1:]):
        for k in set(a) & set(b):
            (box0, lm0), (box1, lm1) = a[k], b[k]
            size = np.ptp(lm0, 0).max()
            jump = int(np.linalg.norm(lm1.mean(0) - lm0.mean(0)) > 0.5 * size)
            jumps += jump
            big_jumps += jump * (size >= 40)
            h0, h1 = box0[3] - box0[1], box1[3] - box1[1]
            box_dh.append(abs(h1 - h0) / h0)
            l0, l1 = np.ptp(lm0[:, 1]), np.ptp(lm1[:, 1])
            lmk_dh.append(abs(l1 - l0) / l0)
    return {"ids": len(counts), "short": sum(n < 5 for n in counts.values()), "across": across, "jumps": jumps,
            "jumps40": int(big_jumps),
            "box_dh": float(np.median(box_dh)) if box_dh else float("nan"),
            "lmk_dh": float(np.median(lmk_dh)) if lmk_dh else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", type=Path, default=sorted(VIDEOS.glob("*.m*")))
    ap.add_argument("--max-frames", type=int, default=None)
    args = ap.parse_args()
    aligner = FaceAligner()
    print("| video | frames | cuts at | ids old / new | <5 frames old / new | across cuts old / new "
          "| jumps old / new | jumps 40+ old / new | box dh old / new | lmk dh old / new | s old / new |")
    print("|---|---:|---|---|---|---|---|---|---|---|---|")
    for path in args.videos:
        with VideoReader.open(path) as reader:
            frames = list(reader.frames(args.max_frames))
        sigs = [frame_signature(f) for f in frames]
        cuts = [i for i in range(1, len(frames)) if is_cut(sigs[i - 1], sigs[i])]
        old, t_old = run(aligner, frames, OLD)
        new, t_new = run(aligner, frames, {})
        mo, mn = metrics(old, cuts), metrics(new, cuts)
        cells = [f"{mo[k]} / {mn[k]}" for k in ("ids", "short", "across", "jumps", "jumps40")]
        cells += [f"{mo[k]:.3f} / {mn[k]:.3f}" for k in ("box_dh", "lmk_dh")]
        print(f"| {path.name} | {len(frames)} | {', '.join(map(str, cuts)) or '-'} | " + " | ".join(cells)
              + f" | {t_old:.1f} / {t_new:.1f} |", flush=True)


if __name__ == "__main__":
    main()
