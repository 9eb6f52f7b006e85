"""Risk limits: frozen, validated once at start from a TOML file and `RLEXEC_RISK_*` variables.

Every limit is either required or has the safe default stated next to it. A missing or bad
value raises `RiskConfigError` naming the key (`symbols.AAPL.max_order_qty`), where the value
came from and the reason, so start-up stops with a line a person can act on (the loader is
`rlexec.market.settings`, shared with the venue and the service). While running, limits can only be
*tightened* (`tightened`): a change that loosens any limit is refused with the key.

Units: quantities in shares, money in the quote currency (dollars), prices in the integer
units of `rlexec.market.instrument` only inside the overlay, times in milliseconds.

File layout (the `[risk]` table of a larger file, or the whole file)::

    [risk]
    max_gross_position = 50000        # shares, worst case incl. working orders, all symbols
    max_daily_loss = 25000.0          # realised + unrealised at mid; a breach halts

    [risk.symbols.AAPL]
    max_position = 20000              # sets max_long_position and max_short_position
    max_order_qty = 5000
    max_order_notional = 3000000.0

Environment variables override the file: `RLEXEC_RISK_MAX_DAILY_LOSS=10000`,
`RLEXEC_RISK_TRADING_WINDOW__END=15:45`, `RLEXEC_RISK_SYMBOLS__AAPL__MAX_ORDER_QTY=1000`
(`__` separates levels; the symbol is kept as written, field names are case-insensitive),
or a whole table as JSON: `RLEXEC_RISK_SYMBOLS='{"AAPL": {"max_position": 100, ...}}'`
(merged key by key into the file's table). An empty variable counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rlexec.market.settings import load_settings, validation_error
from rlexec.risk.errors import LimitLooseningError, RiskConfigError

ENV_PREFIX = "RLEXEC_RISK_"


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


PosInt = Annotated[int, BeforeValidator(_no_bool), Field(gt=0)]
NonNegInt = Annotated[int, BeforeValidator(_no_bool), Field(ge=0)]
PosFloat = Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)]

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True)


class SymbolLimits(BaseModel):
    """Limits of one allowed symbol; a symbol without an entry is not allowed at all."""

    model_config = _FROZEN

    max_long_position: NonNegInt
    """Required (or via `max_position`). Position + every working buy must stay within it."""
    max_short_position: NonNegInt
    """Required (or via `max_position`). -(position - every working sell) must stay within it."""
    min_order_qty: PosInt = 1
    """Default 1 share."""
    max_order_qty: PosInt
    """Required."""
    max_order_notional: PosFloat
    """Required, in currency: quantity × limit price (× reference mid for a market order)."""
    price_collar_bps: PosFloat | None = None
    """Default: the global `price_collar_bps`."""

    @model_validator(mode="before")
    @classmethod
    def _max_position_sets_both(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "max_position" in data:
            data = dict(data)
            both = data.pop("max_position")
            data.setdefault("max_long_position", both)
            data.setdefault("max_short_position", both)
        return data

    @field_validator("max_order_qty")
    @classmethod
    def _min_not_above_max(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_order_qty")
        if low is not None and low > value:
            raise ValueError(f"max_order_qty={value} is below min_order_qty={low}")
        return value


class TradingWindow(BaseModel):
    """The daily window, in the venue's local time, in which new orders may be sent.

    Default 09:30–16:00 America/New_York (Nasdaq's continuous session); start inclusive,
    end exclusive. It applies every calendar day: holidays are the service's business.
    """

    model_config = _FROZEN

    start: time = time(9, 30)
    end: time = time(16, 0)
    tz: str = "America/New_York"

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give a local time without an offset; the zone goes in `tz`")
        return value

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError(f"end {value} is not after start {start} (no overnight windows)")
        return value

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class RiskLimits(BaseModel):
    """Every limit the overlay enforces. Frozen: change it only through `tightened`."""

    model_config = _FROZEN

    symbols: dict[str, SymbolLimits] = Field(min_length=1)
    """Required: the allow-list, with each symbol's own limits."""
    max_gross_position: PosInt
    """Required, shares: sum over symbols of the worst-case absolute position incl. working orders."""
    max_daily_loss: PosFloat
    """Required, currency: realised + unrealised (at mid) loss beyond it trips HALTED."""
    max_working_orders: PosInt = 10
    """Default 10 orders sent and not yet filled, cancelled or rejected (approved ones included)."""
    max_orders_per_s: PosInt = 10
    """Default 10 new orders a second (token bucket refill rate)."""
    order_burst: PosInt | None = None
    """Default: `max_orders_per_s` (token bucket depth)."""
    max_messages_per_s: PosInt = 20
    """Default 20 messages (new orders + cancels) a second; cancels are counted, never blocked."""
    message_burst: PosInt | None = None
    """Default: `max_messages_per_s`."""
    price_collar_bps: PosFloat = 100.0
    """Default 100 bps: how far through the reference mid a limit price may be."""
    max_reference_age_ms: PosInt = 1000
    """Default 1000 ms: no new order on a reference mid older than this."""
    duplicate_window_ms: PosInt = 1000
    """Default 1000 ms: the same symbol, side, quantity and price again sooner is refused."""
    max_fills: PosInt = 50
    """Default 50: more fills than this within `fill_window_ms` trips REDUCING."""
    fill_window_ms: PosInt = 10_000
    """Default 10 000 ms."""
    approval_ttl_ms: PosInt = 1000
    """Default 1000 ms: an approval not sent by then is void and its reservation released."""
    trading_window: TradingWindow = TradingWindow()

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_names(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for name in value:
                if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
                    raise ValueError(f"symbol {name!r} is not a valid symbol")
        return value

    @field_validator("order_burst")
    @classmethod
    def _order_burst_default(cls, value: int | None, info: ValidationInfo) -> int | None:
        return value if value is not None else info.data.get("max_orders_per_s")

    @field_validator("message_burst")
    @classmethod
    def _message_burst_default(cls, value: int | None, info: ValidationInfo) -> int | None:
        return value if value is not None else info.data.get("max_messages_per_s")

    def collar_bps(self, symbol: str) -> float:
        """The price collar in force for one symbol (its own, else the global one)."""
        own = self.symbols[symbol].price_collar_bps
        return own if own is not None else self.price_collar_bps


# -- loading -----------------------------------------------------------------------------


def load_limits(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    section: str = "risk",
    base: Mapping[str, Any] | None = None,
    base_source: str = "defaults",
) -> RiskLimits:
    """Read the TOML file (its `[section]` table if it has one), apply `RLEXEC_RISK_*`, validate.

    Raises `RiskConfigError` naming the key, where its value came from (the file or the
    variable) and the reason. `RLEXEC_RISK_CONFIG` is the service's name for the file, not a
    limit, so it is not read here. `base`: limits under the file's (the service's defaults).
    """
    return load_settings(
        RiskLimits,
        path=None if path is None else Path(path),
        section=section or None,
        env_prefix=ENV_PREFIX,
        environ=env,
        error=RiskConfigError,
        env_ignore=(ENV_PREFIX + "CONFIG",),
        base=base,
        base_source=base_source,
    )


def validate_limits(data: Mapping[str, Any]) -> RiskLimits:
    """Validate a plain mapping into `RiskLimits`, turning pydantic's errors into `RiskConfigError`."""
    try:
        return RiskLimits.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, RiskConfigError) from None


# -- run-time tightening -----------------------------------------------------------------

Direction = Literal["lower", "higher", "window", "symbols"]

STRICTER: Mapping[str, Direction] = {
    # RiskLimits
    "symbols": "symbols",
    "max_gross_position": "lower",
    "max_daily_loss": "lower",
    "max_working_orders": "lower",
    "max_orders_per_s": "lower",
    "order_burst": "lower",
    "max_messages_per_s": "lower",
    "message_burst": "lower",
    "price_collar_bps": "lower",
    "max_reference_age_ms": "lower",
    "duplicate_window_ms": "higher",
    "max_fills": "lower",
    "fill_window_ms": "higher",
    "approval_ttl_ms": "lower",
    "trading_window": "window",
    # SymbolLimits (the collar is compared as the effective value, own or global)
    "max_long_position": "lower",
    "max_short_position": "lower",
    "min_order_qty": "higher",
    "max_order_qty": "lower",
    "max_order_notional": "lower",
}
"""For every limit, which way is stricter. A test checks that no field is missing."""


def tightened(
    limits: RiskLimits,
    changes: Mapping[str, Any],
    symbols: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> RiskLimits:
    """The limits with `changes` applied, if every change is at least as strict.

    `changes` names global fields; `symbols` maps a symbol to its field changes, or to None
    to take it off the allow-list. Adding a symbol, or loosening anything, raises
    `LimitLooseningError` naming the key; an invalid value raises `RiskConfigError`.
    """
    data = limits.model_dump()
    for key, value in changes.items():
        if key == "symbols":
            raise RiskConfigError(key, "pass symbol changes through the `symbols` argument")
        if key not in RiskLimits.model_fields:
            raise RiskConfigError(key, "unknown key")
        if key == "trading_window" and isinstance(value, Mapping):
            value = {**data["trading_window"], **value}
        elif isinstance(value, BaseModel):
            value = value.model_dump()
        data[key] = value
    for name, sym_changes in (symbols or {}).items():
        if name not in data["symbols"]:
            raise LimitLooseningError(f"symbols.{name}", "adding a symbol to the allow-list")
        if sym_changes is None:
            del data["symbols"][name]
            continue
        for key in sym_changes:
            if key not in SymbolLimits.model_fields and key != "max_position":
                raise RiskConfigError(f"symbols.{name}.{key}", "unknown key")
        merged = {**data["symbols"][name], **sym_changes}
        if "max_position" in sym_changes:
            merged.pop("max_long_position", None)
            merged.pop("max_short_position", None)
            for side in ("max_long_position", "max_short_position"):
                if side in sym_changes:
                    merged[side] = sym_changes[side]
        data["symbols"][name] = merged
    new = validate_limits(data)
    _refuse_loosening(limits, new)
    return new


def _refuse_loosening(old: RiskLimits, new: RiskLimits) -> None:
    for key in RiskLimits.model_fields:
        if key in ("symbols", "price_collar_bps"):
            continue
        _compare(key, getattr(old, key), getattr(new, key), STRICTER[key])
    for name, new_sym in new.symbols.items():
        old_sym = old.symbols.get(name)
        if old_sym is None:
            raise LimitLooseningError(f"symbols.{name}", "adding a symbol to the allow-list")
        for key in SymbolLimits.model_fields:
            if key == "price_collar_bps":
                continue
            _compare(
                f"symbols.{name}.{key}", getattr(old_sym, key), getattr(new_sym, key), STRICTER[key]
            )
        _compare(
            f"symbols.{name}.price_collar_bps", old.collar_bps(name), new.collar_bps(name), "lower"
        )


def _compare(key: str, old: Any, new: Any, direction: Direction) -> None:
    if old == new:
        return
    if direction == "lower" and new > old:
        raise LimitLooseningError(key, f"{new} is looser than {old} (must not go up)")
    if direction == "higher" and new < old:
        raise LimitLooseningError(key, f"{new} is looser than {old} (must not go down)")
    if direction == "window":
        assert isinstance(old, TradingWindow) and isinstance(new, TradingWindow)
        if new.tz != old.tz:
            raise LimitLooseningError(key, f"changing the zone {old.tz} → {new.tz}")
        if new.start < old.start or new.end > old.end:
            raise LimitLooseningError(
                key,
                f"{new.start}–{new.end} is not inside {old.start}–{old.end}",
            )
