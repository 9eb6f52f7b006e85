"""Two ticker-days for multi-file tests that touch no test split of the evaluation plan.

The plan's test splits are AAPL 13:00–15:55 and AMZN 09:35–13:00, so no window is off-test
for both sample files. The tests run on AAPL's validation window (11:25–13:00) instead, over
the AAPL day and the same day named as another date (2012-06-22, in no split); AMZN's day
lies beside them for VWAP's cross-ticker profile, as in the data folder.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import AAPL_1, AMZN_1

WINDOW, STATS_WINDOW = "11:25-12:45", "09:35-11:25"


def two_days(data_dir: Path, folder: Path) -> list[Path]:
    """Symlinks in `folder`: the AAPL day, the AAPL day as 2012-06-22, the AMZN day. Returns
    the two AAPL message files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (AAPL_1, AMZN_1):
        for kind in ("message", "orderbook"):
            real = data_dir / name.replace("_message_", f"_{kind}_")
            (folder / real.name).symlink_to(real)
    alias = AAPL_1.replace("2012-06-21", "2012-06-22")
    for kind in ("message", "orderbook"):
        real = data_dir / AAPL_1.replace("_message_", f"_{kind}_")
        (folder / alias.replace("_message_", f"_{kind}_")).symlink_to(real)
    return [folder / AAPL_1, folder / alias]
