"""Detection recall by face size and image size: real faces pasted into big frames.

Usage: python benchmarks/bench_small_faces.py [--sizes 1000 2000 4000 12000] [--faces 20 30 45 60 100 250]
                                              [--per-size 3] [--min-face 20] [--seed 0]

The five faces of ``multi_face.jpg`` (with 1.6 x their box of context) are resized so that
their detector box is the given height and pasted, ``--per-size`` of each size, at random
non-overlapping places into a face-free photo (``free-mountain-vector-01.jpg``) resized to
4:3 frames of each ``--sizes`` width. A pasted face counts as found when a detection has
IoU > 0.4 with its box; detections matching no pasted face are counted as false positives.
Detectors, in one run: today's (before the resolution policy, ``BASELINE_OPTIONS``), the new
default, and the new one with ``--min-face``. Prints a markdown table of recall per face size,
false positives and milliseconds per image (one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from ddfa.detect.retinaface import BASELINE_OPTIONS, RetinaFaceDetector, box_iou
from ddfa.io import load_image

MEDIA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "media" / "images"


def face_sources() -> list[tuple[np.ndarray, np.ndarray]]:
    """(patch, box in patch pixels) for each face of multi_face.jpg, 1.6 x the box side of context."""
    image = load_image(MEDIA / "multi_face.jpg")
    out = []
    for det in RetinaFaceDetector(max_size=None).detect(image):
        c, side = (det.box[:2] + det.box[2:]) / 2, 1.6 * max(det.width, det.height)
        x0, y0 = np.round(c - side / 2).astype(int)
        s = int(round(side))
        patch = cv2.copyMakeBorder(image, s, s, s, s, cv2.BORDER_REFLECT)[y0 + s:y0 + 2 * s, x0 + s:x0 + 2 * s]
        out.append((patch, det.box - np.array([x0, y0, x0, y0], np.float32)))
    return out


def make_frame(width: int, face_sizes: list[int], per_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """A 4:3 frame ``width`` px wide with pasted faces -> (image, boxes (N, 4), size of each)."""
    rng = np.random.default_rng(seed)
    frame = cv2.resize(load_image(MEDIA / "free-mountain-vector-01.jpg"), (width, width * 3 // 4),
                       interpolation=cv2.INTER_AREA if width < 1920 else cv2.INTER_LINEAR)
    sources = face_sources()
    taken, boxes, sizes = [], [], []
    for size in face_sizes:
        for k in range(per_size):
            patch, box = sources[(len(boxes) + k) % len(sources)]
            f = size / (box[3] - box[1])
            p = cv2.resize(patch, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
            ph, pw = p.shape[:2]
            if pw >= frame.shape[1] or ph >= frame.shape[0]:
                continue
            for _ in range(200):  # rejection sampling of a free place
                x, y = int(rng.integers(0, frame.shape[1] - pw)), int(rng.integers(0, frame.shape[0] - ph))
                r = np.array([x, y, x + pw, y + ph])
                if all(r[0] >= t[2] or r[2] <= t[0] or r[1] >= t[3] or r[3] <= t[1] for t in taken):
                    break
            else:
                continue
            frame[y:y + ph, x:x + pw] = p
            taken.append(r)
            boxes.append(box * f + np.array([x, y, x, y], np.float32))
            sizes.append(size)
    return frame, np.array(boxes, np.float32).reshape(-1, 4), sizes


def match(dets, boxes: np.ndarray) -> tuple[np.ndarray, int]:
    """(found: bool per pasted box, number of detections matching no pasted box)."""
    found = np.zeros(len(boxes), bool)
    false = 0
    for d in dets:
        iou = box_iou(d.box, boxes) if len(boxes) else np.zeros(0)
        if len(iou) and iou.max() > 0.4:
            found[int(iou.argmax())] = True
        else:
            false += 1
    return found, false


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 12000])
    ap.add_argument("--faces", type=int, nargs="+", default=[20, 30, 45, 60, 100, 250])
    ap.add_argument("--per-size", type=int, default=3)
    ap.add_argument("--min-face", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    detectors = {"today (640 px, one pass)": RetinaFaceDetector(**BASELINE_OPTIONS),
                 "new default": RetinaFaceDetector(),
                 f"new, min_face={args.min_face}": RetinaFaceDetector(min_face=args.min_face)}
    head = "| image | detector | " + " | ".join(f"{s} px" for s in args.faces) + " | false pos. | ms/image |"
    print("Recall (found / pasted) by face height; one thread.\n")
    print(head)
    print("|---|---|" + "---:|" * (len(args.faces) + 2))
    for width in args.sizes:
        image, boxes, sizes = make_frame(width, args.faces, args.per_size, args.seed)
        sizes = np.array(sizes)
        for name, det in detectors.items():
            det.detect(image[:480, :640])  # warm-up: onnxruntime's first run of a session is slow
            t = time.perf_counter()
            dets = det.detect(image)
            ms = (time.perf_counter() - t) * 1e3
            found, false = match(dets, boxes)
            cells = [f"{found[sizes == s].sum()}/{(sizes == s).sum()}" if (sizes == s).any() else "—"
                     for s in args.faces]
            print(f"| {width}x{image.shape[0]} | {name} | " + " | ".join(cells) + f" | {false} | {ms:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
