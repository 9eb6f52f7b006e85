"""The HTTP API's own request and answer models (the rest are `ParentSpec` and Control's views).

Handlers validate with these and the OpenAPI document is generated from them, so the two
cannot disagree.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from rlexec.service.control import ParentView

_STRICT = ConfigDict(frozen=True, extra="forbid")
_ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"


def _one_line(value: str) -> str:
    if re.fullmatch(_ONE_LINE, value) is None:
        raise ValueError("must be one line of text, not blank, without control characters")
    return value


Text = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": _ONE_LINE}),
    AfterValidator(_one_line),
]
"""A name or a reason: one short line, not blank, no control characters (it goes to logs)."""


class KillRequest(BaseModel):
    model_config = _STRICT

    who: Text | None = None
    """Who asks; defaults to the token's role."""
    why: Text


class ResumeRequest(BaseModel):
    """Lifting a halt is the one command that must name a person, not just a role."""

    model_config = _STRICT

    who: Text
    why: Text
    to: Literal["ACTIVE", "REDUCING"] = "ACTIVE"


class TightenRequest(BaseModel):
    model_config = _STRICT

    who: Text | None = None
    why: Text
    changes: dict[str, Any] = Field(default_factory=dict)
    """Global limits to tighten, by `RiskLimits` field name."""
    symbols: dict[str, dict[str, Any] | None] | None = None
    """Per-symbol limit changes; null takes the symbol off the allow-list."""


class ParentList(BaseModel):
    model_config = _STRICT

    parents: list[ParentView]


class HealthView(BaseModel):
    model_config = _STRICT

    status: Literal["ok"]


class ErrorView(BaseModel):
    """Every 4xx and 5xx answer: what is wrong and, when one is to blame, which field."""

    model_config = _STRICT

    error: str
    field: str | None
    error_id: str | None = None
    """On a 500 only: the id the server logged the failure under."""
