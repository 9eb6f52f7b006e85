"""The compiled parts, each with a Python reference that stays the rule and the fallback:

- `rlexec/gateway/receive_loops.c`: the FIX receive path's per-message loops (without it,
  `rlexec.gateway.codec` runs its Python implementation, the same rules);
- `rlexec/models/policy_kernel.c`: the policy's dense layers (without it, or when it does not
  agree with ONNX Runtime on the loaded model, `OnnxPolicy` runs the model in ONNX Runtime);
- the hot path's Python modules (`rlexec.native.MODULES`), compiled by mypyc from their own
  source into one shared library (`rlexec/hotpath__mypyc`), plus a small extension per module.

All are optional: without a C compiler and Python's headers the build goes on and everything
runs as Python (the service logs what runs compiled). `RLEXEC_PURE_PYTHON=1` at build time
skips mypyc. The two C files' builds record their source's sha256, so a test can tell a stale
build from a current one. Everything else about the package is in pyproject.toml.
"""

import os
import runpy
import shutil
import sysconfig
from hashlib import sha256
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
SOURCES = {
    "rlexec.gateway.receive_loops": "rlexec/gateway/receive_loops.c",
    "rlexec.models.policy_kernel": "rlexec/models/policy_kernel.c",
}
NATIVE = runpy.run_path(str(HERE / "rlexec" / "native.py"))


def extension(name: str, source: str) -> Extension:
    digest = sha256((HERE / source).read_bytes()).hexdigest()
    return Extension(
        name, [source], define_macros=[("SOURCE_SHA256", f'"{digest}"')], optional=True
    )


def can_compile() -> bool:
    """A C compiler and Python's headers: mypyc's output, unlike the two C files, is built all
    or nothing (a module's small extension without the shared library would not import)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.exists()


def mypyc_extensions() -> list[Extension]:
    if os.environ.get(NATIVE["PURE_PYTHON_ENV"]) == "1" or not can_compile():
        return []
    from mypyc.build import mypycify

    paths = [name.replace(".", "/") + ".py" for name in NATIVE["MODULES"]]
    # pip builds in an environment without the package's dependencies: what the twelve import
    # from them is typed Any there, and the rest of rlexec is followed for types but not
    # judged (`make test` runs mypy over all of it with the dependencies installed)
    options = ["--follow-imports=silent", "--ignore-missing-imports"]
    extensions = mypycify(options + paths, opt_level="3", group_name=NATIVE["GROUP"])
    NATIVE["record_build"](HERE)  # what was compiled, so a stale build can be told apart
    return extensions


setup(
    ext_modules=[extension(name, source) for name, source in SOURCES.items()] + mypyc_extensions()
)
