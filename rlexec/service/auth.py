"""API bearer tokens and the roles they grant, read once at start from the environment.

`RLEXEC_API_TOKENS="role:token,role:token"` and/or `RLEXEC_API_TOKEN_FILE` (one `role:token`
per line, `#` comments and blank lines ignored). A bad entry stops start-up naming the
variable or the file and line — never echoing the token itself.

Roles (separation of duties: the one who trades is not the one who lifts a halt):

| role | may |
|---|---|
| `viewer` | read: parents, risk |
| `trader` | read; submit / pause / resume / cancel parents; kill; reduce |
| `risk` | read; kill; reduce; resume trading; tighten limits (no parent commands) |
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal, get_args

from rlexec.market.errors import RlexecError

Role = Literal["viewer", "trader", "risk"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKENS_ENV = "RLEXEC_API_TOKENS"
TOKEN_FILE_ENV = "RLEXEC_API_TOKEN_FILE"
MIN_TOKEN_LENGTH = 16


class AuthConfigError(RlexecError):
    """A token entry that cannot be used: names where it came from and why."""


class Tokens:
    """Token → role, looked up in constant time (every token is compared, no early exit)."""

    def __init__(self, entries: Iterable[tuple[Role, str]] = ()) -> None:
        self._entries: list[tuple[bytes, Role]] = [(t.encode(), r) for r, t in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def role_of(self, token: str) -> Role | None:
        presented = token.encode("utf-8", "replace")
        found: Role | None = None
        for known, role in self._entries:
            if hmac.compare_digest(presented, known):
                found = role
        return found


def parse_entry(text: str, where: str) -> tuple[Role, str]:
    """One `role:token`; AuthConfigError names `where` and the role (never the token)."""
    role, sep, token = text.strip().partition(":")
    role = role.strip()
    token = token.strip()
    if not sep:
        raise AuthConfigError(f"{where}: expected role:token")
    if role not in ROLES:
        raise AuthConfigError(
            f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise AuthConfigError(
            f"{where}: the {role} token is shorter than {MIN_TOKEN_LENGTH} characters"
        )
    if not token.isprintable() or any(c.isspace() for c in token):
        raise AuthConfigError(f"{where}: the {role} token has spaces or control characters")
    return role, token


def load_tokens(environ: Mapping[str, str]) -> Tokens:
    """The tokens from `RLEXEC_API_TOKENS` and the file `RLEXEC_API_TOKEN_FILE` names."""
    entries: list[tuple[Role, str]] = []
    inline = environ.get(TOKENS_ENV, "")
    for i, item in enumerate(p for p in inline.split(",") if p.strip()):
        entries.append(parse_entry(item, f"{TOKENS_ENV} entry {i + 1}"))
    file = environ.get(TOKEN_FILE_ENV, "").strip()
    if file:
        path = Path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthConfigError(f"{TOKEN_FILE_ENV}={file}: cannot read: {exc}") from None
        for n, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                entries.append(parse_entry(line, f"{path}:{n}"))
    seen: dict[str, Role] = {}
    for role, token in entries:
        if token in seen and seen[token] != role:
            raise AuthConfigError(
                f"one token is given for two roles ({seen[token]} and {role}); "
                "give each role its own token"
            )
        seen[token] = role
    return Tokens(entries)
