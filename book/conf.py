"""Sphinx configuration of the web book (``make book``; ``python -m book build``).

The sources are a staged copy that ``book/build.py`` writes (README, the chapters, the
teaching guide, the pages in this folder); this folder is only the configuration
(``sphinx-build -c book``). Notebooks are rendered with their committed outputs and never
executed; MathJax is served from the book itself, so a page needs no network.
"""

project = "gluon-densenet"
author = "the gluon-densenet authors"
copyright = "2026, the gluon-densenet authors"  # noqa: A001 (Sphinx's name for it)

extensions = [
    "myst_nb",                  # Markdown pages and notebooks (with their outputs)
    "sphinx-mathjax-offline",   # MathJax 3 copied into _static/, instead of a CDN
]
root_doc = "index"
exclude_patterns = ["README.md", "_build"]   # README is included piece by piece by index.md

# Notebooks: the committed full-run outputs, never re-executed here.
nb_execution_mode = "off"
nb_merge_streams = True               # one block per cell for its printed lines
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3              # README's "#gpus"-style links to headings resolve
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "gluon-densenet"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = True               # the download button offers the .ipynb itself
html_use_index = False                # no index entries: an empty "Index" page helps nobody
html_context = {"default_mode": "light"}
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,   # the repository has no public address to link to
    "launch_buttons": {},             # no Binder or Thebe: nothing is fetched from the web
    "show_toc_level": 2,
    "home_page_in_toc": False,        # the title above the sidebar leads home
    "navigation_with_keys": False,
    "navbar_persistent": [],          # one search box (the sidebar's), not two
}

