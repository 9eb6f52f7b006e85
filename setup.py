"""The compiled parts, each with a Python reference that stays the rule and the fallback:

- `rlexec/gateway/receive_loops.c`: the FIX receive path's per-message loops (without it,
  `rlexec.gateway.codec` runs its Python implementation, the same rules);
- `rlexec/models/policy_kernel.c`: the policy's dense layers (without it, or when it does not
  agree with ONNX Runtime on the loaded model, `OnnxPolicy` runs the model in ONNX Runtime).

Both are optional: without a C compiler and Python's headers the build goes on (the service
logs which one runs). Each build records its source's sha256, so a test can tell a stale build
from a current one. Everything else about the package is in pyproject.toml.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCES = {
    "rlexec.gateway.receive_loops": "rlexec/gateway/receive_loops.c",
    "rlexec.models.policy_kernel": "rlexec/models/policy_kernel.c",
}


def extension(name: str, source: str) -> Extension:
    sha256 = hashlib.sha256((Path(__file__).parent / source).read_bytes()).hexdigest()
    return Extension(
        name, [source], define_macros=[("SOURCE_SHA256", f'"{sha256}"')], optional=True
    )


setup(ext_modules=[extension(name, source) for name, source in SOURCES.items()])
