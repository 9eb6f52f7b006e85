"""The one compiled part: the FIX receive path's per-message loops, `receive_loops.c`.

Optional: without a C compiler and Python's headers the build goes on and `rlexec.gateway.codec`
uses its Python implementation, the same rules (the service logs which one runs). The build
records the source's sha256, so a test can tell a stale build from a current one.
Everything else about the package is in pyproject.toml.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "rlexec/gateway/receive_loops.c"
SHA256 = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(
    ext_modules=[
        Extension(
            "rlexec.gateway.receive_loops",
            [SOURCE],
            define_macros=[("SOURCE_SHA256", f'"{SHA256}"')],
            optional=True,
        )
    ]
)
