"""FIX venue settings: validated once at start (a bad value names its key), frozen afterwards.

Read from a TOML or JSON file (`rlexec venue --config FILE`), with command-line options
laid over it, through the shared loader (`rlexec.market.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rlexec.market.settings import SettingsError, load_settings
from rlexec.simulator.config import ReplayConfig


def _comp_id(value: str) -> str:
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError(f"must be printable ASCII without spaces, got {value!r}")
    return value


class FaultConfig(BaseModel):
    """Faults the venue injects on one client's session, for testing the client's recovery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    disconnect_after_messages: int | None = Field(default=None, ge=1)
    """Drop the connection (no Logout) right after the N-th application message received."""
    reply_delay_s: float = Field(default=0.0, ge=0, le=60)
    """Hold every application message to the client this long before sending it."""
    skip_outbound_message: int | None = Field(default=None, ge=1)
    """The N-th application message to the client is numbered and stored but never written:
    the client sees a sequence gap at the next one and must ask for a resend."""
    garble_outbound_message: int | None = Field(default=None, ge=1)
    """The N-th application message to the client goes out with a broken checksum."""

    @property
    def any(self) -> bool:
        return bool(
            self.disconnect_after_messages
            or self.reply_delay_s
            or self.skip_outbound_message
            or self.garble_outbound_message
        )


class ClientConfig(BaseModel):
    """One allowed counterparty (its SenderCompID) and how it is treated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    comp_id: str
    username: str | None = None
    password: str | None = None
    """When set, the client's Logon must carry it (Password, 554)."""
    cancel_on_disconnect: bool = True
    throttle_reject_per_s: int | None = Field(default=200, ge=1)
    """Above this many application messages in one second: BusinessMessageReject."""
    throttle_logout_per_s: int | None = Field(default=1_000, ge=1)
    """Above this many: Logout and disconnect."""
    faults: FaultConfig = FaultConfig()

    _check_comp_id = field_validator("comp_id")(_comp_id)

    @model_validator(mode="after")
    def _throttle_order(self) -> ClientConfig:
        r, lo = self.throttle_reject_per_s, self.throttle_logout_per_s
        if r is not None and lo is not None and lo < r:
            raise ValueError(
                f"throttle_logout_per_s ({lo}) must be at least throttle_reject_per_s ({r})"
            )
        return self


class VenueConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    data: Path
    """LOBSTER message file (its orderbook file is found beside it)."""
    host: str = "127.0.0.1"
    port: int = Field(default=9878, ge=0, le=65_535)
    comp_id: str = "VENUE"
    clients: tuple[ClientConfig, ...] = (ClientConfig(comp_id="CLIENT"),)
    speed: float = Field(default=1.0, ge=0)
    """Replay time per wall time; 0 = as fast as possible."""
    start: str | None = None
    """Replay from this New York time of day (HH:MM[:SS]); default the start of the file."""
    autoplay: bool = True
    """Drive the replay by the clock; False leaves it to the embedding code (tests)."""
    market_data_depth: int = Field(default=10, ge=1, le=100)
    """Most price levels per side a market-data subscription can get."""
    max_subscriptions_per_client: int = Field(default=16, ge=1, le=10_000)
    """Market-data subscriptions one client may hold; one more is refused (MDReqRejReason 2)."""
    price_band_pct: float | None = Field(default=25.0, gt=0, le=1_000)
    """Limit orders priced further than this from the reference (the recorded market's mid,
    else the book's mid, else the last trade) are rejected; None disables the band."""
    max_connections: int = Field(default=64, ge=1, le=100_000)
    """Open FIX connections at once (logged on or not)."""
    max_failed_logons: int = Field(default=5, ge=1)
    """Failed logons in a row per CompID and per peer address before a lockout."""
    logon_lockout_s: float = Field(default=60.0, ge=0)
    """First lockout after `max_failed_logons`; doubles with each further failure."""
    store_dir: Path | None = None
    """Keep FIX sequence numbers and sent messages in files here; None = in memory."""
    busy_poll_us: int = Field(default=0, ge=0, le=1_000_000)
    """Poll for this long after FIX traffic rather than sleep (rlexec.gateway.busy_poll); 0 = off."""
    replay: ReplayConfig = ReplayConfig()

    _check_comp_id = field_validator("comp_id")(_comp_id)

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time_of_day(value)
        return value

    @field_validator("clients")
    @classmethod
    def _unique_clients(
        cls, clients: tuple[ClientConfig, ...], info: ValidationInfo
    ) -> tuple[ClientConfig, ...]:
        ids = [c.comp_id for c in clients]
        if not ids:
            raise ValueError("at least one client comp id is needed")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"comp id {dupes[0]!r} is listed twice")
        if info.data.get("comp_id") in ids:
            raise ValueError(f"{info.data['comp_id']!r} is the venue's own comp id")
        return clients

    @property
    def start_ns(self) -> int | None:
        return None if self.start is None else parse_time_of_day(self.start)


def parse_time_of_day(text: str) -> int:
    """'HH:MM' or 'HH:MM:SS[.fff]' as nanoseconds after midnight."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        hours, minutes = int(parts[0]), int(parts[1])
        seconds = float(parts[2]) if len(parts) == 3 else 0.0
        if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60):
            raise ValueError
    except ValueError:
        raise ValueError("must be a time of day HH:MM[:SS]") from None
    return (hours * 3600 + minutes * 60) * 1_000_000_000 + round(seconds * 1e9)


class VenueConfigError(SettingsError):
    """A bad venue setting: names the key, the file or flag it came from, and the reason."""

    what = "venue"


def load_venue_config(path: Path | None, overrides: Mapping[str, Any]) -> VenueConfig:
    """The file's settings (TOML or JSON) with command-line `overrides` on top (None = not given).

    An error names the key and its source: the file, or the flag (`--port` for `port`).
    """
    return load_settings(
        VenueConfig,
        path=path,
        section=None,
        env_prefix=None,
        overrides=overrides,
        error=VenueConfigError,
    )
