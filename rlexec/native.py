"""The hot path's Python modules that setup.py compiles with mypyc, and the switch back to their
source.

Everything between a market-data message and the NewOrderSingle it causes runs in these modules
(`bench/hotpath.py`); interpreted, their attribute reads and calls were most of the tick. They
stay ordinary typed Python: mypyc compiles the same source to C, type-checking it as it goes, so
there is no second implementation to keep in step. What differs is enforced typing at run time
(a wrong type passed in raises `TypeError`) and that their classes cannot be patched.

`RLEXEC_PURE_PYTHON=1` in the environment before `rlexec` is imported loads them from source
instead: the test suite runs their tests that way as well, and it is how to debug one. This
module imports nothing from `rlexec` (setup.py reads `MODULES` before anything is installed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
from collections.abc import Sequence
from hashlib import sha256
from pathlib import Path
from types import ModuleType

MODULES: tuple[str, ...] = (
    "rlexec.gateway.connection",
    "rlexec.gateway.session",
    "rlexec.market.book",
    "rlexec.market.features",
    "rlexec.market.fsm",
    "rlexec.models.port",
    "rlexec.risk.overlay",
    "rlexec.service.gate",
    "rlexec.service.live_execution",
    "rlexec.service.market",
    "rlexec.service.oms",
    "rlexec.service.parents",
)
GROUP = "rlexec.hotpath"
"""mypyc's shared library for them: `rlexec/hotpath__mypyc.*.so`."""
PURE_PYTHON_ENV = "RLEXEC_PURE_PYTHON"
BUILD_RECORD = Path(__file__).with_name("native_build.json")
"""Written by setup.py's build (git-ignored): what each compiled module was compiled from."""


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' `.py` files, ahead of the extension modules beside them."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES or path is None:
            return None
        source = (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, source).find_spec(fullname)
            if spec is not None:
                return spec
        return None


def use_source() -> None:
    """Import the modules from their `.py` files from now on (none may be imported yet)."""
    loaded = [name for name in MODULES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"{PURE_PYTHON_ENV}: already imported compiled: {', '.join(loaded)}")
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())


def pure_python_requested() -> bool:
    return os.environ.get(PURE_PYTHON_ENV, "") == "1"


def compiled() -> list[str]:
    """The modules of `MODULES` imported so far that run compiled."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [
        name
        for name in MODULES
        if (module := sys.modules.get(name)) is not None and str(_origin(module)).endswith(suffixes)
    ]


def stale() -> list[str]:
    """Compiled modules whose `.py` is not what was compiled: an edit that does not run until
    the package is built again (`make test` and `make demo` rebuild; by hand,
    `python setup.py build_ext --inplace`). Judged by the sources' sha256 that setup.py
    records (`BUILD_RECORD`), else, without that record, by modification times."""
    try:
        record: dict[str, str] | None = json.loads(BUILD_RECORD.read_text())
    except (OSError, ValueError):
        record = None
    library = sys.modules.get(GROUP + "__mypyc")
    # the code is in the shared library; a rebuild may leave a module's small extension as it was
    library_ns = _origin(library).stat().st_mtime_ns if library is not None else 0
    out = []
    for name in compiled():
        built = _origin(sys.modules[name])
        source = built.parent / (name.rpartition(".")[2] + ".py")
        if not built.exists() or not source.exists():
            continue
        if record is not None and name in record:
            if sha256(source.read_bytes()).hexdigest() != record[name]:
                out.append(name)
        elif source.stat().st_mtime_ns > max(built.stat().st_mtime_ns, library_ns):
            out.append(name)
    return out


def record_build(root: Path) -> None:
    """setup.py, as mypyc compiles: the sha256 of each module's source, for `stale`."""
    digests = {
        name: sha256((root / (name.replace(".", "/") + ".py")).read_bytes()).hexdigest()
        for name in MODULES
    }
    (root / BUILD_RECORD.relative_to(Path(__file__).parent.parent)).write_text(
        json.dumps(digests, indent=1) + "\n"
    )


def _origin(module: ModuleType) -> Path:
    """Where it was loaded from: the import system's word (a compiled module's own `__file__`
    may be built from the shared library's directory, which is not where it is)."""
    spec = module.__spec__
    return Path((spec.origin if spec is not None else None) or module.__file__ or "")
