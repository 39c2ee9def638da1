"""The README, the model card and docs/*.md: size, every repository path they name exists, docs/api.md matches the docstrings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "src/ddfa/assets/MODEL_CARD.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("src", "docs", "configs", "checkpoints", "benchmarks", "tests", ".ci")
# a repository path: starts with a top-level folder; not a file restored from history (`1a94ffe:path`)
# nor the target of a shell redirection (`> path`)
REPO_PATH = re.compile(r"(?<![\w./:-])(?<!> )((?:%s)/[\w./-]*[\w/])" % "|".join(map(re.escape, TOP)))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def named_paths(page: Path) -> set[Path]:
    text = page.read_text()
    paths = {ROOT / p for p in REPO_PATH.findall(text)}
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:|#", target):
            paths.add((page.parent / target.split("#")[0]).resolve())
    return paths


def test_readme_is_short():
    assert (ROOT / "README.md").stat().st_size <= 10 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_paths_exist(page):
    missing = sorted(str(p.relative_to(ROOT)) for p in named_paths(page) if not p.exists())
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def test_path_finder_sees_paths_and_skips_history():
    found = named_paths_in("see `configs/a.toml`, [x](docs/b.md), git show 1a94ffe:checkpoints/c.pt > checkpoints/c.pt")
    assert found == {"configs/a.toml", "docs/b.md"}


def named_paths_in(text: str) -> set[str]:
    return set(REPO_PATH.findall(text)) | {t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)}


def test_api_reference_is_in_sync():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
