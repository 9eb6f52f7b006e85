"""Where the command line looks for LOBSTER data when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

AAPL_DAY = "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"


def data_dir() -> Path:
    return Path(os.environ.get("RLEXEC_DATA_DIR", "../shared/data/lobster"))


def default_data() -> str:
    return str(data_dir() / AAPL_DAY)
