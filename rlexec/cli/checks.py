"""Argument checks shared by the subcommands: a bad path is refused before any work starts.

Each raises `RlexecError` naming the flag, so `rlexec` prints one line and exits 2 (rather than
failing with an internal error minutes into a run, or after a folder has been half written).
"""

from __future__ import annotations

import os
from pathlib import Path

from rlexec.market.errors import RlexecError


def input_file(flag: str, value: str | Path) -> Path:
    """`value` as an existing, readable file; RlexecError naming `flag` otherwise."""
    path = Path(value)
    if path.is_dir():
        raise RlexecError(f"{flag} {path}: is a folder, expected a file")
    if not path.is_file():
        raise RlexecError(f"{flag} {path}: no such file")
    if not os.access(path, os.R_OK):
        raise RlexecError(f"{flag} {path}: cannot be read (permission denied)")
    return path


def output_folder(flag: str, value: str | Path) -> Path:
    """`value` as a folder that exists or can be made; RlexecError naming `flag` otherwise.

    Nothing is created here: the command makes the folder when it writes its outputs.
    """
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise RlexecError(f"{flag} {path}: exists and is not a folder")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise RlexecError(f"{flag} {path}: {ancestor} is a file, so no folder can be made there")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RlexecError(f"{flag} {path}: cannot write in {ancestor} (permission denied)")
    return path


def positive_int(flag: str, value: int) -> int:
    """`value` if above 0; RlexecError naming `flag` otherwise."""
    if value < 1:
        raise RlexecError(f"{flag} must be at least 1, got {value}")
    return value
