"""The chapters as a static web book (``make book``), and its check in a real browser.

``build.py`` stages README, the committed notebooks and the teaching guide, and renders
them with Sphinx, myst-nb and sphinx-book-theme into ``build/book/html`` without
re-executing anything; ``conf.py`` is the Sphinx configuration. ``browser.py`` opens
every page in headless Chromium and lists what a reader would stumble on.
"""
