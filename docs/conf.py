"""Sphinx configuration for skadmm's documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``.ci/run`` does, with warnings as errors).  The gallery runs
``examples/plot_*.py`` on the real data at build time.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_inventories"))

import make_inventories  # noqa: E402

import skadmm  # noqa: E402

make_inventories.main()  # offline intersphinx inventories (see that file)

project = "skadmm"
author = "The skadmm developers"
copyright = "2026, the skadmm developers"
release = skadmm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's generated metadata-routing methods cite its own glossary
    "exclude-members": "set_fit_request,set_score_request,set_predict_request,"
    "set_partial_fit_request",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_xref_ignore = {
    "of",
    "or",
    "shape",
    "default",
    "optional",
    "array-like",
    "n_samples",
    "n_features",
    "n_outputs",
    "n_classes",
    "n_layers",
    "n_iter_",
    "n",
    "n_local",
    "n_in",
    "n_out",
    "d_in",
    "d_out",
    "n_l",
    "n_next",
    "n_rows",
    "n_local_rows",
    "n_units_i",
    "n_units_",
    "sparse",
    "matrix",
    "array",
    "matplotlib",
    "Axes",
    "PiecewiseLinear",
    "SolverOptions",
    "Backend",
    "ADMMResult",
    "callable",
    "path",
    "Path",
    "dtype",
    "slice",
    "int",
    "float",
    "bool",
    "str",
    "tuple",
    "list",
    "dict",
    "ndarray",
    "Bunch",
    "RandomState",
    "instance",
    "None",
    "n_layers_",
    "n_features_in_",
    "n_iter",
    "n_classes_",
    "1",
    "3",
    "n_next)",
    "mpi4py.MPI.Comm",
    "ADMMClassifier",
    "ADMMRegressor",
    "Figure",
    "ndarray}",
}

intersphinx_mapping = {
    name: (url, str(HERE / "_inventories" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "sklearn": "https://scikit-learn.org/stable/",
        "joblib": "https://joblib.readthedocs.io/en/stable/",
        "mpi4py": "https://mpi4py.readthedocs.io/en/stable/",
        "threadpoolctl": "https://threadpoolctl.readthedocs.io/en/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
    }.items()
}

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"mpi_",
    "download_all_examples": False,
    "plot_gallery": os.environ.get("SKADMM_DOCS_PLOT", "True"),
    "reference_url": {"skadmm": None},
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"skadmm {release}"
html_static_path = []
exclude_patterns = [
    "_build",
    "_inventories",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
]
templates_path = []
