"""Write small offline intersphinx inventories for the objects our docs link to.

CI and the developers' machines reach package registries but not the
projects' documentation sites, so Sphinx cannot download ``objects.inv``.
These hand-listed inventories map each name to its page on the real site;
the links in the built docs point there.  Add a line when the docs
reference a new external object (a missing one is a warning: the build
fails, so nothing is silently unlinked).
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROJECTS = {
    "python": (
        "Python",
        "3",
        [
            ("KeyboardInterrupt", "py:exception", "library/exceptions.html#$"),
            ("MemoryError", "py:exception", "library/exceptions.html#$"),
            ("ValueError", "py:exception", "library/exceptions.html#$"),
            ("FloatingPointError", "py:exception", "library/exceptions.html#$"),
            ("RuntimeWarning", "py:exception", "library/exceptions.html#$"),
            ("UserWarning", "py:exception", "library/exceptions.html#$"),
            ("int", "py:class", "library/functions.html#$"),
            ("float", "py:class", "library/functions.html#$"),
            ("str", "py:class", "library/stdtypes.html#$"),
            ("bool", "py:class", "library/functions.html#$"),
            ("callable", "py:function", "library/functions.html#$"),
            ("list", "py:class", "library/stdtypes.html#$"),
            ("tuple", "py:class", "library/stdtypes.html#$"),
            ("dict", "py:class", "library/stdtypes.html#$"),
            ("slice", "py:class", "library/functions.html#$"),
            ("object", "py:class", "library/functions.html#$"),
            ("pickle", "py:module", "library/pickle.html#module-$"),
        ],
    ),
    "numpy": (
        "NumPy",
        "2",
        [
            ("numpy.ndarray", "py:class", "reference/generated/$.html#$"),
            ("numpy.float32", "py:attribute", "reference/arrays.scalars.html#$"),
            ("numpy.float64", "py:attribute", "reference/arrays.scalars.html#$"),
            ("numpy.dtype", "py:class", "reference/generated/$.html#$"),
            ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$"),
        ],
    ),
    "scipy": (
        "SciPy",
        "1",
        [
            ("scipy.sparse.csr_matrix", "py:class", "reference/generated/$.html#$"),
            ("scipy.sparse.csc_matrix", "py:class", "reference/generated/$.html#$"),
            ("scipy.linalg.cho_factor", "py:function", "reference/generated/$.html#$"),
        ],
    ),
    "sklearn": (
        "scikit-learn",
        "1.9",
        [
            ("sklearn.linear_model.Ridge", "py:class", "modules/generated/$.html#$"),
            ("sklearn.neural_network.MLPClassifier", "py:class", "modules/generated/$.html#$"),
            ("sklearn.neural_network.MLPRegressor", "py:class", "modules/generated/$.html#$"),
            ("sklearn.pipeline.Pipeline", "py:class", "modules/generated/$.html#$"),
            ("sklearn.pipeline.make_pipeline", "py:function", "modules/generated/$.html#$"),
            ("sklearn.model_selection.GridSearchCV", "py:class", "modules/generated/$.html#$"),
            ("sklearn.preprocessing.StandardScaler", "py:class", "modules/generated/$.html#$"),
            (
                "sklearn.compose.TransformedTargetRegressor",
                "py:class",
                "modules/generated/$.html#$",
            ),
            (
                "sklearn.calibration.CalibratedClassifierCV",
                "py:class",
                "modules/generated/$.html#$",
            ),
            ("sklearn.config_context", "py:function", "modules/generated/$.html#$"),
            ("sklearn.utils.Bunch", "py:class", "modules/generated/$.html#$"),
            ("sklearn.exceptions.ConvergenceWarning", "py:class", "modules/generated/$.html#$"),
            (
                "sklearn.utils.estimator_checks.parametrize_with_checks",
                "py:function",
                "modules/generated/$.html#$",
            ),
        ],
    ),
    "joblib": (
        "joblib",
        "1.5",
        [
            ("joblib.parallel_config", "py:class", "generated/$.html#$"),
            ("joblib.Parallel", "py:class", "generated/$.html#$"),
            ("joblib", "py:module", "index.html#module-$"),
        ],
    ),
    "mpi4py": (
        "MPI for Python",
        "4",
        [
            ("mpi4py.MPI.Comm", "py:class", "reference/$.html#$"),
            ("mpi4py.MPI.COMM_WORLD", "py:data", "reference/mpi4py.MPI.html#$"),
            ("mpi4py", "py:module", "mpi4py.html#module-$"),
        ],
    ),
    "threadpoolctl": (
        "threadpoolctl",
        "3",
        [
            ("threadpoolctl", "py:module", "index.html#module-$"),
            ("threadpoolctl.threadpool_limits", "py:class", "index.html#$"),
        ],
    ),
    "matplotlib": (
        "Matplotlib",
        "3",
        [
            ("matplotlib.figure.Figure", "py:class", "api/_as_gen/$.html#$"),
            ("matplotlib.axes.Axes", "py:class", "api/_as_gen/$.html#$"),
        ],
    ),
}


def write(name, project, version, entries):
    body = "".join(f"{obj} {role} 1 {uri} -\n" for obj, role, uri in entries)
    head = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    (HERE / f"{name}.inv").write_bytes(head.encode() + zlib.compress(body.encode()))


def main():
    for name, (project, version, entries) in PROJECTS.items():
        write(name, project, version, entries)


if __name__ == "__main__":
    main()
