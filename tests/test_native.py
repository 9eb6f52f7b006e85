"""The hot path's modules run compiled by mypyc where built, and from source on request."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from rlexec import native

REPO = Path(__file__).resolve().parent.parent


def run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != native.PURE_PYTHON_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**environ, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


IMPORT_ALL = (
    "import importlib, rlexec.native as n\n"
    "for m in n.MODULES: print(m, importlib.import_module(m).__file__)\n"
)


def files(out: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_every_hot_path_module_runs_compiled_in_this_build() -> None:
    """`make test` builds with a compiler (scripts/ensure-compiler.sh): all of them compiled.
    The child process imports without RLEXEC_PURE_PYTHON, so this holds in either run."""
    loaded = files(run(IMPORT_ALL))
    extension = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    assert sorted(loaded) == sorted(native.MODULES)
    assert [m for m, f in loaded.items() if not f.endswith(extension)] == []
    assert native.stale() == []


def test_pure_python_loads_every_one_from_its_source() -> None:
    loaded = files(run(IMPORT_ALL, RLEXEC_PURE_PYTHON="1"))
    assert sorted(loaded) == sorted(native.MODULES)
    for name, file in loaded.items():
        assert file == str(REPO / (name.replace(".", "/") + ".py")), name
    out = run(
        "import rlexec.native as n, rlexec.service.runtime\nprint(len(n.compiled()))",
        RLEXEC_PURE_PYTHON="1",
    )
    assert out.strip() == "0"


def test_the_switch_is_refused_once_a_compiled_module_is_imported() -> None:
    out = run(
        "import rlexec.risk.overlay, rlexec.native as n\n"
        "try:\n    n.use_source()\nexcept RuntimeError as e:\n    print(e)\n"
    )
    assert "already imported" in out and "rlexec.risk.overlay" in out


def fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, Path]:
    """A compiled module (in `sys.modules`) built at `built` from `source`, in `tmp_path`."""
    name = native.MODULES[0]
    built = tmp_path / ("connection" + importlib.machinery.EXTENSION_SUFFIXES[0])
    source = tmp_path / "connection.py"
    source.write_text("x = 1\n")
    built.write_bytes(b"")
    fake = ModuleType(name)
    fake.__file__ = str(built)
    monkeypatch.setitem(sys.modules, name, fake)
    monkeypatch.setattr(native, "BUILD_RECORD", tmp_path / "native_build.json")
    assert name in native.compiled()
    return name, built, source


def test_a_source_edited_after_the_build_is_reported_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, built, source = fake_build(tmp_path, monkeypatch)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    native.BUILD_RECORD.write_text(json.dumps({name: digest}))
    now = time.time()
    os.utime(built, (now - 10, now - 10))  # touched after the build (a checkout), not changed
    assert name not in native.stale()
    source.write_text("x = 2\n")
    assert name in native.stale()


def test_without_a_build_record_a_source_newer_than_its_build_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, built, source = fake_build(tmp_path, monkeypatch)
    now = time.time()
    os.utime(source, (now - 10, now - 10))
    assert name not in native.stale()
    os.utime(source, (now, now))
    os.utime(built, (now - 10, now - 10))
    assert name in native.stale()


def test_the_build_records_what_it_compiled(tmp_path: Path) -> None:
    record = tmp_path / "rlexec" / "native_build.json"
    record.parent.mkdir()
    for name in native.MODULES:
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
    native.record_build(tmp_path)
    digests = json.loads(record.read_text())
    assert sorted(digests) == sorted(native.MODULES)
    assert (
        digests[native.MODULES[1]]
        == hashlib.sha256(f"# {native.MODULES[1]}\n".encode()).hexdigest()
    )
