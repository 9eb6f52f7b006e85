"""The QuickFIX interop test is collected only where it can run: the `quickfix` bindings are
installed and a private network namespace can be made (QuickFIX's acceptor binds every
interface, so it runs inside `unshare --net`, where the only interface is loopback)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess


def _interop_possible() -> bool:
    if importlib.util.find_spec("quickfix") is None:
        return False
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    try:
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


collect_ignore = [] if _interop_possible() else ["test_quickfix_interop.py"]
