"""The shared settings loader on its own: precedence, environment rules, and errors with sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from rlexec.market.settings import SettingsError, load_settings


class Inner(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(default=1, gt=0)
    name: str = "x"


class Demo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(default=1, ge=0, le=65_535)
    inner: Inner = Inner()
    tables: dict[str, Inner] = {}
    tags: list[str] = []


class DemoError(SettingsError):
    what = "demo"


def load(
    path: Path | None = None,
    environ: dict[str, str] | None = None,
    section: str | None = "demo",
    **overrides: object,
) -> Demo:
    return load_settings(
        Demo,
        path=path,
        section=section,
        env_prefix="DEMO_",
        overrides=overrides,
        environ=environ or {},
        error=DemoError,
    )


def fails(**kwargs: object) -> DemoError:
    with pytest.raises(DemoError) as info:
        load(**kwargs)  # type: ignore[arg-type]
    return info.value


SOURCES = ("file", "env", "flag")


@given(values=st.fixed_dictionaries({s: st.none() | st.integers(0, 65_535) for s in SOURCES}))
def test_the_highest_source_given_wins(values: dict[str, int | None]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.toml"
        path.write_text(
            "[demo]\n" + (f"port = {values['file']}\n" if values["file"] is not None else ""),
            encoding="utf-8",
        )
        env = {"DEMO_PORT": str(values["env"])} if values["env"] is not None else {}
        got = load(path, env, port=values["flag"]).port
    given_values = [values[s] for s in reversed(SOURCES) if values[s] is not None]
    assert got == (given_values[0] if given_values else 1)


def test_the_result_is_the_model_itself(tmp_path: Path) -> None:
    got = load(environ={"DEMO_INNER__SIZE": "3"})
    assert type(got) is Demo
    assert got == Demo(inner=Inner(size=3))
    assert got.model_fields_set == {"inner"}


def test_nested_keys_merge_across_sources(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text('[demo.inner]\nsize = 5\nname = "file"\n', encoding="utf-8")
    got = load(path, {"DEMO_INNER__NAME": "env"})
    assert got.inner == Inner(size=5, name="env")


def test_field_names_ignore_case_and_dict_keys_keep_it() -> None:
    got = load(
        environ={
            "DEMO_Tables__MiXed__SIZE": "2",
            "DEMO_TABLES__lower": '{"name": "json"}',
            "DEMO_TAGS": '["a", "b"]',
        }
    )
    assert got.tables == {"MiXed": Inner(size=2), "lower": Inner(name="json")}
    assert got.tags == ["a", "b"]


def test_an_empty_variable_is_unset_and_other_prefixes_are_not_read() -> None:
    assert load(environ={"DEMO_PORT": "", "OTHER_PORT": "5"}).port == 1


def test_errors_name_key_and_source(tmp_path: Path) -> None:
    err = fails(environ={"DEMO_INNER__SIZE": "0"})
    assert (err.key, err.source) == ("inner.size", "env DEMO_INNER__SIZE")
    assert str(err) == (
        "demo config: inner.size (from env DEMO_INNER__SIZE): "
        "Input should be greater than 0 (got '0')"
    )
    err = fails(port=-1)
    assert (err.key, err.source) == ("port", "--port")
    path = tmp_path / "demo.toml"
    path.write_text("[demo]\ntags = ['a', 3]\n", encoding="utf-8")
    err = fails(path=path)
    assert (err.key, err.source) == ("tags.1", str(path))
    err = fails(environ={"DEMO_TABLES": '{"T": {"size": -1}}'})
    assert (err.key, err.source) == ("tables.T.size", "env DEMO_TABLES")


def test_unknown_keys_are_errors_wherever_they_come_from(tmp_path: Path) -> None:
    hint = "unknown key; did you mean"
    err = fails(environ={"DEMO_PROT": "1"})
    assert (err.key, err.reason, err.source) == ("prot", f"{hint} DEMO_PORT?", "env DEMO_PROT")
    err = fails(environ={"DEMO_INNER__SIZ": "1"})
    assert (err.key, err.reason, err.source) == (
        "inner.siz", f"{hint} 'size'?", "env DEMO_INNER__SIZ"
    )  # fmt: skip
    path = tmp_path / "demo.toml"
    path.write_text("[demo]\nprot = 1\n", encoding="utf-8")
    err = fails(path=path)
    assert (err.key, err.reason, err.source) == ("prot", f"{hint} 'port'?", str(path))
    err = fails(prot=1)
    assert (err.key, err.reason, err.source) == ("prot", f"{hint} 'port'?", "--prot")
    err = fails(zzz=1)  # nothing like it: no suggestion
    assert (err.key, err.reason, err.source) == ("zzz", "unknown key", "--zzz")


def test_unknown_variables_can_be_left_to_others() -> None:
    got = load_settings(
        Demo,
        path=None,
        section=None,
        env_prefix="DEMO_",
        environ={"DEMO_OTHER": "1", "DEMO_PORT": "2", "DEMO_SKIP": "x"},
        unknown_env="ignore",
    )
    assert got.port == 2
    with pytest.raises(SettingsError, match="unknown key"):
        load_settings(Demo, path=None, section=None, env_prefix="DEMO_", environ={"DEMO_X": "1"})
    got = load_settings(
        Demo,
        path=None,
        section=None,
        env_prefix="DEMO_",
        environ={"DEMO_X": "1"},
        env_ignore=("DEMO_X",),
    )
    assert got == Demo()


def test_several_problems_are_all_listed() -> None:
    err = fails(environ={"DEMO_PORT": "x"}, inner={"size": 0})
    assert err.key == "port"
    assert [p[0] for p in err.problems] == ["port", "inner.size"]
    assert "; also inner.size (from --inner): " in str(err)


def test_bad_variables_name_the_variable() -> None:
    err = fails(environ={"DEMO_TABLES": "{not json"})
    assert (err.key, err.source) == ("tables", "env DEMO_TABLES")
    assert "not valid JSON" in err.reason
    err = fails(environ={"DEMO_INNER__": "1"})
    assert (err.key, err.source) == ("inner", "env DEMO_INNER__")
    assert "malformed variable name" in err.reason


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    err = fails(path=tmp_path / "none.toml")
    assert str(err) == f"demo config: {tmp_path / 'none.toml'}: config file not found"
    path = tmp_path / "bad.toml"
    path.write_text("[demo]\nport = 1\nport = 2\n", encoding="utf-8")
    assert "line 3" in fails(path=path).reason
    path = tmp_path / "bad.json"
    path.write_text('{\n"demo": {"port": }\n}', encoding="utf-8")
    assert fails(path=path).key == f"{path}:2"
    path = tmp_path / "section.toml"
    path.write_text("demo = [1]\n", encoding="utf-8")
    err = fails(path=path)
    assert (err.key, err.reason, err.source) == ("demo", "expected a table", str(path))
    path = tmp_path / "whole.json"
    path.write_text('{"port": 7}', encoding="utf-8")
    assert load(path).port == 7  # no [demo] table: the whole file
    path = tmp_path / "latin1.toml"  # was "position 19": a byte offset into the file
    path.write_bytes('[demo]\nname = "Zürich"\n'.encode("latin-1"))
    err = fails(path=path)
    assert (err.key, err.reason) == (f"{path}:2", "not UTF-8: byte 0xfc at column 10")
    path = tmp_path / "mixed.toml"  # UTF-8 before the bad byte: columns count characters
    path.write_bytes('[demo]\r\nname = "Genève Zürich"\r\n'.encode().replace(b"\xc3\xbc", b"\xfc"))
    err = fails(path=path)
    assert (err.key, err.reason) == (f"{path}:2", "not UTF-8: byte 0xfc at column 17")
