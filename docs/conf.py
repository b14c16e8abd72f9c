"""Sphinx configuration: MyST-NB executes every tutorial at each build; warnings are errors."""

project = "jaxdl"
author = "the jaxdl developers"
copyright = "2026, the jaxdl developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "README.md", "**.ipynb_checkpoints"]

# Tutorials run at every build, so their outputs never rot; a cell that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "sphinx_book_theme"
html_title = "jaxdl"
html_theme_options = {"show_toc_level": 2}
