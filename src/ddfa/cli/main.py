"""The ``ddfa`` command. Each subcommand lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from ddfa import __version__

SUBCOMMANDS = ("ddfa.cli.model_cmd", "ddfa.cli.eval_cmd", "ddfa.cli.data_cmd", "ddfa.cli.train_cmd",
               "ddfa.cli.align_cmd", "ddfa.cli.video_cmd", "ddfa.cli.webcam_cmd", "ddfa.cli.export_cmd",
               "ddfa.cli.bench_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from ddfa.errors import DDFAError

    try:
        return int(args.run(args) or 0)
    except DDFAError as exc:
        print(f"ddfa: error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"ddfa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ddfa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
