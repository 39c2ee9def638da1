"""Output manifests: the names of the files ddfa wrote into a folder, so that a later run that reads
that folder (e.g. ``ddfa align photos/ -o photos/``) does not take its own drawings for input photos.

The manifest is a hidden text file, ``MANIFEST`` in the output folder, one file name per line,
rewritten atomically. Write checks (:func:`check_writable`) also live here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from ddfa.atomic import atomic_write
from ddfa.errors import DDFAError

__all__ = ["MANIFEST", "OutputError", "check_writable", "listed", "record"]

MANIFEST = ".ddfa-outputs"


class OutputError(DDFAError):
    """An output folder or file cannot be written."""


def listed(folder: str | os.PathLike) -> set[str]:
    """File names recorded in ``folder``'s manifest (empty when there is none)."""
    try:
        text = (Path(folder) / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {line for line in text.splitlines() if line}


def record(folder: str | os.PathLike, paths: Iterable[str | os.PathLike]) -> None:
    """Add the names of ``paths`` (files inside ``folder``) to its manifest."""
    folder = Path(folder)
    names = listed(folder) | {Path(p).name for p in paths if Path(p).parent.resolve() == folder.resolve()}
    atomic_write(folder / MANIFEST, "".join(f"{n}\n" for n in sorted(names)).encode("utf-8"))


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it.

    Raises:
        OutputError: one line saying which folder and why (not the temp file's name).
    """
    folder = Path(folder)
    probe = folder / f".ddfa-write-test-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write to the output folder '{folder}': {why}") from None
    return folder
