"""rlexec: a live execution service that works parent orders with an RL policy under hard risk limits."""

from rlexec import native as _native

if _native.pure_python_requested():  # RLEXEC_PURE_PYTHON=1: the mypyc-compiled modules' source
    _native.use_source()

__version__ = "0.1.0"
