"""Loading API tokens: every bad entry stops start-up naming where it came from (never the
token), and the lookup answers the right role for every token and none for anything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlexec.service.auth import AuthConfigError, Tokens, load_tokens

T1 = "a" * 16
T2 = "b" * 20


def test_tokens_from_the_variable_and_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"# the risk desk\n\nrisk:{T2}\n")
    tokens = load_tokens(
        {"RLEXEC_API_TOKENS": f"viewer:{T1}, ", "RLEXEC_API_TOKEN_FILE": str(file)}
    )
    assert len(tokens) == 2
    assert tokens.role_of(T1) == "viewer"
    assert tokens.role_of(T2) == "risk"
    assert tokens.role_of(T1[:-1]) is None
    assert tokens.role_of("") is None
    assert len(load_tokens({})) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"admin:{T1}", "RLEXEC_API_TOKENS entry 1: unknown role 'admin'"),
        (f"viewer:{T1},trader", "RLEXEC_API_TOKENS entry 2: expected role:token"),
        ("trader:short", "RLEXEC_API_TOKENS entry 1: the trader token is shorter than 16"),
        (f"trader:{T1[:8]} {T1[8:]}", "the trader token has spaces"),
        (f"trader:{T1},risk:{T1}", "one token is given for two roles (trader and risk)"),
    ],
)
def test_bad_entries_name_where_and_why_but_not_the_token(value: str, message: str) -> None:
    with pytest.raises(AuthConfigError) as caught:
        load_tokens({"RLEXEC_API_TOKENS": value})
    assert message in str(caught.value)
    assert T1 not in str(caught.value)


def test_a_bad_file_line_is_named_by_path_and_line(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"viewer:{T1}\n\nboss:{T2}\n")
    with pytest.raises(AuthConfigError, match=re.escape(f"{file}:3: unknown role 'boss'")):
        load_tokens({"RLEXEC_API_TOKEN_FILE": str(file)})
    with pytest.raises(AuthConfigError, match=r"RLEXEC_API_TOKEN_FILE=.*nope: cannot read"):
        load_tokens({"RLEXEC_API_TOKEN_FILE": str(tmp_path / "nope")})


tokens_st = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=","),
    min_size=16, max_size=40,
)  # fmt: skip


@given(st.dictionaries(tokens_st, st.sampled_from(["viewer", "trader", "risk"]), max_size=6),
       st.text(max_size=50))  # fmt: skip
def test_every_token_maps_to_its_role_and_nothing_else_does(
    table: dict[str, str], other: str
) -> None:
    tokens = Tokens((role, token) for token, role in table.items())  # type: ignore[misc]
    for token, role in table.items():
        assert tokens.role_of(token) == role
    if other not in table:
        assert tokens.role_of(other) is None
