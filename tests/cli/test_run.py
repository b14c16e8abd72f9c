import json
import subprocess
import sys

import pytest

from jaxdl import milestones
from jaxdl.cli import main


def test_list_names_every_milestone(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [m.name for m in milestones.MILESTONES]
    assert [r["year"] for r in rows] == sorted(r["year"] for r in rows)
    assert all(r["summary"] and r["people"] for r in rows)


def test_unknown_milestone_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["run", "no-such-milestone"])
    assert info.value.code == 2


def test_check_passes_and_reports_every_check(capsys):
    assert main(["check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"]
    names = [c["name"] for c in out["checks"]]
    assert "losses.mse" in names and "activations.sigmoid" in names


def test_tour_runs_every_milestone_and_draws_its_figure(capsys, tmp_path):
    assert main(["tour", "--json", "--plots", str(tmp_path / "figures")]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["milestone"] for r in reports] == [m.name for m in milestones.MILESTONES]
    for m in milestones.MILESTONES:  # each chapter's plot(report) returned a Figure
        png = tmp_path / "figures" / f"{m.module.rsplit('.', 1)[1]}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", m.name


def test_tour_refuses_a_file_as_plot_directory_before_running(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    assert main(["tour", "--plots", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and err.count("\n") == 1


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "jaxdl", "list"], capture_output=True, text=True, check=True
    )
    assert "gradient-descent" in done.stdout
