"""jaxdl.exercises: every exercise's property passes the project's own solution, fails its
``mistake`` saying where, and turns a broken file into one line.

The trusted side runs in-process here (:func:`judge_file`) with few examples, and the learner's
files are loaded one after another into one learner process (starting one per file would cost a
JAX import each); tests/cli/test_exercise.py runs ``jaxdl grade``, time limit included, and
tests/exercises/test_forgery.py the files that try to fake a grade, each in a process of its own.
"""

from __future__ import annotations

import inspect

import pytest

from jaxdl import exercises
from jaxdl.exercises.judge import Learner, judge_file

NAMES = exercises.names()
EXAMPLES = 8


_shared: list[Learner] = []


def judge(path, name, *, examples):
    """:func:`judge_file` with the module's learner process (a new one if the last one ended)."""
    if not _shared or not _shared[0].alive:
        _shared[:] = [Learner()]
    return judge_file(path, name, examples=examples, learner=_shared[0])


@pytest.fixture(scope="module", autouse=True)
def _close_the_learner():
    yield
    for learner in _shared:
        learner.close()


def write(tmp_path, name, body=None, text=None):
    path = tmp_path / exercises.default_path(name)
    path.write_text(text if text is not None else exercises.stub(name, path=path.name, body=body))
    return path


def test_at_least_the_issue_s_six_gradients():
    assert {"debye-slope", "trask-deltas", "softmax-cross-entropy", "max-pool", "lstm-bptt"} <= set(
        NAMES
    )
    assert len(NAMES) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_stub_shows_the_solution_s_signature_and_an_empty_body(name, tmp_path):
    exercise = exercises.get(name)
    text = exercises.stub(name)
    assert text.startswith(f"# jaxdl exercise: {name}\n")
    params = ", ".join(exercise.signature().parameters)
    assert f"def {exercise.function}(" in text
    assert "raise NotImplementedError" in text
    assert exercise.task.strip().splitlines()[0] in text
    compile(text, "stub", "exec")
    verdict = judge(write(tmp_path, name), name, examples=2)
    assert (verdict.passed, verdict.kind) == (False, "not-written"), verdict
    assert "\n" not in verdict.message
    assert params  # the signature is the solution's, which the grader checks


@pytest.mark.parametrize("name", NAMES)
def test_the_project_s_solution_passes(name, tmp_path):
    verdict = judge(write(tmp_path, name, exercises.solution_body(name)), name, examples=EXAMPLES)
    assert verdict.passed, verdict.lines()
    assert verdict.message.startswith(f"PASS {name}")
    assert verdict.examples == EXAMPLES + 1  # the first probe, then the property


@pytest.mark.parametrize("name", NAMES)
def test_a_subtle_mistake_fails_with_the_smallest_input_and_where(name, tmp_path):
    exercise = exercises.get(name)
    verdict = judge(write(tmp_path, name, exercise.mistake), name, examples=EXAMPLES)
    assert (verdict.passed, verdict.kind) == (False, "mismatch"), verdict.lines()
    assert "\n" not in verdict.message
    assert f"{exercise.function} differs from jax.grad at " in verdict.message
    assert "yours " in verdict.message and "|difference|" in verdict.message
    assert verdict.details[0] == "the smallest failing input Hypothesis found:"
    for arg, parameter in exercise.signature().parameters.items():
        if arg in ("trace", "heads") or parameter.default is not inspect.Parameter.empty:
            continue  # computed from the drawn inputs, fixed, or left at its default
        assert any(line.lstrip().startswith(arg) for line in verdict.details[1:]), arg
    if exercise.hints:  # each mistake is the first of its exercise's known wrong answers
        assert verdict.hint == exercise.hints[0].text, verdict.lines()
        assert verdict.lines()[1] == f"hint: {exercise.hints[0].text}"


HINTED = [
    (name, index)
    for name in NAMES
    for index, hint in enumerate(exercises.get(name).hints)
    if hint.body and index > 0  # the first is each exercise's mistake, graded above
]


@pytest.mark.parametrize(("name", "index"), HINTED)
def test_a_known_mistake_gets_the_hint_that_names_it(name, index, tmp_path):
    hint = exercises.get(name).hints[index]
    verdict = judge(write(tmp_path, name, hint.body), name, examples=EXAMPLES)
    assert (verdict.passed, verdict.kind) == (False, "mismatch"), verdict.lines()
    assert verdict.hint == hint.text, verdict.lines()


def test_a_wrong_answer_that_is_no_known_mistake_gets_no_hint(tmp_path):
    body = (  # the solution's dx, scaled by 1.5
        "from jaxdl.nn.batch_norm import batch_norm_backward\n\n"
        "dx, dparams = batch_norm_backward(x, params, g, epsilon=epsilon)\n"
        "return 1.5 * dx, dparams"
    )
    verdict = judge(write(tmp_path, "batch-norm", body), "batch-norm", examples=EXAMPLES)
    assert (verdict.passed, verdict.kind, verdict.hint) == (False, "mismatch", ""), verdict
    assert not any(line.startswith("hint:") for line in verdict.lines())


def test_the_new_chapters_have_graded_exercises():
    chapters = {exercises.get(name).chapter for name in NAMES}
    assert {"batch_norm", "resnet", "transformer", "zip_code"} <= chapters
    assert {"batch-norm", "layer-norm", "attention-softmax", "residual-block",
            "zip-code-curvature"} <= set(NAMES)  # fmt: skip


BROKEN = {
    "syntax": ("return x +* 2", "bad-file", "syntax error"),
    "raises": ("return undefined_name", "raised", "NameError"),
    "none": ("pass", "bad-output", "returned None"),
    "shape": ("return jnp.zeros((7, 7, 7))", "bad-output", "returned "),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_gets_one_line(name, case, tmp_path):
    body, kind, words = BROKEN[case]
    verdict = judge(write(tmp_path, name, body), name, examples=3)
    assert (verdict.passed, verdict.kind) == (False, kind), verdict.lines()
    assert words in verdict.message
    assert verdict.details == () and "\n" not in verdict.message
    assert "Traceback" not in verdict.message


def test_wrong_signature_missing_function_and_import_error_are_one_line(tmp_path):
    stub = exercises.stub("debye-slope")
    cases = {
        stub.replace("def debye_slope(x: ArrayLike)", "def debye_slope(x, y)"): "wrong parameters",
        stub.replace("def debye_slope(", "def slope("): "defines no function debye_slope",
        stub + "\nimport no_such_module_here\n": "ModuleNotFoundError",
        stub + "\nraise SystemExit(3)\n": "SystemExit",
    }
    for text, words in cases.items():
        verdict = judge(write(tmp_path, "debye-slope", text=text), "debye-slope", examples=2)
        assert (verdict.passed, verdict.kind) == (False, "bad-file")
        assert words in verdict.message and "\n" not in verdict.message


def test_the_raise_names_the_learner_s_line(tmp_path):
    path = write(tmp_path, "debye-slope", "y = 1\nreturn x / undefined")
    verdict = judge(path, "debye-slope", examples=2)
    line = path.read_text().splitlines().index("    return x / undefined") + 1
    assert verdict.message.endswith(f"(line {line} of {path.name})")


def test_which_exercise_a_file_is_for(tmp_path):
    path = write(tmp_path, "max-pool")
    assert exercises.exercise_of(path) == "max-pool"
    bare = tmp_path / "mine.py"
    bare.write_text("def lstm_bptt(params, xs, trace, d_h):\n    pass\n")
    assert exercises.exercise_of(bare) == "lstm-bptt"
    bare.write_text("x = 1\n")
    with pytest.raises(ValueError, match="exercise=NAME"):
        exercises.exercise_of(bare)
    with pytest.raises(ValueError, match="known exercises: debye-slope"):
        exercises.get("no-such")


def test_every_exercise_names_an_existing_chapter_and_a_hand_gradient():
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs" / "chapters"
    for name in NAMES:
        exercise = exercises.get(name)
        assert (docs / f"{exercise.chapter}.md").is_file(), exercise.chapter
        assert inspect.isfunction(exercise.solution_function())
