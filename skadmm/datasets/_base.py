"""Loaders for the embedded HIGGS sample and for a folder of benchmark datasets.

The embedded sample ``data/higgs_sample.csv.gz`` holds the 10,972 rows of
the 0.1 % uniform random sample of UCI HIGGS (Baldi, Sadowski, Whiteson,
"Searching for exotic particles in high-energy physics with deep learning",
Nature Communications 5, 2014), CC BY 4.0, columns ``label`` then ``f1`` to
``f28`` (21 low-level then 7 high-level features, UCI order).
"""

import gzip
import os
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

__all__ = ["DATASETS", "data_home", "load_dataset", "load_higgs", "read_higgs_rows"]

HIGGS_FEATURES = [f"f{i}" for i in range(1, 29)]

_HIGGS_DESCR = """HIGGS sample (embedded in skadmm)
=================================

10,972 rows of the UCI HIGGS dataset (a 0.1 % uniform random sample of its
11 million rows), 28 features: 21 low-level kinematic properties and 7
high-level features derived from them; target 1 = signal process producing a
Higgs boson, 0 = background.

Source: Baldi, P., Sadowski, P., Whiteson, D. "Searching for exotic
particles in high-energy physics with deep learning." Nature Communications
5 (2014).  UCI Machine Learning Repository, licence CC BY 4.0.
"""


def load_higgs(*, return_X_y=False, dtype=np.float64):
    """Load the HIGGS sample embedded in skadmm (10,972 x 28, binary).

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    dtype : dtype, default=np.float64
        dtype of ``X`` (``np.float32`` trains in single precision).

    Returns
    -------
    data : Bunch with ``data``, ``target``, ``feature_names``, ``DESCR``
        or ``(X, y)`` when ``return_X_y`` is True.
    """
    ref = resources.files("skadmm.datasets").joinpath("data", "higgs_sample.csv.gz")
    with ref.open("rb") as raw, gzip.open(raw, "rt") as f:
        table = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.float64)
    X = np.ascontiguousarray(table[:, 1:], dtype=dtype)
    y = table[:, 0].astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, feature_names=list(HIGGS_FEATURES), DESCR=_HIGGS_DESCR)


def data_home(path=None):
    """The folder with the benchmark datasets (see :func:`load_dataset`)."""
    return _resolve_home(path)


def _resolve_home(path=None):
    """The folder with the benchmark datasets.

    ``path`` if given, else the environment variable ``SKADMM_DATA``, else
    ``../shared/datasets`` next to the current directory or its parents.
    """
    if path is not None:
        home = Path(path)
    elif os.environ.get("SKADMM_DATA"):
        home = Path(os.environ["SKADMM_DATA"])
    else:
        here = Path.cwd().resolve()
        home = None
        for folder in [here, *here.parents]:
            candidate = folder.parent / "shared" / "datasets"
            if candidate.is_dir():
                home = candidate
                break
        if home is None:
            home = here / "shared" / "datasets"
    if not home.is_dir():
        raise FileNotFoundError(
            f"dataset folder {home} not found; pass data_home=... or set SKADMM_DATA "
            "to a folder laid out like the project's shared/datasets."
        )
    return home


def read_higgs_rows(path, rows=None, dtype=np.float64):
    """Read rows of a HIGGS csv(.gz) file (header ``label,f1..f28[,...]``).

    Parameters
    ----------
    path : str or Path
    rows : slice, default=None
        Which data rows to keep (0-based, header excluded), e.g. this MPI
        rank's :func:`skadmm.backends.partition`.  Only those rows are parsed.
    dtype : dtype

    Returns
    -------
    X : ndarray of shape (n_rows, 28)
    y : ndarray of shape (n_rows,)
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    start = 0 if rows is None else rows.start or 0
    stop = None if rows is None else rows.stop
    lines = []
    with opener(path, "rt") as f:
        next(f)
        for i, line in enumerate(f):
            if stop is not None and i >= stop:
                break
            if i >= start:
                lines.append(line.split(",", 29)[:29])
    if not lines:
        return np.empty((0, 28), dtype=dtype), np.empty(0, dtype=np.int64)
    table = np.array(lines, dtype=np.float64)
    return np.ascontiguousarray(table[:, 1:], dtype=dtype), table[:, 0].astype(np.int64)


def _higgs(home):
    X, y = read_higgs_rows(home / "higgs" / "higgs_train.csv.gz")
    return _split(X, y, stratify=True)


def _split(X, y, stratify):
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y if stratify else None)


def _svmlight(home, folder, n_features):
    X_tr, y_tr = load_svmlight_file(
        str(home / folder / f"{folder}.trn.bz2"), n_features=n_features
    )
    X_te, y_te = load_svmlight_file(
        str(home / folder / f"{folder}.tst.bz2"), n_features=n_features
    )
    return X_tr.tocsr(), X_te.tocsr(), (y_tr > 0).astype(np.int64), (y_te > 0).astype(np.int64)


def _tsv(path):
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter="\t", skiprows=1)
    return table[:, :-1], table[:, -1]


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion(home):
    d = home / "fashion_mnist"
    X_tr = _idx(d / "train-images-idx3-ubyte.gz").reshape(60000, -1) / 255.0
    X_te = _idx(d / "t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    return (
        X_tr,
        X_te,
        _idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64),
        _idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
    )


def _magic(home):
    X, y = _tsv(home / "magic" / "magic.tsv.gz")
    return _split(X, y.astype(np.int64), stratify=True)


def _california(home):
    X, y = _tsv(home / "california_housing" / "537_houses.tsv.gz")
    return _split(X, y, stratify=False)


def _pmlb(name, task):
    """A PMLB dataset (``pmlb/NAME.tsv.gz``), fixed 80/20 split like the other unsplit sets."""

    def load(home):
        X, y = _tsv(home / "pmlb" / f"{name}.tsv.gz")
        if task == "regression":
            return _split(X, y, stratify=False)
        return _split(X, y.astype(np.int64), stratify=True)

    return load, task


#: name -> (loader, task)
DATASETS = {
    "higgs": (_higgs, "binary"),
    "ijcnn1": (lambda h: _svmlight(h, "ijcnn1", 22), "binary"),
    "a9a": (lambda h: _svmlight(h, "a9a", 123), "binary"),
    "fashion_mnist": (_fashion, "multiclass"),
    "magic": (_magic, "binary"),
    "california_housing": (_california, "regression"),
    # PMLB (pmlb/README.md in the data folder): 2 to 18 classes, three regressions
    "optdigits": _pmlb("optdigits", "multiclass"),
    "waveform_40": _pmlb("waveform_40", "multiclass"),
    "segmentation": _pmlb("segmentation", "multiclass"),
    "krkopt": _pmlb("krkopt", "multiclass"),
    "nursery": _pmlb("nursery", "multiclass"),
    "spambase": _pmlb("spambase", "binary"),
    "cpu_act": _pmlb("197_cpu_act", "regression"),
    "puma8NH": _pmlb("225_puma8NH", "regression"),
    "BNG_lowbwt": _pmlb("1193_BNG_lowbwt", "regression"),
}


def load_dataset(name, data_home=None):
    """Load a benchmark dataset with its fixed train / test split.

    Datasets with a published split (ijcnn1, a9a, Fashion-MNIST) use it;
    the others (HIGGS sample, MAGIC, California housing and the PMLB sets)
    use a fixed 80/20 split (``random_state=0``, stratified for
    classification).  The features
    are returned as stored (a9a sparse CSR, Fashion-MNIST scaled to [0, 1]);
    standardise them in a Pipeline.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`: ``"higgs"``, ``"ijcnn1"``, ``"a9a"``,
        ``"fashion_mnist"``, ``"magic"``, ``"california_housing"``, or one of
        the PMLB sets ``"optdigits"``, ``"waveform_40"``, ``"segmentation"``,
        ``"krkopt"``, ``"nursery"``, ``"spambase"``, ``"cpu_act"``,
        ``"puma8NH"``, ``"BNG_lowbwt"``.
    data_home : str or Path, default=None
        See :func:`data_home`.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name][0](_resolve_home(data_home))
