"""Where rlexec looks for the LOBSTER sample days when no path is given.

`RLEXEC_DATA_DIR` wins; otherwise `shared/data/lobster` beside the source checkout (where the
project keeps them), whatever the current directory is.
"""

from __future__ import annotations

import os
from pathlib import Path

AAPL_DAY = "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "data" / "lobster"


def data_dir() -> Path:
    configured = os.environ.get("RLEXEC_DATA_DIR")
    return Path(configured) if configured else _BESIDE_CHECKOUT


def default_data() -> str:
    return str(data_dir() / AAPL_DAY)
