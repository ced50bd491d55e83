"""Sphinx configuration for groupmigrate's documentation."""

project = "groupmigrate"
author = "groupmigrate contributors"
copyright = "2026, groupmigrate contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["exchangelib"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["wrap.css"]
suppress_warnings = ["ref.python"]
nitpicky = False
