"""Sphinx configuration for skadmm's documentation."""

project = "skadmm"
author = "The skadmm developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "numpydoc"]
html_theme = "alabaster"
exclude_patterns = ["_build"]
