"""A grade cannot be faked by the file being graded: each file here returns a wrong gradient and
tries to pass anyway (replace the judge's comparison, the exercise's truth, Hypothesis itself;
write a forged verdict where the old worker wrote its own and leave). Every one fails, as does
a complex answer, a call of ``jax.grad``, a learner's child left running, and a FILE that is
not a regular UTF-8 file. Each is graded by ``jaxdl grade`` in a learner process of its own."""

from __future__ import annotations

import json
import os
import time

import pytest

from jaxdl import exercises
from jaxdl.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

WRONG = "return jnp.zeros_like(jnp.asarray(x))"
FORGED_VERDICT = json.dumps({
    "exercise": "debye-slope", "passed": True, "kind": "pass", "examples": 30, "details": [],
    "message": "PASS debye-slope: debye_slope in mine.py equals jax.grad on all 30 inputs",
})  # fmt: skip

FORGERIES = {
    "compare-replaced": (
        "import jaxdl.exercises.judge as judge\njudge.compare = lambda *a, **k: None\n",
        WRONG,
    ),
    "truth-replaced": (
        "import jax.numpy as jnp\nimport jaxdl.exercises as e\n"
        "object.__setattr__(e.get('debye-slope'), 'truth', lambda **k: jnp.zeros(5))\n",
        WRONG,
    ),
    "given-a-no-op": (
        "import hypothesis\nhypothesis.given = lambda *a, **k: (lambda f: (lambda *x, **y: None))\n",
        WRONG,
    ),
    "forged-verdict-then-exit": (
        "",
        "import os\nfor fd in range(64):\n    try:\n"
        f"        os.write(fd, b{FORGED_VERDICT + chr(10)!r})\n"
        "    except OSError:\n        pass\nos._exit(0)",
    ),
}


def grade(path, capsys, *extra) -> tuple[int, dict]:
    status = main(["grade", str(path), "--examples", "5", "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def write(tmp_path, prelude: str, body: str, name: str = "debye-slope"):
    path = tmp_path / "mine.py"
    text = exercises.stub(name, path="mine.py", body=body)
    path.write_text(text.replace("from __future__ import annotations\n", "", 1) + "\n" + prelude)
    # (the prelude runs at import, after the function is defined)
    return path


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_file_that_tries_to_fake_its_grade_fails(forgery, tmp_path, capsys):
    prelude, body = FORGERIES[forgery]
    status, verdict = grade(write(tmp_path, prelude, body), capsys)
    assert status == EXIT_FAILED and not verdict["passed"], verdict  # before: PASS, status 0
    assert verdict["message"].startswith("FAIL debye-slope: "), verdict
    assert "\n" not in verdict["message"]


def test_a_complex_answer_is_refused(tmp_path, capsys):
    body = "x = jnp.asarray(x)\nreturn 5 * x**4 - 6 * x**2 + 1e-3j"
    status, verdict = grade(write(tmp_path, "", body), capsys)
    assert status == EXIT_FAILED and verdict["kind"] == "bad-output", verdict
    assert "complex" in verdict["message"]


@pytest.mark.parametrize(
    "body",
    ["return jax.grad(lambda v: jnp.sum(v**5 - 2 * v**3 - 2))(x)",
     "g = getattr(jax, 'gr' + 'ad')\nreturn g(lambda v: jnp.sum(v**5 - 2 * v**3 - 2))(x)"],
    ids=["named", "hidden"],
)  # fmt: skip
def test_a_solution_that_calls_jax_grad_is_refused(body, tmp_path, capsys):
    status, verdict = grade(write(tmp_path, "", body), capsys)
    assert status == EXIT_FAILED and verdict["kind"] == "autodiff", verdict
    assert "jax.grad" in verdict["message"] and "\n" not in verdict["message"]


CURVE = "lambda v: jnp.sum(v**5 - 2 * v**3 - 2)"
KIN = {
    "vjp": (f"return jax.vjp({CURVE}, x)[1](1.0)[0]", "calls jax.vjp"),
    "jacobian": (f"return jax.jacobian({CURVE})(x)", "calls jax.jacobian"),
    "jacfwd": (f"return jax.jacfwd({CURVE})(x)", "calls jax.jacfwd"),
    "jacrev": (f"return jax.jacrev({CURVE})(x)", "calls jax.jacrev"),
    "linear_transpose": ("t = jax.linear_transpose(lambda v: 2 * v, x)\nreturn t(x)[0]",
                         "calls jax.linear_transpose"),
    "from-import": ("from jax import vjp as v\nreturn v(jnp.sin, x)[1](x)[0]", "calls jax.vjp"),
    "internals": ("from jax._src.api import grad as g\nreturn g(jnp.sum)(x)", "uses jax._src.api"),
}  # fmt: skip


@pytest.mark.parametrize("kin", sorted(KIN))
def test_a_solution_that_calls_vjp_jacobian_or_their_kin_is_refused(kin, tmp_path, capsys):
    body, words = KIN[kin]
    status, verdict = grade(write(tmp_path, "", body), capsys)
    assert status == EXIT_FAILED and verdict["kind"] == "autodiff", verdict  # before: PASS
    assert words in verdict["message"] and "\n" not in verdict["message"]


def test_jax_internals_reached_at_run_time_are_refused_too(tmp_path, capsys):
    body = (
        "api = __import__('importlib').import_module('jax.' + chr(95) + 'src.api')\n"
        f"return getattr(api, 'v' + 'jp')({CURVE}, x)[1](1.0)[0]"
    )
    status, verdict = grade(write(tmp_path, "", body), capsys)
    assert status == EXIT_FAILED and verdict["kind"] == "autodiff", verdict
    assert "jax.vjp is not allowed" in verdict["message"]


def test_the_learner_s_children_die_with_the_grade_even_in_a_new_session(tmp_path, capsys):
    pids = tmp_path / "pids"
    prelude = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "holder = subprocess.Popen(['sleep', '300'], stderr=sys.stderr)\n"  # holds stderr
        f"open({str(pids)!r}, 'w').write(f'{{child.pid}} {{holder.pid}}')\n"
    )
    start = time.monotonic()
    body = "x = jnp.asarray(x)\nreturn 5 * x**4 - 6 * x**2"
    status, verdict = grade(write(tmp_path, prelude, body), capsys, "--timeout", "60")
    assert status == EXIT_OK and verdict["passed"], verdict  # before: "timeout" after 60 s
    assert time.monotonic() - start < 50
    for pid in map(int, pids.read_text().split()):
        assert gone(pid), pid


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie that its new parent has not reaped yet counts)."""
    for _ in range(50):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_a_file_that_is_not_a_regular_utf8_file_is_refused_in_one_line(tmp_path, capsys):
    latin = tmp_path / "latin.py"
    latin.write_bytes(exercises.stub("debye-slope").encode() + b"# caf\xe9\n")
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    cases = {
        latin: "is not UTF-8",
        tmp_path: "is a directory",
        fifo: "is a FIFO",
        "/dev/null": "is a device",
        tmp_path / "missing.py": "no such file",
    }
    for path, words in cases.items():
        assert main(["grade", str(path), "--timeout", "5"]) == EXIT_USAGE, path
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
