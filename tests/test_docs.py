"""The docs site builds offline with warnings as errors, and every chapter executed with figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdl import milestones

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHAPTERS = sorted(p.stem for p in (DOCS / "chapters").glob("*.md"))


#: Where the site is built: the README's path, so that `.ci/run` can read these very pages in
#: a browser afterwards (scripts/check_site.py) instead of building the site a second time.
SITE = DOCS / "_build" / "html"


@pytest.fixture(scope="module")
def site() -> Path:
    shutil.rmtree(SITE, ignore_errors=True)  # never leave stale pages for the browser check
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
            str(SITE),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, (
        f"sphinx-build failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    )
    return SITE


#: Chapters of the milestones that have landed, each with the modules the API page documents.
EXPECTED_CHAPTERS = {
    "least_squares": ("jaxdl.milestones.least_squares",),
    "gradient_descent": ("jaxdl.milestones.gradient_descent",),
    "linear_regression": ("jaxdl.milestones.linear_regression",),
    "perceptron": ("jaxdl.milestones.perceptron",),
    "backprop": ("jaxdl.milestones.backprop", "jaxdl.nn.dense_stack"),
    "image_filters": ("jaxdl.milestones.image_filters", "jaxdl.nn.affine"),
    "elman_rnn": ("jaxdl.milestones.elman_rnn",),
    "lstm": ("jaxdl.milestones.lstm",),
    "deep_cnn": ("jaxdl.models.deep_cnn", "jaxdl.milestones.deep_cnn", "jaxdl.training"),
    "vae": ("jaxdl.milestones.vae",),
    "gan": ("jaxdl.milestones.gan",),
    "adam": ("jaxdl.milestones.adam",),
    "tabular_mlp": ("jaxdl.milestones.tabular_mlp", "jaxdl.data.tables"),
    "unet": ("jaxdl.milestones.unet", "jaxdl.models.unet"),
    "batch_norm": ("jaxdl.milestones.batch_norm", "jaxdl.nn.batch_norm"),
    "resnet": ("jaxdl.milestones.resnet", "jaxdl.nn.residual"),
    "zip_code": ("jaxdl.milestones.zip_code", "jaxdl.nn.shared_conv", "jaxdl.nn.table_conv"),
    "transformer": ("jaxdl.milestones.transformer", "jaxdl.nn.attention", "jaxdl.nn.layer_norm"),
    "diffusion": ("jaxdl.milestones.diffusion", "jaxdl.nn.silu", "jaxdl.nn.time_embedding"),
    "vit": ("jaxdl.milestones.vit", "jaxdl.nn.patch_embed"),
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


def test_api_reference_has_one_page_per_module_with_short_types(site):
    losses = (site / "api" / "jaxdl.losses.html").read_text()
    assert 'id="jaxdl.losses.mse_grad"' in losses
    assert "ArrayLike" in losses
    assert "ndarray | bool" not in losses, "jax.typing.ArrayLike expanded in full"
    assert 'id="jaxdl.gradcheck.check_gradient"' in (site / "api/jaxdl.gradcheck.html").read_text()
    for chapter, modules in EXPECTED_CHAPTERS.items():
        for module in modules:
            page = site / "api" / f"{module}.html"
            assert page.is_file(), f"{module} ({chapter}) has no API page"
            assert f'id="module-{module}"' in page.read_text(), module


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_links_its_executed_notebook(site, chapter):
    html = (site / "chapters" / f"{chapter}.html").read_text()
    link = re.search(rf'href="\.\./(_downloads/[0-9a-f]+/{chapter}\.ipynb)"', html)
    assert link, f"{chapter}: no link to its notebook"
    notebook = json.loads((site / link.group(1)).read_text())
    assert any(cell.get("outputs") for cell in notebook["cells"]), "notebook was not executed"


def test_math_is_served_by_the_site_itself(site):
    html = (site / "chapters" / "least_squares.html").read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert any(s.startswith("../_static/mathjax/tex-chtml.js") for s in scripts), scripts
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_landing_page_timeline_has_one_thumbnail_per_chapter(site):
    index = (site / "index.html").read_text()
    timeline = re.search(r'<ol class="jaxdl-timeline">(.*?)</ol>', index, re.S)
    assert timeline, "no timeline on the landing page"
    for chapter in CHAPTERS:
        assert f'href="chapters/{chapter}.html"' in timeline.group(1), chapter
        assert (site / "_images" / "timeline" / f"{chapter}.png").is_file(), chapter


def test_glossary_explains_the_seeds_and_references_list_the_originals(site):
    glossary = (site / "glossary.html").read_text()
    for term in ("seed", "seed 000", "seed 001", "seed 002", "seed 003", "seed 004"):
        assert f'id="term-{term.replace(" ", "-")}"' in glossary, term
    references = (site / "references.html").read_text()
    for author in (
        "Legendre",
        "Cauchy",
        "Debye",
        "Rosenblatt",
        "Minsky",
        "Linnainmaa",
        "Rumelhart",
        "Elman",
        "Hochreiter",
        "LeCun",
        "Krizhevsky",
        "Ronneberger",
        "Wallner",
    ):
        assert author in references, author


def test_deep_cnn_page_shows_what_jaxdl_run_deep_cnn_computes(site):
    """The page trains through the chapter's own run(Config()), the code path of the CLI."""
    page = (DOCS / "chapters" / "deep_cnn.md").read_text()
    # the executed cells only: the quoted TFLearn seed calls its own model.fit(...)
    source = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page, re.S))
    assert "deep_cnn_milestone.run(deep_cnn_milestone.Config())" in source
    for rebuilt in ("Recipe(", "train_mnist(", "fit("):
        assert rebuilt not in source, f"the page re-assembles the chapter's internals: {rebuilt}"
    from jaxdl.milestones import deep_cnn

    html = (site / "chapters" / "deep_cnn.html").read_text()
    headline = re.search(r"test accuracy (\d+\.\d+)% on 2000 sample digits", html)
    assert headline, "the page prints the chapter's headline"
    low, high = (100 * (a + b) for a, b in ((0.9675, -0.015), (0.9675, 0.015)))
    assert low <= float(headline.group(1)) <= high
    assert deep_cnn.Config().schedule == "constant"  # the chapter's own setting, not the trainer's


#: Code in the chapters fits the 752-px column at the site's 13-px code font (83 characters).
MAX_CODE_LINE = 80


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_code_fits_the_column(chapter):
    source = (DOCS / "chapters" / f"{chapter}.md").read_text()
    blocks = re.findall(r"```(?:\{code-cell\}|python)[^\n]*\n(.*?)```", source, re.S)
    long = [line for block in blocks for line in block.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{chapter}: code lines over {MAX_CODE_LINE} characters: {long}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_cites_its_sources_and_ends_with_solved_exercises(site, chapter):
    html = (site / "chapters" / f"{chapter}.html").read_text()
    assert 'href="../references.html#' in html, f"{chapter}: no citation"
    assert 'href="../glossary.html#term-seed' in html, f"{chapter}: no seed named"
    exercises = html[html.index('id="exercises"') :]
    solutions = re.findall(r"<details[^>]*>.*?Show the solution.*?</details>", exercises, re.S)
    assert solutions, f"{chapter}: no folded solution"
    assert all('class="cell_output' in s for s in solutions), f"{chapter}: solution not run"


def _site_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("jaxdl_site", DOCS / "_ext" / "jaxdl_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_myst_roles_become_plain_markdown():
    ext = _site_extension()
    bib = ext._bibliography(str(DOCS / "references.bib"))
    text = (
        "(a-label)=\nAs {cite:t}`gers2000` showed {cite:p}`hochreiter1991,bengio1994`, "
        "a {term}`seed <seed 000>` in {doc}`elman_rnn` calls {func}`~jaxdl.nn.dense_stack.forward` "
        "from {mod}`jaxdl.losses`."
    )
    plain = ext.plain_markdown(text, bib=bib, titles={"elman_rnn": "The Elman network (1990)"})
    assert plain == (
        "As [Gers et al.](https://doi.org/10.1162/089976600300015015) (2000) showed "
        "(Hochreiter 1991; [Bengio et al. 1994](https://doi.org/10.1109/72.279181)), "
        "a seed in *The Elman network (1990)* calls `forward()` from `jaxdl.losses`."
    )
    listing = ext.plain_markdown("```{jaxdl-source} jaxdl.losses.mse_grad\n```", bib=bib, titles={})
    assert listing.startswith("```python\n# mse_grad, from jaxdl/losses.py\ndef mse_grad(")


def _notebook_of(site: Path, chapter: str) -> Path:
    html = (site / "chapters" / f"{chapter}.html").read_text()
    link = re.search(rf'href="\.\./(_downloads/[0-9a-f]+/{chapter}\.ipynb)"', html)
    assert link, f"{chapter}: no link to its notebook"
    return site / link.group(1)


def test_downloaded_notebooks_are_plain_jupyter_and_one_runs_outside_the_build(site, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    for chapter in CHAPTERS:
        notebook = nbformat.read(_notebook_of(site, chapter), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                assert not ext_roles(cell.source), f"{chapter}: MyST role left: {cell.source}"
    notebook = nbformat.read(_notebook_of(site, "gradient_descent"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    printed = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "x = 1.092837" in printed


def ext_roles(text: str) -> list[str]:
    return re.findall(r"\{(?:cite:p|cite:t|term|doc|func|class|mod)\}`|```\{", text)


#: Chapters that show their code ({jaxdl-source} listings) and have three exercises or more
#: (issue 21); a new chapter joins this list when it does too.
#: Every registered chapter (a new one is held to the same standard without editing this file).
TEACHING_CHAPTERS = tuple(m.module.rsplit(".", 1)[1] for m in milestones.MILESTONES)


@pytest.mark.parametrize("chapter", TEACHING_CHAPTERS)
def test_chapter_shows_its_code_and_has_three_exercises(site, chapter):
    source = (DOCS / "chapters" / f"{chapter}.md").read_text()
    exercises = source[source.index("\n## Exercises") :]
    assert len(re.findall(r"^\d+\. ", exercises, re.M)) >= 3, chapter
    html = (site / "chapters" / f"{chapter}.html").read_text()
    listing = re.search(
        r'<div class="[^"]*jaxdl-listing[^"]*"[^>]*>.*?<pre>.*?<span class="k">def</span>',
        html,
        re.S,
    )
    assert listing, f"{chapter}: no listing of its code"
    assert 'href="../_modules/jaxdl/' in html, f"{chapter}: no link to its source"


def test_on_a_laptop_line_says_what_was_measured_where(tmp_path):
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import jaxdl_site
    finally:
        sys.path.pop(0)
    record = {
        "date": "2026-11-30",
        "machine": "2 CPU cores, no GPU",
        "chapters": {"gradient-descent": {"seconds": 4.2, "headline": "x = 1.092837"}},
    }
    (tmp_path / "laptop.json").write_text(json.dumps(record))
    app = type("App", (), {"srcdir": str(tmp_path)})()
    line = jaxdl_site._on_a_laptop(app, "gradient_descent").astext()
    assert line == (
        "On a laptop: jaxdl run gradient-descent takes about 4 s with the compilation cache warm "
        "(2 CPU cores, no GPU, measured 2026-11-30) and prints: x = 1.092837"
    )
    assert jaxdl_site._on_a_laptop(app, "lstm") is None  # not measured: no line
