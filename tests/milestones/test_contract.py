"""The milestone contract: every registered chapter is one module with the same interface, and a
test module, a demo and a docs page of the same name."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from jaxdl import milestones

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = [pytest.param(m, id=m.name) for m in milestones.MILESTONES]


def _stem(milestone: milestones.Milestone) -> str:
    return milestone.module.rsplit(".", 1)[1]


@pytest.mark.parametrize("milestone", CHAPTERS)
def test_module_is_named_like_its_command(milestone):
    assert milestone.module == f"jaxdl.milestones.{milestone.name.replace('-', '_')}"


@pytest.mark.parametrize("milestone", CHAPTERS)
def test_chapter_interface(milestone):
    module = milestone.load()
    config = module.Config()  # the defaults are valid
    assert dataclasses.is_dataclass(config) and module.Config.__dataclass_params__.frozen
    assert callable(module.run) and callable(module.plot)
    key = inspect.signature(module.gradient_checks).parameters["key"]
    assert key.kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("milestone", CHAPTERS)
def test_chapter_has_a_test_module_a_demo_and_a_docs_page(milestone):
    stem = _stem(milestone)
    assert (ROOT / "tests" / "milestones" / f"test_{stem}.py").is_file()
    assert (ROOT / "demos" / f"{stem}.py").is_file()
    assert (ROOT / "docs" / "chapters" / f"{stem}.md").is_file()


def test_no_stray_chapter_files():
    registered = {_stem(m) for m in milestones.MILESTONES}
    here = ROOT / "jaxdl" / "milestones"
    modules = {p.stem for p in here.glob("*.py")} - {"__init__"}
    packages = {p.parent.name for p in here.glob("*/__init__.py")}
    assert modules | packages == registered
    assert {p.stem for p in (ROOT / "demos").glob("*.py")} == registered
    assert {p.stem for p in (ROOT / "docs" / "chapters").glob("*.md")} == registered


def _readme_rows() -> list[tuple[str, str]]:
    """``(command, year)`` of every row of the README's milestone table, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The milestones", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append((cells[2].strip("`").split()[0], cells[1]))
    return rows


def test_readme_table_lists_every_milestone_in_order():
    rows = _readme_rows()
    assert [name for name, _ in rows] == [m.name for m in milestones.MILESTONES]
    for (_, year), m in zip(rows, milestones.MILESTONES, strict=True):
        assert year.startswith(str(m.year)[:3]), (m.name, year)  # "1950s" for the 1950s


COPIES = [
    # a chapter that is one module, and one that is a package (its own modules inside)
    pytest.param("gradient_descent.py", '"gradient-descent",\n    1909,', "gradient-ascent", 1910,
                 "gradient_descent", id="module"),
    pytest.param("transformer", '"transformer",\n    2017,', "gpt-two", 2019, "transformer",
                 id="package"),
]  # fmt: skip


@pytest.mark.parametrize("source, declared, name, year, original", COPIES)
def test_a_copied_chapter_is_picked_up_by_list_check_and_the_docs(
    tmp_path, source, declared, name, year, original
):
    """A new chapter is its module (or package), test, demo and docs page: nothing else
    changes."""
    import functools
    import json
    import re
    import shutil
    import subprocess
    import sys

    stem = name.replace("-", "_")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "jaxdl", tree / "jaxdl", ignore=shutil.ignore_patterns("__pycache__"))
    chapters = tree / "jaxdl" / "milestones"
    if source.endswith(".py"):
        declaring, copied = chapters / source, chapters / f"{stem}.py"
        shutil.copy(declaring, copied)
    else:
        shutil.copytree(chapters / source, chapters / stem)
        declaring, copied = chapters / source / "__init__.py", chapters / stem / "__init__.py"
    text = declaring.read_text(encoding="utf-8")
    renamed = text.replace(declared, f'"{name}",\n    {year},')
    assert renamed != text
    copied.write_text(renamed, encoding="utf-8")
    for folder, file in (("tests/milestones", "test_{}.py"), ("demos", "{}.py")):
        (tree / folder).mkdir(parents=True)
        shutil.copy(ROOT / folder / file.format(original), tree / folder / file.format(stem))

    code = (
        "import json, jax, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'docs' / '_ext')!r})\n"
        "import jaxdl_site\n"
        "from jaxdl import milestones\n"
        f"chapter = milestones.get({name!r}).load()\n"
        "checks = [c.name for c in chapter.gradient_checks(key=jax.random.key(0))]\n"
        "print(json.dumps([jaxdl_site.chapter_docnames(), checks]))\n"
    )
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}
    run = functools.partial(subprocess.run, cwd=tree, env=env, capture_output=True, text=True)
    out = run([sys.executable, "-c", code], check=True).stdout
    toctree, checks = json.loads(out)
    at = toctree.index(f"chapters/{original}")
    assert toctree[at + 1] == f"chapters/{stem}"  # the docs' toctree, in date order
    assert checks  # its gradient checks (jaxdl check runs every chapter's)
    listed = run([sys.executable, "-m", "jaxdl", "list"], check=True).stdout
    assert re.search(rf"^{name} +{year} ", listed, re.MULTILINE), listed
