"""Sphinx configuration: MyST-NB executes every tutorial at each build; warnings are errors.

The built site needs no network: MathJax is served from the site itself (sphinx-mathjax-offline
copies it into ``_static/mathjax``). ``scripts/check_site.py`` reads the built pages in headless
Chromium, with the network cut off, to prove it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "jaxdl"
author = "the jaxdl developers"
copyright = "2026, the jaxdl developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",  # every API page links to its module's source, on this site
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "sphinx_copybutton",
    "sphinxcontrib.bibtex",
    "jaxdl_site",  # docs/_ext: the wheel, notebook download links, the landing page's timeline
]

exclude_patterns = ["_build", "README.md", "**.ipynb_checkpoints"]

# Tutorials run at every build, so their outputs never rot; a cell that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_merge_streams = True
# Each notebook runs in a fresh kernel in an empty temporary folder, as a downloaded one does:
# a cell that reads a file beside the page fails the build (data ships in the package).
nb_execution_in_temp = True
# Tables a cell displays as Markdown (IPython.display.Markdown) render as tables.
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]

# The bibliography of original works and seed documents, cited from the chapters.
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "chronological"  # docs/_ext/jaxdl_site.py: oldest first
bibtex_reference_style = "author_year"

# Copy buttons copy the code only, never the prompts or the printed output.
copybutton_exclude = ".linenos, .gp, .go"

# One API page per module (docs/api/, generated at each build from
# docs/_templates/autosummary/module.rst), with array types kept to their short names.
autosummary_generate = True
templates_path = ["_templates"]
autodoc_type_aliases = {"ArrayLike": "jax.typing.ArrayLike", "Array": "jax.Array"}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Source pages for the modules the API pages document (not for what they import: a
# NamedTuple's fields would send viewcode to the builtins module, which has no source).
viewcode_follow_imported_members = False
# Numbered source lines, each an anchor (#L42, docs/_ext): a listing's caption "lines 40-52"
# links to its first line.
viewcode_line_numbers = True

html_theme = "sphinx_book_theme"
html_title = "jaxdl"
html_theme_options = {
    "show_toc_level": 2,
    # The book theme already has a search button in its header: drop the second, full-width bar.
    "navbar_persistent": [],
}
html_static_path = ["_static"]
html_css_files = ["jaxdl.css"]
# Search snippets without the header's theme menu or TeX source (see the file); figures that
# open at full size on a click or tap.
html_js_files = ["jaxdl_search.js", "jaxdl_figures.js"]
# Section titles rank above API entries that share a word with the query (see the file).
html_search_scorer = str(Path(__file__).parent / "_static" / "jaxdl_scorer.js")
