"""Which loss won each meta-joint round, over training: the paper's "fWPDC early, VDC late" plot.

    python benchmarks/plot_meta_joint.py runs/mb05_meta_joint/log.jsonl -o docs/meta_joint_winners.png

Top: one tick per round (blue = fWPDC kept, orange = VDC kept). Bottom: the share of
fWPDC wins in a sliding window of rounds.
"""

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from ddfa.io import save_image

BLUE, ORANGE, GREY = (31, 119, 180), (255, 127, 14), (120, 120, 120)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/meta_joint_winners.png"))
    ap.add_argument("--window", type=int, default=15)
    args = ap.parse_args()
    rows = [json.loads(x) for x in args.log.read_text().splitlines()]
    rounds = list({r["step"]: r for r in rows if "winner" in r}.values())  # a resumed run logs some steps twice
    if not rounds:
        raise SystemExit(f"{args.log}: no meta-joint rounds logged")
    steps = np.array([r["step"] for r in rounds], float)
    fw = np.array([r["winner"] == "fwpdc" for r in rounds], float)
    share = np.convolve(fw, np.ones(args.window) / args.window, mode="same")
    W, H, m = 900, 360, 50
    img = np.full((H, W, 3), 255, np.uint8)
    x = m + (steps - steps.min()) / max(1.0, np.ptp(steps)) * (W - 2 * m)
    for xi, f in zip(x.astype(int), fw):
        cv2.line(img, (xi, m), (xi, m + 40), BLUE if f else ORANGE, 2)
    top, bottom = m + 80, H - m
    y = bottom - share * (bottom - top)
    cv2.polylines(img, [np.c_[x, y].astype(np.int32)], False, BLUE, 2, cv2.LINE_AA)
    cv2.rectangle(img, (m, top), (W - m, bottom), GREY, 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "winner per round (blue fWPDC, orange VDC)", (m, m - 12), font, 0.5, GREY, 1, cv2.LINE_AA)
    cv2.putText(img, f"share of fWPDC wins, window {args.window}", (m, top - 8), font, 0.5, GREY, 1, cv2.LINE_AA)
    cv2.putText(img, "1", (m - 20, top + 5), font, 0.45, GREY, 1, cv2.LINE_AA)
    cv2.putText(img, "0", (m - 20, bottom + 5), font, 0.45, GREY, 1, cv2.LINE_AA)
    cv2.putText(img, f"step {int(steps.min())}", (m, H - 15), font, 0.45, GREY, 1, cv2.LINE_AA)
    cv2.putText(img, f"step {int(steps.max())}", (W - m - 80, H - 15), font, 0.45, GREY, 1, cv2.LINE_AA)
    save_image(args.out, img)
    print(f"{len(rounds)} rounds, fWPDC won {fw.mean():.0%} (first half {fw[:len(fw) // 2].mean():.0%}, "
          f"second half {fw[len(fw) // 2:].mean():.0%}); wrote {args.out}")


if __name__ == "__main__":
    main()
