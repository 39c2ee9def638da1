"""Write docs/api.md, the reference of ddfa's public inference API, from the docstrings.

    python docs/make_api.py            # rewrite docs/api.md
    python docs/make_api.py --check    # exit 1 if docs/api.md is out of date (tests/test_docs.py runs it)

It documents the names in ``__all__`` of the modules below (no torch needed): their signature and
docstring, and for classes their public methods and properties.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

MODULES = ("ddfa", "ddfa.pipeline", "ddfa.detect", "ddfa.io", "ddfa.export.mesh", "ddfa.errors")
# names documented under the first module that exports them; these are not repeated elsewhere
SKIP = {"ddfa.pipeline": {"FaceAligner", "Face", "faces_to_arrays"}, "ddfa.export.mesh": {"atomic_write"}}
OUT = Path(__file__).resolve().parent / "api.md"


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _signature(name: str, obj) -> str:
    try:
        return f"{name}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return name


def _members(cls) -> list[str]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(member, (property,)) or type(member).__name__ == "cached_property":
            doc = _doc(member)
            out.append(f"- `{name}` (property){': ' + doc if doc else ''}")
        elif isinstance(member, (staticmethod, classmethod)):
            fn = member.__func__
            out.append(f"- `{_signature(name, fn)}`{': ' + _doc(fn) if _doc(fn) else ''}")
        elif inspect.isfunction(member) and _doc(member):
            out.append(f"- `{_signature(name, member)}`: {_doc(member)}")
    return [line.replace("\n", "\n  ") for line in out]


def _entry(module: str, name: str, obj) -> list[str]:
    if inspect.isclass(obj):
        head = _signature(name, obj) if not issubclass(obj, BaseException) else f"{name}({obj.__bases__[0].__name__})"
        lines = [f"### class `{module}.{head}`", "", _doc(obj), ""]
        members = _members(obj)
        return lines + (members + [""] if members else [])
    if callable(obj):
        return [f"### `{module}.{_signature(name, obj)}`", "", _doc(obj), ""]
    value = "{" + ", ".join(map(repr, sorted(obj))) + "}" if isinstance(obj, (set, frozenset)) else repr(obj)
    return [f"### `{module}.{name}` = `{value}`", ""]


def render() -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings by `python docs/make_api.py`; a test keeps it in sync.",
             "Training, export and evaluation (`ddfa.train`, `ddfa.nets`, `ddfa.eval`, ...) need the `[train]`",
             "extra and are documented in their modules.", ""]
    for module in MODULES:
        mod = importlib.import_module(module)
        lines += [f"## `{module}`", "", _doc(mod), ""]
        for name in sorted(getattr(mod, "__all__", [])):
            if name.startswith("__") or name in SKIP.get(module, ()):
                continue
            lines += _entry(module, name, getattr(mod, name))
    text = "\n".join(lines)
    return "\n".join(line.rstrip() for line in text.splitlines()).replace("\n\n\n", "\n\n").strip() + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that docs/api.md is up to date")
    args = ap.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
