"""jaxdl.cache: where the persistent compilation cache goes, and that a second process uses it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdl import cache
from jaxdl.cli import main

HIT = "Persistent compilation cache hit"


@pytest.fixture(autouse=True)
def no_cache_configured():
    """JAX as a fresh process has it: no compilation cache of its own (the suite shares one,
    tests/conftest.py), so that :func:`jaxdl.cache.enable` decides; put back afterwards."""
    import jax

    suite = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    jax.config.update("jax_compilation_cache_dir", suite)


def test_directory_follows_the_environment(tmp_path):
    home = {"XDG_CACHE_HOME": str(tmp_path)}
    assert cache.configured_dir(home) == tmp_path / "jaxdl" / "xla"
    assert cache.configured_dir({**home, cache.ENV_VAR: str(tmp_path / "c")}) == tmp_path / "c"
    for off in ("0", "off", "", "false"):
        assert cache.configured_dir({**home, cache.ENV_VAR: off}) is None


def test_an_unusable_directory_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "file" / "cache"))
    assert main(["list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert cache.ENV_VAR in captured.err and captured.err.count("\n") == 1


def _run_least_squares(directory: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, cache.ENV_VAR: str(directory), "JAX_LOGGING_LEVEL": "DEBUG"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "jaxdl", "run", "least-squares", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    directory = tmp_path / "xla"
    first = _run_least_squares(directory)
    entries = {p.name for p in directory.iterdir() if p.is_file()}
    assert entries, "the first run wrote no compiled programs"
    assert HIT not in first.stderr
    second = _run_least_squares(directory)
    assert second.stderr.count(HIT) >= len(entries) > 0
    assert {p.name for p in directory.iterdir() if p.is_file()} == entries  # nothing recompiled
    assert first.stdout == second.stdout


@pytest.mark.parametrize("value", ["0", "off"])
def test_turned_off_writes_nothing(tmp_path, monkeypatch, value):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.enable({cache.ENV_VAR: value}) is None
    assert not (tmp_path / "jaxdl").exists()
