"""The project's skeleton: the CLI entry point and the spec-data locator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import conftest
from wasmpool import cli


def test_help_lists_only_installed_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.available():
        assert name in out
    missing = set(cli.COMMANDS) - set(cli.available())
    for name in missing:
        assert f"    {name} " not in out


def test_no_subcommand_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: wasmpool" in capsys.readouterr().out


def test_spec_dir_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(conftest.SPEC_ENV, str(tmp_path))
    assert conftest.spec_dir() == tmp_path


def test_spec_dir_absent_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(conftest.SPEC_ENV, str(tmp_path / "nowhere"))
    assert conftest.spec_dir() is None
    assert conftest.SPEC_ENV in conftest.SPEC_SKIP_MESSAGE
