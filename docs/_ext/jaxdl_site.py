"""Sphinx extension for the jaxdl site: notebook download links and the landing-page timeline.

- Every chapter (``chapters/*``) gets a link, under its title, to the notebook MyST-NB executed
  while building it: the same cells, with their outputs, ready to run after ``pip install jaxdl``.
- The ``{timeline}`` directive draws the chapters in the order of the "milestones" toctree, each
  with its year (the first four-digit number of its title), its title and a thumbnail of its
  figure: the first image of a cell tagged ``thumbnail``, or else the chapter's last image.
  Thumbnails are written at the size they are shown, so the browser check sees them unscaled.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinx.addnodes import download_reference
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

CHAPTER_PREFIX = "chapters/"
THUMBNAIL_WIDTH = 200  # px; the timeline's cards are this wide
THUMBNAIL_HEIGHT = 134


class timeline_node(nodes.General, nodes.Element):
    """Placeholder the timeline replaces once every chapter has been read."""


class TimelineDirective(Directive):
    has_content = False

    def run(self):
        return [timeline_node()]


def _executed_notebook(app: Sphinx, docname: str) -> Path:
    folder = Path(app.env.mystnb_config.output_folder)
    return folder.joinpath(*docname.split("/")).with_suffix(".ipynb")


def add_notebook_link(app: Sphinx, doctree: nodes.document) -> None:
    """Put a download link to the executed notebook under a chapter's title."""
    docname = app.env.docname
    if not docname.startswith(CHAPTER_PREFIX):
        return
    notebook = _executed_notebook(app, docname)
    if not notebook.is_file():
        logger.warning("no executed notebook for %s at %s", docname, notebook, location=docname)
        return
    target = "/" + os.path.relpath(notebook, app.srcdir)
    name = notebook.name
    link = download_reference("", "", reftarget=target, refdoc=docname)
    link += nodes.literal(name, name, classes=["download"])
    para = nodes.paragraph(classes=["jaxdl-notebook-link"])
    para += nodes.Text("Run this chapter yourself: download it as a Jupyter notebook, ")
    para += link
    para += nodes.Text(", with every cell and its output (needs ")
    para += nodes.literal("pip install jaxdl", "pip install jaxdl")
    para += nodes.Text(").")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, para)
        return
    title = next(iter(section.findall(nodes.title)))
    section.insert(section.index(title) + 1, para)


def _chapter_figure(app: Sphinx, docname: str) -> Path | None:
    doctree = app.env.get_doctree(docname)
    tagged = [
        img
        for cell in doctree.findall(nodes.container)
        if "tag_thumbnail" in cell.get("classes", [])
        for img in cell.findall(nodes.image)
    ]
    images = tagged[:1] or list(doctree.findall(nodes.image))[-1:]
    for image in images:
        uri = image["candidates"].get("*", image["uri"]) if "candidates" in image else image["uri"]
        for path in (Path(app.srcdir) / uri, Path(uri)):
            if path.is_file():
                return path
    return None


def _thumbnail(source: Path, out: Path) -> None:
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT), Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT), "white")
        left = (THUMBNAIL_WIDTH - image.width) // 2
        top = (THUMBNAIL_HEIGHT - image.height) // 2
        canvas.paste(image, (left, top))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)


def _milestones(app: Sphinx, docname: str) -> list[str]:
    """Chapters in the order of the toctrees of ``docname`` (the landing page)."""
    return [
        entry
        for entry in app.env.toctree_includes.get(docname, [])
        if entry.startswith(CHAPTER_PREFIX)
    ]


def fill_timeline(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    placeholders = list(doctree.findall(timeline_node))
    if not placeholders:
        return
    builder = app.builder
    cards = []
    for chapter in _milestones(app, docname):
        title = app.env.titles[chapter].astext()
        year = re.search(r"\b1[89]\d\d|\b20\d\d", title)
        figure = _chapter_figure(app, chapter)
        href = builder.get_relative_uri(docname, chapter)
        thumb = ""
        if figure is None:
            logger.warning("timeline: %s has no figure for a thumbnail", chapter, location=docname)
        elif builder.format == "html":
            rel = f"_images/timeline/{chapter.split('/')[-1]}.png"
            _thumbnail(figure, Path(builder.outdir) / rel)
            src = builder.get_relative_uri(docname, "index").rsplit("index", 1)[0] + rel
            thumb = (
                f'<img src="{html.escape(src)}" width="{THUMBNAIL_WIDTH}" '
                f'height="{THUMBNAIL_HEIGHT}" alt="figure of {html.escape(title)}">'
            )
        cards.append(
            f'<li class="jaxdl-timeline-card"><a href="{html.escape(href)}">'
            f'<span class="jaxdl-timeline-year">{year.group(0) if year else ""}</span>'
            f"{thumb}"
            f'<span class="jaxdl-timeline-title">{html.escape(title)}</span></a></li>'
        )
    raw = nodes.raw("", f'<ol class="jaxdl-timeline">{"".join(cards)}</ol>', format="html")
    for placeholder in placeholders:
        placeholder.replace_self(raw.deepcopy())


class YearSorting(BaseSortingStyle):
    """Works oldest first (then by author), the order the story is told in; seeds by number."""

    def sorting_key(self, entry):
        if entry.key.startswith("seed"):  # the seeds keep their numbers, 000 to 004
            return ("seed", entry.key, "")
        persons = entry.persons.get("author", [])
        first = " ".join(persons[0].last_names) if persons else ""
        return (entry.fields.get("year", "9999"), first, entry.fields.get("title", ""))


class ChronologicalStyle(UnsrtStyle):
    default_sorting_style = "year_author"


def setup(app: Sphinx) -> dict:
    register_plugin("pybtex.style.sorting", "year_author", YearSorting)
    register_plugin("pybtex.style.formatting", "chronological", ChronologicalStyle)
    app.add_node(timeline_node)
    app.add_directive("timeline", TimelineDirective)
    # Before Sphinx's own collectors (priority 500), so that the download is collected too.
    app.connect("doctree-read", add_notebook_link, priority=400)
    app.connect("doctree-resolved", fill_timeline)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
