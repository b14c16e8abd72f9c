"""The docs site builds offline with warnings as errors, and every chapter executed with figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHAPTERS = sorted(p.stem for p in (DOCS / "chapters").glob("*.md"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, (
        f"sphinx-build failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    )
    return out


#: Chapters of the milestones that have landed, each with the modules the API page documents.
EXPECTED_CHAPTERS = {
    "least_squares": ("jaxdl.milestones.least_squares",),
    "gradient_descent": ("jaxdl.milestones.gradient_descent",),
    "linear_regression": ("jaxdl.milestones.linear_regression",),
    "perceptron": ("jaxdl.milestones.perceptron",),
    "backprop": ("jaxdl.milestones.backprop", "jaxdl.mlp"),
    "image_filters": ("jaxdl.milestones.image_filters", "jaxdl.layers"),
    "elman_rnn": ("jaxdl.milestones.elman_rnn",),
    "lstm": ("jaxdl.milestones.lstm",),
    "deep_cnn": ("jaxdl.models.deep_cnn", "jaxdl.milestones.deep_cnn", "jaxdl.training"),
    "tabular_mlp": ("jaxdl.milestones.tabular_mlp", "jaxdl.data.tables"),
    "unet": ("jaxdl.milestones.unet", "jaxdl.models.unet"),
}


def test_there_are_chapters():
    for chapter in EXPECTED_CHAPTERS:
        assert chapter in CHAPTERS, f"chapter {chapter} missing from docs/chapters"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_rendered_with_an_image_and_no_error(site, chapter):
    html = (site / "chapters" / f"{chapter}.html").read_text()
    assert re.search(r'<img [^>]*src="[^"]+\.png"', html), f"{chapter}: no rendered figure"
    assert "Traceback (most recent call last)" not in html
    assert not re.search(r'class="[^"]*\boutput (traceback|error)\b', html), (
        f"{chapter}: error cell"
    )


def test_index_links_every_chapter(site):
    index = (site / "index.html").read_text()
    for chapter in CHAPTERS:
        assert f"chapters/{chapter}.html" in index, f"{chapter} missing from the table of contents"


def test_api_reference_documents_the_building_blocks(site):
    api = (site / "api.html").read_text()
    for name in ("jaxdl.losses.mse_grad", "jaxdl.gradcheck.check_gradient", "jaxdl.optim.adam"):
        assert name in api
    for chapter, modules in EXPECTED_CHAPTERS.items():
        for module in modules:
            assert f'id="module-{module}"' in api, f"{module} ({chapter}) not in the API reference"
