import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- a perturbed hand gradient never passes, for every registered check ------------------------


@pytest.fixture(scope="module")
def registered_checks():
    """Every registered check, computed once for this module (the costliest step of the suite)."""
    checks = milestones.all_gradient_checks(seed=0)
    assert checks and all(c.passed for c in checks)
    return checks


@settings(max_examples=60)
@given(data=st.data())
def test_a_hand_gradient_perturbed_beyond_tolerance_never_passes(registered_checks, data):
    check = data.draw(st.sampled_from(registered_checks), label="check")
    hand = check.evidence.hand
    # |delta| > rtol * scale + the current error, so |hand + delta - auto| > rtol * scale
    bound = check.rtol * check.scale + check.autodiff_error
    factor = data.draw(st.floats(1.01, 1e6), label="factor")
    kind = data.draw(st.sampled_from(["one entry", "every entry", "nan", "inf"]), label="kind")
    index = data.draw(st.integers(0, hand.size - 1), label="index")
    sign = data.draw(st.sampled_from([-1.0, 1.0]), label="sign")
    delta = np.zeros_like(hand)
    if kind == "one entry":
        delta[index] = sign * factor * bound
    elif kind == "every entry":
        rng = np.random.default_rng(index)
        delta = rng.uniform(-1, 1, hand.shape)
        delta[index] = sign
        delta *= factor * bound
    else:
        delta[index] = np.nan if kind == "nan" else sign * np.inf
    perturbed = check.with_hand(hand + delta)
    assert not perturbed.passed, (check.name, kind, factor)
    assert check.with_hand(hand).passed  # the same judge passes the unperturbed gradient


def test_check_passes_and_reports_every_check(capsys, monkeypatch, registered_checks):
    # The checks themselves are the fixture's (computed once); this is the command around them.
    monkeypatch.setattr(milestones, "all_gradient_checks", lambda *, seed: registered_checks)
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


def test_the_tour_says_where_a_chapter_s_hand_gradients_are_checked():
    """A chapter whose hand rules are its ops' checks none in its own run: the tour names
    `jaxdl check` instead of printing "0 ok" (read as "nothing checked")."""
    from types import SimpleNamespace

    from jaxdl.cli.run import _checked

    assert _checked(SimpleNamespace(checks=[], checks_passed=True)) == "its ops': jaxdl check"
    assert _checked(SimpleNamespace(checks=[1, 2], checks_passed=True)) == "2 checked, ok"
    assert _checked(SimpleNamespace(checks=[1], checks_passed=False)) == "FAILED"
