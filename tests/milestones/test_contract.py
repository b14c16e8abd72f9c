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
    modules = {p.stem for p in (ROOT / "jaxdl" / "milestones").glob("*.py")} - {"__init__"}
    assert modules == registered
    assert {p.stem for p in (ROOT / "demos").glob("*.py")} == registered
    assert {p.stem for p in (ROOT / "docs" / "chapters").glob("*.md")} == registered
