"""`rlexec serve` settings: validated once at start, frozen, from file < `RLEXEC_*` < flags.

The file is TOML (`--config FILE`), its `[service]` table if it has one; the same file may
hold the `[risk]` limits (`risk_config` pointing at it). Variables: `RLEXEC_<FIELD>`, e.g.
`RLEXEC_VENUE=host:9878`, `RLEXEC_SYMBOLS=AAPL,MSFT` (or JSON), `RLEXEC_PARENTS='["buy 100
AAPL 10m twap"]'`. Only this model's own fields are read: other components' variables
(`RLEXEC_RISK_*`, `RLEXEC_API_TOKENS`, `RLEXEC_DATA_DIR`, ...) pass untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from rlexec.market.instrument import PRICE_SCALE
from rlexec.market.settings import SettingsError, load_settings
from rlexec.risk import RiskConfigError, RiskLimits, load_limits, validate_limits

ENV_PREFIX = "RLEXEC_"
SECTION = "service"


FOREIGN_ENV = ("RISK_", "API_TOKEN", "VENUE_", "DATA_DIR", "DEBUG", "FIX_CODEC")
"""`RLEXEC_*` variables of other components (after the prefix): never taken for a misspelt
setting of ours (`RLEXEC_VENUE_BUSY_POLL_US` is close to `busy_poll_us`, and not ours)."""


class ServiceConfigError(SettingsError):
    """A bad `rlexec serve` setting: names the key, the file, variable or flag, and the reason."""

    what = "service"


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


PosInt = Annotated[int, BeforeValidator(_no_bool), Field(gt=0)]
PosFloat = Annotated[float, BeforeValidator(_no_bool), Field(gt=0, allow_inf_nan=False)]

_FROZEN = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _comp_id(value: str) -> str:
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("must be printable ASCII without spaces")
    return value


_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,23}")


def _symbol(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a symbol (text), got {type(value).__name__}")
    if _SYMBOL.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a valid symbol (letters, digits and . _ / -)")
    return value


def split_host_port(text: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') as (host, port); ValueError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError("must be HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or " " in host:
        raise ValueError("must be HOST:PORT with a host name or address")
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65_535:
        raise ValueError(f"port {port} is outside {low}..65535")
    return host, port


# -- parent orders ---------------------------------------------------------------------------

MAX_PARENT_QUANTITY = 1_000_000_000
"""Shares: a sanity bound (the risk limits in force bound what can actually trade)."""
MAX_HORIZON_S = 86_400.0
"""One day: a parent is worked within a trading day (its schedule has one slot per decision)."""
MIN_HORIZON_S = 1.0
"""A second: a shorter parent is a market order (it goes straight to its horizon take), and
a horizon that rounds to 0 ns has no schedule to measure progress against."""
MIN_LIMIT_PRICE = 1 / PRICE_SCALE
"""The smallest price the integer price format holds (one 1/10,000 unit)."""
MAX_LIMIT_PRICE = 10_000_000.0
"""Currency units: far above any share price (the dearest listed share trades under a million),
and low enough that the limit in 1/10,000 units (at most 10^11) is an exact float and an integer
of 12 digits, well within the FIX integer bound (`gateway.codec.MAX_INT_DIGITS`, 18): the
service turns it into integer units, snaps it to the tick grid and may send it as a price."""
MIN_DECISION_INTERVAL_S = 0.1


def _client_id(value: Any) -> Any:
    if isinstance(value, str) and not (
        1 <= len(value) <= 64 and value.isprintable() and value.isascii()
    ):
        raise ValueError("must be 1 to 64 printable ASCII characters")
    return value


class ParentSpec(BaseModel):
    """A parent order to work: what, how much, over how long, with which algo."""

    model_config = _FROZEN

    symbol: Annotated[str, BeforeValidator(_symbol)]
    side: Literal["buy", "sell"]
    quantity: Annotated[int, BeforeValidator(_no_bool), Field(gt=0, le=MAX_PARENT_QUANTITY)]
    """Shares, 1 to `MAX_PARENT_QUANTITY` (a sanity bound: the risk limits bound each order)."""
    horizon_s: Annotated[
        float,
        BeforeValidator(_no_bool),
        Field(ge=MIN_HORIZON_S, le=MAX_HORIZON_S, allow_inf_nan=False),
    ]
    """Seconds, `MIN_HORIZON_S` (1) to `MAX_HORIZON_S` (a day): see both for why."""
    algo: Literal[
        "rl", "twap", "twap_inside", "passive_first", "vwap", "pov", "ac", "ac_neutral", "sal"
    ] = "rl"
    limit_price: (
        Annotated[
            float,
            BeforeValidator(_no_bool),
            Field(ge=MIN_LIMIT_PRICE, le=MAX_LIMIT_PRICE, allow_inf_nan=False),
        ]
        | None
    ) = None
    """Worst price in currency units; None = no limit. Bounded by `MAX_LIMIT_PRICE`: the
    service works it as an integer number of 1/10,000 units, which must fit the FIX price
    format (a limit of 1e305 once overflowed that conversion on every market update)."""
    max_participation: (
        Annotated[float, BeforeValidator(_no_bool), Field(gt=0, le=1, allow_inf_nan=False)] | None
    ) = None
    """Largest fraction of market volume this parent may take; None = no cap. Within (0, 1]
    needs no further bound: the cap p/(1 − p) × volume is finite for every p below 1 (p = 1 is
    no cap), and a tiny p only means the parent trades little or nothing."""
    client_id: Annotated[str, BeforeValidator(_client_id)] | None = None
    """The caller's own id: a repeat with the same order returns the first parent, for as long
    as that parent is live (archived the trading day after it ended, its id is free again)."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return parent_words(data) if isinstance(data, str) else data


_HORIZON = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_OPTIONS = {"limit": "limit_price", "pov": "max_participation", "id": "client_id"}


def parse_parent_option(text: str) -> ParentSpec:
    """`SIDE QTY SYMBOL HORIZON [ALGO] [limit=P] [pov=F] [id=ID]` as a `ParentSpec`.

    Example: `buy 30000 AAPL 600s rl limit=585.5 pov=0.1 id=abc`; the horizon takes `s`,
    `m` or `h`. A ValueError names the bad word.
    """
    data = parent_words(text)
    try:
        return ParentSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        option = next((k for k, v in _OPTIONS.items() if v == field), None)
        words = text.split()
        if option is not None:
            word = next(w for w in words if w.lower().startswith(option + "="))
        else:
            word = next((w for w in words if w == str(data.get(field))), text)
        reason = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{word!r}: {field}: {reason}") from None


def parent_words(text: str) -> dict[str, Any]:
    """The fields the words of a `--parent` text give (checked by `ParentSpec`).

    ValueError names the word that cannot be read.
    """
    words = text.split()
    if len(words) < 4:
        raise ValueError(
            f"{text!r}: expected SIDE QTY SYMBOL HORIZON [ALGO] [limit=P] [pov=F] [id=ID]"
        )
    side, qty, symbol, horizon, *rest = words
    data: dict[str, Any] = {"symbol": symbol}
    if side.lower() not in ("buy", "sell"):
        raise ValueError(f"side {side!r}: expected buy or sell")
    data["side"] = side.lower()
    qty_text = qty.replace("_", "").replace(",", "")
    if not qty_text.isdigit() or int(qty_text) <= 0:
        raise ValueError(f"quantity {qty!r}: expected a whole number of shares above 0")
    data["quantity"] = int(qty_text)
    match = _HORIZON.match(horizon.lower())
    if match is None:
        raise ValueError(f"horizon {horizon!r}: expected a duration like 600s, 10m or 1h")
    data["horizon_s"] = float(match[1]) * _UNIT_S[match[2]]
    for i, word in enumerate(rest):
        name, eq, value = word.partition("=")
        if not eq:
            if i != 0:
                raise ValueError(f"{word!r}: the algo comes right after the horizon")
            data["algo"] = word.lower()
            continue
        field = _OPTIONS.get(name.lower())
        if field is None:
            raise ValueError(f"{word!r}: unknown option (expected limit=, pov= or id=)")
        if field in data:
            raise ValueError(f"{word!r}: {name} given twice")
        if not value:
            raise ValueError(f"{word!r}: {name} needs a value")
        data[field] = value
    return data


# -- the service settings --------------------------------------------------------------------

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ServiceSettings(BaseModel):
    """Everything `rlexec serve` needs, checked once. Field names are the config keys."""

    model_config = _FROZEN

    venue: str = "127.0.0.1:9878"
    """The FIX venue, HOST:PORT (both sessions connect there)."""
    sender: Annotated[str, BeforeValidator(_comp_id)] = "CLIENT"
    """SenderCompID of the order-entry session."""
    md_sender: Annotated[str, BeforeValidator(_comp_id)] = "CLIENT-MD"
    """SenderCompID of the market-data session."""
    target: Annotated[str, BeforeValidator(_comp_id)] = "VENUE"
    """The venue's CompID (TargetCompID of both sessions)."""
    password: SecretStr | None = None
    """Sent in the Logon (554) when set."""
    heartbeat_s: PosInt = 30
    api: str = "127.0.0.1:8080"
    """The HTTP API, HOST:PORT (port 0 = any free port)."""
    state: str = "memory"
    """`memory`, or a Redis URL (`redis://`, `rediss://`, `unix://`)."""
    state_archive_days: Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=3650)] = 30
    """Days an archived trading day's parents, children and fills are kept (Redis:
    `N:archive:DAY:*`; the memory store: as long as the process lives, at most this) before
    they expire (0 = until deleted). What is archived: parents over
    before the trading day began, once all their children are done (`service.retention`)."""
    model: Path | None = None
    """The ONNX policy; None = the shipped model."""
    clock: Literal["wall", "venue"] = "wall"
    """`venue`: time from the venue's message timestamps (a simulator faster than real time)."""
    symbols: Annotated[tuple[str, ...], NoDecode] = ()
    """Symbols to trade: `A,B` or a JSON list. With no `risk_config`, `default_limits` covers them."""
    risk_config: Path | None = None
    """Risk limits TOML (its `[risk]` table), loaded with `rlexec.risk.load_limits`."""
    decision_interval_s: Annotated[
        float, BeforeValidator(_no_bool), Field(ge=MIN_DECISION_INTERVAL_S, allow_inf_nan=False)
    ] = 15.0
    stale_after_s: PosFloat = 5.0
    """No market-data update for this long pauses new child orders."""
    shutdown_grace_s: PosFloat = 10.0
    """On SIGTERM, how long to wait for cancel confirmations before logging out."""
    tick_size: PosInt = 100
    """Price grid in 1e-4 units (100 = $0.01)."""
    lot_size: PosInt = 100
    fix_store: Path | None = None
    """Folder for FIX file stores; None = memory, or Redis when `state` is a Redis URL."""
    audit_log: Path | None = None
    """Decision audit log (JSON lines); None = none."""
    log_format: Literal["json", "text"] = "json"
    log_level: LogLevel = "INFO"
    busy_poll_us: Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=1_000_000)] = 0
    """Poll the event loop for this long after FIX traffic instead of sleeping until the kernel
    wakes the process (rlexec.gateway.busy_poll): lower round-trip latency for a core; 0 = off."""
    resume_parents: bool = False
    """After a restart: resume working parents (True) or leave them paused."""
    initialise: bool = False
    """First start on an empty Redis state: begin ACTIVE. Without it a store with no saved
    kill-switch state starts HALTED (fail closed). It never overwrites a saved state, so a
    deployment may always pass it; the memory store always starts fresh."""
    drop_tightened_limits: bool = False
    """Start on the configured risk limits, forgetting tightenings made through the API.
    Without it a restart on an unchanged configuration keeps them (`service.limits_state`);
    editing the configuration drops them as well."""
    parents: Annotated[tuple[ParentSpec, ...], NoDecode] = ()
    """Parents to submit at start (tables, or `--parent` strings)."""

    @field_validator("venue")
    @classmethod
    def _venue(cls, value: str) -> str:
        split_host_port(value)
        return value

    @field_validator("api")
    @classmethod
    def _api(cls, value: str) -> str:
        split_host_port(value, allow_port_zero=True)
        return value

    @field_validator("md_sender")
    @classmethod
    def _distinct_senders(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("sender"):
            raise ValueError("must differ from sender: the two sessions need their own CompIDs")
        return value

    @field_validator("target")
    @classmethod
    def _target_is_not_us(cls, value: str, info: ValidationInfo) -> str:
        for ours in ("sender", "md_sender"):
            if value == info.data.get(ours):
                raise ValueError(f"equals {ours} ({value!r}): the target is the venue's CompID, "
                                 f"{ours} is ours; change one of them")  # fmt: skip
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value == "memory":
            return value
        url = urlsplit(value)
        if url.scheme in ("redis", "rediss"):
            if not url.hostname:
                raise ValueError("a Redis URL needs a host: redis://HOST:PORT/DB")
            try:
                url.port  # noqa: B018 - raises on a bad port
            except ValueError:
                raise ValueError("the Redis URL has a bad port") from None
            db = url.path.strip("/")
            if db and not db.isdigit():
                raise ValueError(f"the Redis database {db!r} is not a number")
            return value
        if url.scheme == "unix":
            if not url.path:
                raise ValueError("a unix:// URL needs a socket path")
            return value
        raise ValueError("expected memory or a redis://, rediss:// or unix:// URL")

    @field_validator("model", "risk_config")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("audit_log")
    @classmethod
    def _writable_place(cls, value: Path | None) -> Path | None:
        if value is not None:
            if value.is_dir():
                raise ValueError(f"{value} is a folder; give a file name")
            if not value.parent.is_dir():
                raise ValueError(f"its folder {value.parent} does not exist")
            try:  # opened once here, as the audit writer will: refused now, not mid-trading
                with value.open("a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise ValueError(f"cannot be written: {exc.strerror}") from None
        return value

    @field_validator("fix_store")
    @classmethod
    def _store_folder(cls, value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a folder")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a valid JSON list: {exc}") from None
            return [s.strip() for s in text.split(",") if s.strip()]
        return value

    @field_validator("symbols")
    @classmethod
    def _symbol_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _symbol(name)
        dupes = sorted({s for s in value if value.count(s) > 1})
        if dupes:
            raise ValueError(f"{dupes[0]!r} is listed twice")
        return value

    @field_validator("parents", mode="before")
    @classmethod
    def _parent_strings(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith("["):
                return [text]
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list: {exc}") from None
        return value

    @field_validator("parents")
    @classmethod
    def _parents_fit(
        cls, value: tuple[ParentSpec, ...], info: ValidationInfo
    ) -> tuple[ParentSpec, ...]:
        ids = [p.client_id for p in value if p.client_id is not None]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"client id {dupes[0]!r} is used twice")
        symbols = info.data.get("symbols")
        if symbols:
            for parent in value:
                if parent.symbol not in symbols:
                    raise ValueError(f"{parent.symbol} is not among symbols {', '.join(symbols)}")
        return value

    @property
    def venue_host(self) -> str:
        return split_host_port(self.venue)[0]

    @property
    def venue_port(self) -> int:
        return split_host_port(self.venue)[1]

    @property
    def api_host(self) -> str:
        return split_host_port(self.api, allow_port_zero=True)[0]

    @property
    def api_port(self) -> int:
        return split_host_port(self.api, allow_port_zero=True)[1]

    @property
    def all_symbols(self) -> tuple[str, ...]:
        """`symbols`, then any parent's symbol not among them, in order."""
        extra = [p.symbol for p in self.parents if p.symbol not in self.symbols]
        return (*self.symbols, *dict.fromkeys(extra))

    def risk_limits(self, environ: Mapping[str, str] | None = None) -> RiskLimits:
        """The limits in force: `risk_config` (with `RLEXEC_RISK_*`), else `default_limits`.

        Every symbol the service is to trade must be on the limits' allow-list.
        """
        if self.risk_config is None:
            return default_limits(self.all_symbols)
        limits = load_limits(self.risk_config, env=environ)
        missing = [s for s in self.all_symbols if s not in limits.symbols]
        if missing:
            raise ServiceConfigError(
                "symbols",
                f"{', '.join(missing)} not allowed by the risk limits in {self.risk_config}",
            )
        return limits


def load_service_settings(
    path: Path | None,
    overrides: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
) -> ServiceSettings:
    """Settings from the file's `[service]` table < `RLEXEC_*` < `overrides` (None = not given).

    `flags` names the command-line flag of each override key for error messages
    (default `--key-with-dashes`). Raises `ServiceConfigError` naming key and source.
    """
    names = dict(flags or {})
    return load_settings(
        ServiceSettings,
        path=path,
        section=SECTION,
        env_prefix=ENV_PREFIX,
        overrides=overrides,
        environ=environ,
        error=ServiceConfigError,
        unknown_env="ignore",
        env_foreign=FOREIGN_ENV,
        override_source=lambda key: names.get(key, "--" + key.replace("_", "-")),
    )


DEFAULT_SYMBOL_LIMITS: Mapping[str, Any] = {
    "max_order_qty": 10_000,
    "max_order_notional": 10_000_000.0,
    "max_position": 100_000,
}
DEFAULT_LIMITS: Mapping[str, Any] = {
    "max_gross_position": 200_000,
    "max_daily_loss": 250_000.0,
    "max_working_orders": 200,
    "max_orders_per_s": 50,
    "max_messages_per_s": 200,
    "price_collar_bps": 100.0,
    "max_reference_age_ms": 5_000,
    "max_fills": 400,
    "fill_window_ms": 10_000,
}


def default_limits(symbols: Sequence[str], env: Mapping[str, str] | None = None) -> RiskLimits:
    """Conservative limits, enough to trade `symbols` against the simulator (`--symbols`).

    Per symbol: orders up to 10,000 shares and $10,000,000 notional, position within
    ±100,000 shares. Overall: 200,000 shares gross; a $250,000 daily loss halts; at most
    200 working orders, 50 new orders and 200 messages a second; limit prices within
    100 bps of the mid; no order on a mid older than 5,000 ms; more than 400 fills in
    10,000 ms trips REDUCING. Trading window 09:30–16:00 America/New_York (the simulator
    replays the day's market hours; the service then runs on the venue's clock).
    Everything else is `RiskLimits`' stated default. Production limits come from a file.
    `env`: its `RLEXEC_RISK_*` variables apply over these (the service passes its environment).
    """
    if not symbols:
        raise ServiceConfigError(
            "symbols", "no symbols to trade: give --symbols A,B (or a risk config)"
        )
    data = {**DEFAULT_LIMITS, "symbols": {s: dict(DEFAULT_SYMBOL_LIMITS) for s in symbols}}
    if env is not None:
        return load_limits(None, env=env, base=data, base_source="default limits")
    try:
        return validate_limits(data)
    except RiskConfigError as exc:
        raise ServiceConfigError(exc.key, exc.reason, "default limits") from None
