"""Writing a benchmark's report files (markdown, JSON, per-item arrays, error curve), atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ddfa.atomic import atomic_path, atomic_write
from ddfa.io import save_image

__all__ = ["save_report"]


def save_report(outdir: str | Path, markdown: str, summary: dict, arrays_name: str, arrays: dict,
                curve: np.ndarray) -> dict[str, Path]:
    """Write a benchmark's ``report.md``, ``report.json``, ``<arrays_name>.npz`` (per-item arrays) and
    ``ced.png`` (the RGB picture ``curve``) into ``outdir``, each atomically; returns the paths by kind."""
    out = Path(outdir)
    paths = {"markdown": out / "report.md", "json": out / "report.json", arrays_name: out / f"{arrays_name}.npz",
             "ced": out / "ced.png"}
    atomic_write(paths["markdown"], markdown.encode())
    atomic_write(paths["json"], (json.dumps(summary, indent=2) + "\n").encode())
    with atomic_path(paths[arrays_name], suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    save_image(paths["ced"], curve)
    return paths
