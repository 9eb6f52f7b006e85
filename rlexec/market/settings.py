"""One settings loader for every component: file < environment < command line, validated once.

Built on pydantic-settings: `load_settings` lays a `BaseSettings` over any frozen pydantic
model and feeds it three sources (the file, `{prefix}KEY` variables, explicit overrides).
What it adds is bookkeeping: it remembers which source gave each value, so a bad value stops
start-up with one line naming the key, where the value came from and what is wrong::

    risk config: max_fills (from env RLEXEC_RISK_MAX_FILLS): Input should be greater than 0 (got '0')

Environment rules: `__` separates levels (`RLEXEC_RISK_TRADING_WINDOW__END=15:45`); field
names are case-insensitive, keys of a dict-valued field (symbols) are kept as written; a
value starting with `{` or `[` is JSON; an empty variable counts as unset.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as LibrarySettingsError

from rlexec.market.errors import RlexecError

M = TypeVar("M", bound=BaseModel)

NESTED = "__"
_SECRET_WORDS = ("password", "secret", "token")


class SettingsError(RlexecError):
    """A bad setting: names the key, where its value came from and the reason.

    Subclasses set `what` (the component: "risk", "venue", "service") for the message.
    With several problems, `key`, `reason` and `source` describe the first and the message
    lists them all; `problems` holds every one as (key, reason, source).
    """

    what: ClassVar[str] = "settings"

    def __init__(
        self,
        key: str,
        reason: str,
        source: str | None = None,
        *,
        also: tuple[tuple[str, str, str | None], ...] = (),
    ) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        self.problems = ((key, reason, source), *also)
        text = "; also ".join(_describe(*p) for p in self.problems)
        super().__init__(f"{self.what} config: {text}")


def _describe(key: str, reason: str, source: str | None) -> str:
    return f"{key} (from {source}): {reason}" if source else f"{key}: {reason}"


# -- the entry point -----------------------------------------------------------------------


def load_settings(
    model: type[M],
    *,
    path: Path | None,
    section: str | None,
    env_prefix: str | None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    error: type[SettingsError] = SettingsError,
    unknown_env: Literal["error", "ignore"] = "error",
    env_ignore: Collection[str] = (),
    env_foreign: Collection[str] = (),
    override_source: Callable[[str], str] | None = None,
    base: Mapping[str, Any] | None = None,
    base_source: str = "defaults",
) -> M:
    """`model` validated from overrides > `{env_prefix}*` variables > file > `base` > defaults.

    `path`: a TOML file (JSON if it ends in `.json`); its `[section]` table if it has one,
    else the whole file. `env_prefix=None` reads no environment; `environ` defaults to
    `os.environ`. `overrides` (command-line flags) skip None values; `override_source(key)`
    names a key's origin in errors (default `--key-with-dashes`). `unknown_env="ignore"`
    lets variables with the prefix that name no field pass (the prefix is shared with
    other components), except a near miss of a field's name (`RLEXEC_HEARTBEAT` for
    `heartbeat_s`), which is refused with a suggestion unless it starts with one of the
    `env_foreign` prefixes (other components' variables, after `env_prefix`); `env_ignore`
    lists variable names that are never read.
    `base`: values under the file's (e.g. a component's own stated defaults), named
    `base_source` in errors. Every problem raises `error` (a `SettingsError`) naming the key
    and its source.
    """
    file_data: dict[str, Any] = {} if path is None else read_settings_file(path, section, error)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    label = override_source or (lambda key: "--" + key.replace("_", "-"))
    record: dict[tuple[str, ...], str] = {}
    env_vars: dict[str, str] = {}
    env_origin: dict[tuple[str, ...], str] = {}
    if env_prefix is not None:
        if environ is None:
            import os

            environ = os.environ
        env_vars, env_origin = _normalise_environ(
            model, environ, env_prefix, error, unknown_env, env_ignore, env_foreign
        )

    def env_label(path: tuple[str, ...]) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in env_origin:
                return f"env {env_origin[path[:n]]}"
        return "environment"

    def customise(
        cls: type[BaseSettings], settings_cls: type[BaseSettings], **_: PydanticBaseSettingsSource
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        cls = settings_cls
        sources: list[PydanticBaseSettingsSource] = [
            _Recorded(cls, InitSettingsSource(cls, given), lambda p: label(p[0]), record)
        ]
        if env_prefix is not None:
            env = _Environment(cls, env_vars, env_prefix)
            sources.append(_Recorded(cls, env, env_label, record))
        if path is not None:
            file = InitSettingsSource(cls, file_data)
            sources.append(_Recorded(cls, file, lambda _: str(path), record))
        if base:
            below = InitSettingsSource(cls, dict(base))
            sources.append(_Recorded(cls, below, lambda _: base_source, record))
        return tuple(sources)

    settings_cls = _settings_class(model, customise)
    try:
        loaded = settings_cls()
    except ValidationError as exc:
        raise _from_validation_error(exc, record, error, model) from None
    except LibrarySettingsError as exc:  # a value the library could not decode
        raise error("(environment)", str(exc), "environment") from None
    values = {name: getattr(loaded, name) for name in model.model_fields}
    return model.model_construct(_fields_set=loaded.model_fields_set, **values)


def validation_error(
    exc: ValidationError,
    error: type[SettingsError] = SettingsError,
    sources: Mapping[tuple[str, ...], str] | None = None,
    model: type[BaseModel] | None = None,
) -> SettingsError:
    """A pydantic `ValidationError` as one `SettingsError` (for models validated directly).

    `model`: the model validated, for a suggestion when a key is unknown."""
    return _from_validation_error(exc, sources or {}, error, model)


def read_settings_file(
    path: Path, section: str | None, error: type[SettingsError] = SettingsError
) -> dict[str, Any]:
    """The settings table of a TOML or JSON file; errors name the file (TOML: and the line)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(name, "config file not found") from None
    except UnicodeDecodeError as exc:  # where a person can find it: the line and column
        raw = exc.object[: exc.start]  # valid UTF-8: the first bad byte ends it
        line_start = raw.rfind(b"\n") + 1
        line, column = raw.count(b"\n") + 1, len(raw[line_start:].decode()) + 1  # characters
        raise error(
            f"{name}:{line}",
            f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at column {column}",
        ) from None
    except OSError as exc:
        raise error(name, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{name}:{exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(name, f"not valid TOML: {exc}") from None
    if not isinstance(doc, dict):
        raise error(name, "the top level must be a table of settings")
    table = doc.get(section, doc) if section else doc
    if not isinstance(table, dict):
        raise error(str(section), "expected a table", name)
    return table


# -- pydantic-settings plumbing ------------------------------------------------------------


def _settings_class(
    model: type[M],
    customise: Callable[..., tuple[PydanticBaseSettingsSource, ...]],
) -> type[BaseSettings]:
    """`model` with `BaseSettings` mixed in, reading exactly the sources `customise` gives."""
    config = SettingsConfigDict(**model.model_config)  # type: ignore[typeddict-item]
    config["extra"] = "forbid"
    config["case_sensitive"] = True
    config["env_nested_delimiter"] = NESTED
    namespace = {
        "__module__": model.__module__,
        "__qualname__": f"{model.__qualname__}Settings",
        "model_config": config,
        "settings_customise_sources": classmethod(customise),
    }
    return types.new_class(
        f"{model.__name__}Settings",
        (model, BaseSettings),
        exec_body=lambda ns: ns.update(namespace),
    )


class _Recorded(PydanticBaseSettingsSource):
    """Delegates to a source and records the origin of every value it gives.

    pydantic-settings calls sources highest precedence first, so the first record of a
    key is the one that wins.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        inner: PydanticBaseSettingsSource,
        label: Callable[[tuple[str, ...]], str],
        record: dict[tuple[str, ...], str],
    ) -> None:
        super().__init__(settings_cls)
        self.inner = inner
        self.label = label
        self.record = record

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        for path in _paths(data):
            self.record.setdefault(path, self.label(path))
        return data


class _Environment(EnvSettingsSource):
    """The library's environment source over variables already normalised by the loader."""

    def __init__(
        self, settings_cls: type[BaseSettings], env_vars: Mapping[str, str], prefix: str
    ) -> None:
        super().__init__(
            settings_cls,
            case_sensitive=True,
            env_prefix=prefix,
            env_nested_delimiter=NESTED,
            env_ignore_empty=True,
        )
        self.env_vars = dict(env_vars)


def _normalise_environ(
    model: type[BaseModel],
    environ: Mapping[str, str],
    prefix: str,
    error: type[SettingsError],
    unknown: Literal["error", "ignore"],
    ignore: Collection[str],
    foreign: Collection[str] = (),
) -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    """Variables with the prefix renamed to the model's spelling, and each key path's variable.

    Field names are matched case-insensitively and written as the model spells them; keys of
    a dict-valued field are kept as written. JSON values are checked here, so a bad one is
    reported with its variable.
    """
    upper = prefix.upper()
    out: dict[str, str] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name in sorted(environ):
        if not name.upper().startswith(upper) or name in ignore or not environ[name]:
            continue
        parts = name[len(prefix) :].split(NESTED)
        keys = _model_keys(model, parts)
        if keys is None and unknown == "ignore":
            rest = name[len(prefix) :].upper()
            near = _near_miss(parts[0], model.model_fields)
            if near is None or any(rest.startswith(f.upper()) for f in foreign):
                continue
            raise error(
                parts[0].lower(),
                f"unknown variable; did you mean {prefix}{near.upper()}?",
                f"env {name}",
            )
        if not all(parts):
            known = ".".join(k for k in keys or parts if k) or "(top level)"
            raise error(known, "malformed variable name (an empty part)", f"env {name}")
        if keys is None:
            near = _near_miss(parts[0], model.model_fields, cutoff=0.6)
            hint = f"; did you mean {prefix}{near.upper()}?" if near is not None else ""
            raise error(parts[0].lower(), f"unknown key{hint}", f"env {name}")
        value = environ[name]
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            try:
                json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise error(".".join(keys), f"not valid JSON: {exc}", f"env {name}") from None
        out[prefix + NESTED.join(keys)] = value
        origin[tuple(keys)] = name
    return out, origin


def _near_miss(word: str, known: Collection[str], cutoff: float = 0.8) -> str | None:
    """The one of `known` that `word` is most likely a misspelling of, or None."""
    lowered = {k.lower(): k for k in known}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[found[0]] if found else None


def _known_keys(model: type[BaseModel] | None, loc: tuple[str, ...]) -> Collection[str]:
    """The keys the model allows in the table at `loc` (empty when that is not a model)."""
    annotation: Any = model
    for part in loc:
        fields = _model_fields(annotation)
        if fields is not None:
            if part not in fields:
                return ()
            annotation = fields[part]
        elif _dict_value(annotation) is not None:
            annotation = _dict_value(annotation)
        else:
            annotation = _sequence_item(annotation)
            if annotation is None:
                return ()
    fields = _model_fields(annotation)
    return fields.keys() if fields is not None else ()


def _sequence_item(annotation: Any) -> Any:
    for candidate in _union_members(annotation):
        if typing.get_origin(candidate) in (tuple, list):
            args = typing.get_args(candidate)
            return args[0] if args else None
    return None


def _model_keys(model: type[BaseModel], parts: list[str]) -> list[str] | None:
    """`parts` in the model's spelling; None when the first part names no field."""
    keys: list[str] = []
    annotation: Any = model
    for i, part in enumerate(parts):
        fields = _model_fields(annotation)
        if fields is not None:
            match = next((f for f in fields if f.lower() == part.lower()), None)
            if match is None:
                if i == 0:
                    return None
                keys.append(part.lower())  # unknown: validation names it
                annotation = None
                continue
            keys.append(match)
            annotation = fields[match]
        elif _dict_value(annotation) is not None:
            keys.append(part)
            annotation = _dict_value(annotation)
        else:
            keys.append(part.lower())
            annotation = None
    return keys


def _model_fields(annotation: Any) -> dict[str, Any] | None:
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return {n: f.annotation for n, f in candidate.model_fields.items()}
    return None


def _dict_value(annotation: Any) -> Any:
    for candidate in _union_members(annotation):
        if typing.get_origin(candidate) in (dict, Mapping):
            args = typing.get_args(candidate)
            return args[-1] if args else Any
    return None


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    return (annotation,)


def _paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path in nested dicts and lists, parents before children."""
    items: Any = ()
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    for key, value in items:
        path = (*prefix, str(key))
        yield path
        yield from _paths(value, path)


# -- error messages ------------------------------------------------------------------------


def _from_validation_error(
    exc: ValidationError,
    sources: Mapping[tuple[str, ...], str],
    error: type[SettingsError],
    model: type[BaseModel] | None = None,
) -> SettingsError:
    problems: list[tuple[str, str, str | None]] = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc) or "(top level)"
        kind = err["type"]
        if kind == "missing":
            reason = "missing (required, no default)"
        elif kind == "extra_forbidden":
            reason = "unknown key"
            near = _near_miss(loc[-1], _known_keys(model, loc[:-1]), cutoff=0.6)
            if near is not None:
                reason += f"; did you mean {near!r}?"
        else:
            reason = err["msg"].removeprefix("Value error, ")
            if not isinstance(err["input"], Mapping | list | tuple):  # a table: the key says it
                reason += f" (got {_shown(key, err['input'])})"
        problems.append((key, reason, _source_of(loc, sources)))
    key, reason, source = problems[0]
    return error(key, reason, source, also=tuple(problems[1:]))


def _shown(key: str, value: Any) -> str:
    if any(word in key.lower() for word in _SECRET_WORDS):
        return "a hidden value"
    if isinstance(value, PurePath):  # as the user wrote it, not PosixPath('...')
        value = str(value)
    if isinstance(value, str):
        value = redact_url(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^/\s]*@")
"""user:password@ up to the netloc's last @ (a password may hold an @, as urlsplit reads it)."""


def redact_url(text: str) -> str:
    """`text` with any URL's password replaced by *** (redis://user:pw@host → user:***@host)."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _source_of(loc: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> str | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in sources:
            return sources[loc[:n]]
    return None
