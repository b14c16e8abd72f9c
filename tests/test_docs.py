"""The docs site builds offline with warnings as errors, and every chapter executed with figures.

The site offers the package's wheel; a fresh virtual environment installs it as Getting started
prints. The build runs every page in a fresh environment holding only that wheel, each in an
empty folder, so every chapter's downloaded notebook (the same cells) has run alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jaxdl import milestones

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHAPTERS = sorted(p.stem for p in (DOCS / "chapters").glob("*.md"))


#: Where the site is built: the README's path, so that `.ci/run` can read these very pages in
#: a browser afterwards (scripts/check_site.py) instead of building the site a second time.
SITE = DOCS / "_build" / "html"


@pytest.fixture(scope="module")
def xla_cache(tmp_path_factory) -> dict[str, str]:
    """The environment of the build's kernels: a persistent XLA compilation cache, the suite's
    own where it has one (tests/conftest.py), so that a kernel skips the compilations this test
    process made already (the same programs; a fresh kernel all the same)."""
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or tmp_path_factory.mktemp("xla-cache")
    return {
        **os.environ,
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture(scope="module")
def site(xla_cache) -> Path:
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
        env=xla_cache,
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


def test_listings_show_docstring_markup_as_a_reader_writes_it():
    ext = _site_extension()
    code = 'def f():\n    """See :func:`~jaxdl.nn.attention.attention` and ``x + 1``."""'
    assert ext.plain_docstring_markup(code) == 'def f():\n    """See `attention` and `x + 1`."""'
    assert (
        ext.plain_docstring_markup(":class:`jaxdl.optim.TrainState`") == "`jaxdl.optim.TrainState`"
    )


def test_figures_become_plain_markdown_images_carried_by_the_notebook(tmp_path):
    import nbformat

    ext = _site_extension()
    text = ":::{figure} ../_static/curve.png\n:alt: A falling curve.\n:name: fig-x\n\nThe loss,\nfalling.\n:::"
    plain = ext.plain_markdown(text, bib={}, titles={})
    assert plain == "![A falling curve.](../_static/curve.png)\n\n*The loss, falling.*"
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "curve.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "chapters").mkdir()
    cell = nbformat.v4.new_markdown_cell(plain)
    ext._attach_images(cell, tmp_path / "chapters")
    assert cell.source.startswith("![A falling curve.](attachment:curve.png)")
    assert list(cell.attachments["curve.png"]) == ["image/png"]


def _notebook_of(site: Path, chapter: str) -> Path:
    html = (site / "chapters" / f"{chapter}.html").read_text()
    link = re.search(rf'href="\.\./(_downloads/[0-9a-f]+/{chapter}\.ipynb)"', html)
    assert link, f"{chapter}: no link to its notebook"
    return site / link.group(1)


def test_downloaded_notebooks_are_plain_jupyter_with_an_install_cell(site):
    import nbformat

    wheel = _wheel_of(site).name
    for chapter in CHAPTERS:
        notebook = nbformat.read(_notebook_of(site, chapter), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                assert not ext_roles(cell.source), f"{chapter}: MyST role left: {cell.source}"
                # an image is carried by the notebook: nothing beside it to find it in
                for src in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", cell.source):
                    assert src.startswith("attachment:"), f"{chapter}: image {src} not embedded"
                    assert src.split(":", 1)[1] in cell.get("attachments", {}), chapter
        first_code = next(c for c in notebook.cells if c.cell_type == "code")
        assert "jaxdl-install" in first_code.metadata.get("tags", []), chapter
        assert f'"{wheel}"' in first_code.source, f"{chapter}: install cell names another wheel"


def ext_roles(text: str) -> list[str]:
    return re.findall(r"\{(?:cite:p|cite:t|term|doc|func|class|mod)\}`|```\{|:::\{", text)


# ------------------------------------------------------------- the wheel, as a learner gets it


def _wheel_of(site: Path) -> Path:
    html = (site / "getting_started.html").read_text()
    link = re.search(r'href="(dist/[^"]+\.whl)"', html)
    assert link, "Getting started links no wheel"
    return site / link.group(1)


def _printed_commands(site: Path) -> list[str]:
    """The install commands Getting started prints, as a reader copies them."""
    import html as html_lib

    page = (site / "getting_started.html").read_text()
    install = page[page.index('class="jaxdl-install"') :]
    block = re.search(r"<pre>(.*?)</pre>", install, re.S)
    assert block, "Getting started prints no install command"
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", block.group(1)))
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fresh_install(site, tmp_path_factory) -> Path:
    """A new virtual environment with the site's wheel installed as Getting started prints it;
    returns its ``bin/`` folder.

    The machine running the tests may be offline, so pip installs the wheel alone and the
    environment sees this one's site-packages for the dependencies (the docs extension's
    ``environment_with_the_wheel``, as the build's kernel has it), which
    :func:`test_the_wheel_installs_as_printed` checks against the wheel's own requirements.
    """
    wheel = _wheel_of(site)
    commands = _printed_commands(site)
    assert commands[0] == "python3 -m venv .venv", commands
    assert commands[1] == f".venv/bin/pip install {wheel.name}", commands
    root = tmp_path_factory.mktemp("fresh")
    downloads = root / "downloads"
    downloads.mkdir()
    shutil.copy(wheel, downloads / wheel.name)
    venv = root / ".venv"
    printed = commands[1].split()[1:]  # "install", the wheel's file name
    _site_extension().environment_with_the_wheel(venv, printed, cwd=downloads)
    return venv / "bin"


def _jaxdl_of(python: Path, folder: Path) -> tuple[Path, Path]:
    """``(jaxdl.__file__, sys.prefix)`` as ``python`` sees them, started in ``folder``."""
    where = subprocess.run(
        [str(python), "-c", "import jaxdl, sys; print(jaxdl.__file__); print(sys.prefix)"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    module, prefix = where.stdout.split()
    return Path(module), Path(prefix)


def test_the_wheel_installs_as_printed(fresh_install, tmp_path):
    python, jaxdl = fresh_install / "python", fresh_install / "jaxdl"
    module, prefix = _jaxdl_of(python, tmp_path)
    assert prefix == fresh_install.parent and module.is_relative_to(prefix), module
    unmet = subprocess.run(
        [str(python), "-c", UNMET_REQUIREMENTS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert unmet.returncode == 0, unmet.stderr
    assert json.loads(unmet.stdout) == [], f"the wheel's requirements are not met: {unmet.stdout}"
    listed = subprocess.run([str(jaxdl), "list"], cwd=tmp_path, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "gradient-descent" in listed.stdout and "transformer" in listed.stdout, listed.stdout


#: Run in the fresh environment: the wheel's requirements (no extras) that it does not meet.
UNMET_REQUIREMENTS = """
import importlib.metadata as md, json
from packaging.requirements import Requirement
unmet = []
for spec in md.requires("jaxdl-history") or []:
    req = Requirement(spec)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        unmet.append(spec)
        continue
    if not req.specifier.contains(version, prereleases=True):
        unmet.append(f"{spec} (found {version})")
print(json.dumps(unmet))
"""


def test_the_wheel_and_the_sdist_hold_every_file_of_the_package(site):
    package = DOCS.parent / "jaxdl"
    files = sorted(
        p.relative_to(DOCS.parent).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    wheel = _wheel_of(site)
    assert set(files) <= set(zipfile.ZipFile(wheel).namelist()), sorted(
        set(files) - set(zipfile.ZipFile(wheel).namelist())
    )
    import tarfile

    (sdist,) = wheel.parent.glob("*.tar.gz")
    html = (site / "getting_started.html").read_text()
    assert f'href="dist/{sdist.name}"' in html, "Getting started links no sdist"
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert set(files) <= names, sorted(set(files) - names)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_links_the_wheel_and_its_install_command(site, chapter):
    wheel = _wheel_of(site).name
    html = (site / "chapters" / f"{chapter}.html").read_text()
    assert f'href="../dist/{wheel}"' in html, f"{chapter}: no link to the wheel"
    assert f"pip install {wheel}" in re.sub(r"<[^>]+>", "", html), chapter
    assert "clone" not in html.split('class="jaxdl-notebook-link"', 1)[1][:2000], chapter


def _kernel_folder(site: Path) -> Path:
    return site.parent / "wheel-kernel"  # docs/_ext/jaxdl_site.py: KERNEL_FOLDER


def test_every_page_ran_alone_in_a_fresh_environment_with_only_the_wheel(site, tmp_path):
    """The build is the downloaded notebooks' run (docs/_ext: ``kernel_of_the_wheel``): every
    page's kernel was the python3 kernelspec of a new environment whose jaxdl is the site's
    wheel, started in an empty folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    folder = _kernel_folder(site)
    manager = KernelSpecManager()
    manager.kernel_dirs = [str(folder / "jupyter" / "kernels"), *manager.kernel_dirs]
    kernel = manager.get_kernel_spec("python3")
    assert Path(kernel.resource_dir) == folder / "jupyter" / "kernels" / "python3"
    module, prefix = _jaxdl_of(Path(kernel.argv[0]), tmp_path)
    assert prefix == folder / "venv" and module.is_relative_to(prefix), module
    version = _wheel_of(site).name.split("-")[1]
    assert f"/jaxdl_history-{version}.dist-info" in "\n".join(
        str(p) for p in (folder / "venv").rglob("*.dist-info")
    )
    executed = [
        p for p in (site.parent / "jupyter_execute").rglob("*.ipynb") if "plain" not in p.parts
    ]
    starts = [json.loads(line) for line in (folder / "kernels.jsonl").read_text().splitlines()]
    assert len(starts) >= len(executed) > len(CHAPTERS), (len(starts), len(executed))
    for start in starts:
        assert start["holds"] == [], f"a kernel started in a folder holding {start['holds']}"
        assert not Path(start["folder"]).is_relative_to(DOCS.parent), start["folder"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_notebook_holds_the_cells_the_build_ran(site, chapter):
    """The download is the build's run (above) with the install cell in front: the same code
    cells, in order, with their outputs and no error among them."""
    import nbformat

    download = nbformat.read(_notebook_of(site, chapter), as_version=4)
    ran = nbformat.read(site.parent / "jupyter_execute" / "chapters" / f"{chapter}.ipynb", 4)
    install, *cells = [c for c in download.cells if c.cell_type == "code"]
    assert "jaxdl-install" in install.metadata.get("tags", []), chapter
    assert [c.source for c in cells] == [c.source for c in ran.cells if c.cell_type == "code"]
    assert [c.outputs for c in cells] == [c.outputs for c in ran.cells if c.cell_type == "code"]
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"], chapter


def test_the_install_cell_leaves_an_environment_with_jaxdl_alone(site, fresh_install, tmp_path):
    """Run where jaxdl is installed, the first cell installs nothing: pointed at a wheel that
    does not exist, it still succeeds."""
    import nbformat

    install = next(
        c for c in nbformat.read(_notebook_of(site, "gradient_descent"), 4).cells
        if c.cell_type == "code"
    )  # fmt: skip
    done = subprocess.run(
        [str(fresh_install / "python"), "-c", install.source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "JAXDL_WHEEL": str(tmp_path / "no-such.whl")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", done.stdout + done.stderr


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
