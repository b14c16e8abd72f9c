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


def test_tour_runs_every_milestone(capsys):
    assert main(["tour", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["milestone"] for r in reports] == [m.name for m in milestones.MILESTONES]


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "jaxdl", "list"], capture_output=True, text=True, check=True
    )
    assert "gradient-descent" in done.stdout
