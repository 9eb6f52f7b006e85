"""`rlexec` entry point: subcommands are registered here and imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, cast

from rlexec import __version__
from rlexec.market.errors import RlexecError


class Command(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def run(self, args: argparse.Namespace) -> int: ...


# name → module in rlexec.cli; each module has HELP, add_arguments() and run().
COMMANDS: dict[str, str] = {
    "fix-probe": "fix_probe",
    "replay": "replay",
    "venue": "venue",
    "train": "train",
    "export": "export",
    "backtest": "backtest",
    "sweep": "sweep",
    "serve": "serve",
    "demo": "demo",
    "parents": "parents",
    "kill": "kill",
    "resume": "resume",
}


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr, exit 2 (argparse prints its whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rlexec",
        description="Live execution service: an RL policy works parent orders under hard risk limits.",
    )
    parser.add_argument("--version", action="version", version=f"rlexec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        cmd = cast(Command, importlib.import_module(f"rlexec.cli.{module}"))
        p = sub.add_parser(name, help=cmd.HELP, description=cmd.HELP)
        cmd.add_arguments(p)
        p.set_defaults(_command=cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cmd = cast(Command, args._command)
    try:
        return cmd.run(args)
    except RlexecError as exc:
        print(f"rlexec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rlexec {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("RLEXEC_DEBUG"):
            raise
        print(
            f"rlexec {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set RLEXEC_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
