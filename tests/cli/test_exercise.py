"""``jaxdl exercise`` and ``jaxdl grade``: the stub on disk, and the subprocess with its time
limit (pass, hang, a process that dies) with one line per bad file. The property itself is
tested per exercise in tests/exercises/test_exercises.py."""

from __future__ import annotations

import json

import pytest

from jaxdl import exercises
from jaxdl.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def test_exercise_lists_then_writes_a_stub_and_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    assert main(["exercise"]) == EXIT_OK
    listing = capsys.readouterr().out
    for name in exercises.names():
        assert name in listing
    monkeypatch.chdir(tmp_path)
    assert main(["exercise", "debye-slope"]) == EXIT_OK
    text = (tmp_path / "debye_slope.py").read_text()
    assert text == exercises.stub("debye-slope", path="debye_slope.py")
    assert "jaxdl grade debye_slope.py" in text
    assert main(["exercise", "debye-slope"]) == EXIT_USAGE
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["exercise", "debye-slope", "--out", "sub/mine.py"]) == EXIT_OK
    assert (tmp_path / "sub" / "mine.py").is_file()
    assert main(["exercise", "no-such"]) == EXIT_USAGE
    assert "known exercises: debye-slope" in capsys.readouterr().err


def test_grade_passes_a_right_answer_in_a_subprocess(tmp_path, capsys):
    path = tmp_path / "answer.py"
    body = "x = jnp.asarray(x)\nreturn 5 * x**4 - 6 * x**2"
    path.write_text(exercises.stub("debye-slope", body=body))
    assert main(["grade", str(path), "--examples", "5", "--json"]) == EXIT_OK
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["passed"] and verdict["kind"] == "pass" and verdict["examples"] == 6


@pytest.mark.parametrize(
    "body, timeout, kind, words",
    [
        ("while True:\n    pass", 4, "timeout", "no verdict within 4 s"),
        ("import os\nos._exit(7)", 60, "crash", "exit status 7"),
    ],
    ids=["hang", "dies"],
)
def test_grade_a_hang_or_a_dying_process_gets_one_line(
    tmp_path, capsys, body, timeout, kind, words
):
    path = tmp_path / "mine.py"
    path.write_text(exercises.stub("sigmoid", body=body))
    args = ["grade", str(path), "--examples", "2", "--timeout", str(timeout), "--json"]
    assert main(args) == EXIT_FAILED
    verdict = json.loads(capsys.readouterr().out)
    assert (verdict["kind"], verdict["details"]) == (kind, [])
    assert words in verdict["message"] and "\n" not in verdict["message"]


def test_grade_bad_files_and_arguments(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(exercises.stub("max-pool", body="return g +* 2"))
    assert main(["grade", str(path)]) == EXIT_FAILED  # caught before any subprocess
    out = capsys.readouterr().out.strip()
    assert out.endswith("syntax error: invalid syntax") and "\n" not in out
    assert main(["grade", str(tmp_path / "missing.py")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "other.py").write_text("x = 1\n")
    assert main(["grade", str(tmp_path / "other.py")]) == EXIT_USAGE
    assert "--exercise NAME" in capsys.readouterr().err
    assert main(["grade", str(path), "--timeout", "0"]) == EXIT_USAGE
