"""The ``ddfa`` command. Each subcommand lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ddfa import __version__

SUBCOMMANDS = ("ddfa.cli.model_cmd", "ddfa.cli.eval_cmd", "ddfa.cli.data_cmd", "ddfa.cli.train_cmd",
               "ddfa.cli.align_cmd", "ddfa.cli.video_cmd", "ddfa.cli.webcam_cmd", "ddfa.cli.export_cmd",
               "ddfa.cli.bench_cmd")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (subcommand parsers inherit it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ddfa",
        description="Fast, accurate and stable 3D dense face alignment.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ddfa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``ddfa`` command; every error is one line on stderr (``DDFA_DEBUG=1`` re-raises it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from ddfa.errors import DDFAError

    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("ddfa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("DDFA_DEBUG", "") not in ("", "0"):
            raise
        known = isinstance(exc, (DDFAError, OSError))
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if not known:
            what = f"{type(exc).__name__}: {what}" if what else type(exc).__name__
            what += " (unexpected; run with DDFA_DEBUG=1 for the traceback)"
        print(f"ddfa: error: {what}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
