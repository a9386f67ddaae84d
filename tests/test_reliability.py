"""Reliability: bad input, interrupted fits, memory limits, faults, fuzzing."""

import os
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

import skadmm._base as base
from skadmm import ADMMClassifier, ADMMRegressor, DivergenceError, RankFailedError
from skadmm._compat import InvalidParameterError

RNG = np.random.default_rng(0)
X20 = RNG.standard_normal((20, 3))
Y20 = np.arange(20) % 2


def _nan(a):
    a = a.copy()
    a[3, 1] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a[0, 0] = np.inf
    return a


BAD_INPUTS = [
    # (name, estimator, X, y, fit kwargs, error regex)
    ("NaN in X", ADMMClassifier, _nan(X20), Y20, {}, "NaN"),
    ("inf in X", ADMMClassifier, _inf(X20), Y20, {}, "infinity"),
    ("NaN in y", ADMMRegressor, X20, np.where(Y20 > 0, np.nan, 1.0), {}, "NaN"),
    ("inf in y", ADMMRegressor, X20, np.where(Y20 > 0, np.inf, 1.0), {}, "infinity|NaN"),
    ("empty X", ADMMClassifier, np.empty((0, 3)), np.empty(0), {}, "0 sample"),
    ("one class", ADMMClassifier, X20, np.zeros(20), {}, "at least 2 classes"),
    ("mismatched lengths", ADMMClassifier, X20, Y20[:-1], {}, "inconsistent numbers"),
    ("1-D X", ADMMClassifier, X20[:, 0], Y20, {}, "2D array"),
    ("3-D X", ADMMClassifier, X20.reshape(20, 3, 1), Y20, {}, "dim 3"),
    (
        "object columns",
        ADMMClassifier,
        np.array([["a", 1.0]] * 20, dtype=object),
        Y20,
        {},
        "could not convert|string",
    ),
    (
        "non-numeric regression target",
        ADMMRegressor,
        X20,
        np.array(["x"] * 20),
        {},
        "could not convert|numeric|string",
    ),
    (
        "negative sample weight",
        ADMMClassifier,
        X20,
        Y20,
        {"sample_weight": -np.ones(20)},
        "Negative values",
    ),
    (
        "all-zero sample weight",
        ADMMClassifier,
        X20,
        Y20,
        {"sample_weight": np.zeros(20)},
        "sums to zero",
    ),
    (
        "sample weight of wrong length",
        ADMMClassifier,
        X20,
        Y20,
        {"sample_weight": np.ones(19)},
        "sample_weight",
    ),
    ("multilabel y", ADMMClassifier, X20, np.c_[Y20, 1 - Y20], {}, "1d array|multilabel"),
]


@pytest.mark.parametrize(
    "name, Est, X, y, kwargs, match", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_a_clear_error(name, Est, X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Est(hidden_layer_sizes=(4,), max_iter=2).fit(X, y, **kwargs)


@pytest.mark.parametrize(
    "X",
    [
        np.c_[X20, np.ones(20)],  # constant feature
        np.vstack([X20, X20]),  # duplicated rows
        RNG.standard_normal((10, 40)),  # more features than samples
        X20 * 1e8,  # huge scale
        X20 * 1e-8,  # tiny scale
    ],
    ids=["constant feature", "duplicated rows", "p > n", "scale 1e8", "scale 1e-8"],
)
def test_awkward_but_valid_inputs_fit_finite_models(X):
    y = np.arange(X.shape[0]) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    assert all(np.all(np.isfinite(w)) for w in clf.coefs_ + clf.intercepts_)
    assert np.all(np.isfinite(clf.predict_proba(X)))


@pytest.mark.parametrize("scale", [1e8, 1e-8])
def test_extreme_feature_scale_warns_and_says_what_to_do(scale):
    with pytest.warns(UserWarning, match="StandardScaler"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ADMMClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X20 * scale, Y20)


def test_divergence_in_the_iterations_names_quantity_layer_iteration_and_a_fix():
    """A non-finite iterate mid-fit (here injected into W_2 after iteration 2) stops
    the fit at the iteration where it reaches a checked quantity, naming it."""

    def corrupt(iteration, info):
        if iteration == 2:
            info["coefs"][1][0, 0] = np.nan  # the live weights of layer 2

    clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=10, callback=corrupt, random_state=0)
    with pytest.raises(DivergenceError, match=r"non-finite .* in layer 2 at iteration 3\."):
        clf.fit(X20, Y20)
    assert not hasattr(clf, "coefs_")


def test_divergence_names_quantity_layer_iteration_and_a_fix():
    X = X20.copy()
    X[:, 1] *= 1e300
    with pytest.raises(DivergenceError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, Y20)
    message = str(info.value)
    assert "layer 1 before the first iteration" in message and "Standardise" in message


def test_failed_refit_with_other_columns_keeps_the_previous_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X20, Y20)
    before = clf.predict_proba(X20)
    bad = np.c_[X20, X20[:, :1] * 1e300]
    with pytest.raises(DivergenceError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(bad, Y20)
    assert clf.n_features_in_ == 3
    np.testing.assert_array_equal(clf.predict_proba(X20), before)


def test_keyboard_interrupt_keeps_the_last_complete_weights_with_a_warning():
    def interrupt(iteration, info):
        if iteration == 3:
            raise KeyboardInterrupt

    clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=50, callback=interrupt, random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        clf.fit(X20, Y20)
    assert clf.n_iter_ == 3 and not clf.converged_
    assert "KeyboardInterrupt" in clf.stop_reason_
    assert np.all(np.isfinite(clf.predict_proba(X20)))


def test_memory_estimate_refuses_a_fit_that_cannot_fit(monkeypatch):
    monkeypatch.setattr(base, "_available_memory", lambda: 10_000)
    with pytest.raises(MemoryError, match=r"GiB.*float32.*ranks"):
        ADMMClassifier(hidden_layer_sizes=(64,)).fit(X20, Y20)


def test_memory_estimate_counts_the_ridge_paths_float32_copy(monkeypatch):
    """A classifier that may hold out rows counts the float32 copy of its output layer's
    dense float64 features (its ridge path's Newton products); without early stopping, in
    float32, and for the regressor there is none."""
    n, hidden = 10**6, (300,)
    state = n * (2 * 300 + 2 + 300 + 300) * 8  # the default's per-sample state, 1 output
    copy = n * 300 * 4
    monkeypatch.setattr(
        base, "_available_memory", lambda: (state + copy / 2) / base._MEMORY_FRACTION
    )
    X = np.empty((n, 28))  # only its shape and dtype are read
    with pytest.raises(MemoryError, match="float32 copy of 300 features"):
        ADMMClassifier(hidden)._check_memory(X, hidden, 1)
    ADMMClassifier(hidden, early_stopping=False)._check_memory(X, hidden, 1)
    ADMMRegressor(hidden)._check_memory(X, hidden, 1)
    ADMMClassifier(hidden)._check_memory(np.empty((n, 28), np.float32), hidden, 1)
    monkeypatch.setattr(
        base, "_available_memory", lambda: (state - copy / 2) / base._MEMORY_FRACTION
    )
    with pytest.raises(MemoryError, match=r"bytes\) but"):  # the state alone: no copy named
        ADMMClassifier(hidden, early_stopping=False)._check_memory(X, hidden, 1)


def test_pickle_and_joblib_round_trips(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X20, Y20)
    joblib.dump(clf, tmp_path / "m.joblib")
    for loaded in (pickle.loads(pickle.dumps(clf)), joblib.load(tmp_path / "m.joblib")):
        np.testing.assert_array_equal(loaded.predict_proba(X20), clf.predict_proba(X20))


def test_model_fitted_with_mpi_loads_and_predicts_without_mpi4py(tmp_path):
    pytest.importorskip("mpi4py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(4,), max_iter=3, random_state=0, backend="mpi"
        ).fit(X20, Y20)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X20)
    code = textwrap.dedent(f"""
        import sys, pickle, numpy as np
        sys.modules["mpi4py"] = None  # any import of mpi4py now fails
        clf = pickle.loads(open({str(path)!r}, "rb").read())
        print(clf.predict(np.load({str(tmp_path / "X.npy")!r})).tolist())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(clf.predict(X20).tolist())


def test_an_exception_on_one_rank_ends_every_rank_quickly(tmp_path):
    pytest.importorskip("mpi4py")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec next to this python")
    script = tmp_path / "fault.py"
    script.write_text(
        textwrap.dedent("""
        import numpy as np
        from mpi4py import MPI
        from skadmm import ADMMClassifier
        rank = MPI.COMM_WORLD.Get_rank()
        X = np.random.default_rng(rank).standard_normal((50, 3))
        y = np.arange(50) % 2
        if rank == 1:
            raise RuntimeError("rank 1 fails before the collective fit")
        ADMMClassifier(backend="mpi", max_iter=50).fit(X, y)  # rank 0 would wait forever
    """)
    )
    env = dict(os.environ, PATH=f"{mpiexec.parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(mpiexec), "-n", "2", sys.executable, "-m", "mpi4py", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode != 0
    assert "rank 1 fails" in proc.stderr


def test_a_rank_killed_mid_fit_ends_the_whole_run(tmp_path):
    """SIGKILL of one rank in the middle of the iterations: mpiexec (MPICH's hydra) sees a
    process die and ends the others, well within 60 s; the user sees its "BAD TERMINATION"
    report naming the signal (docs/cluster.rst)."""
    pytest.importorskip("mpi4py")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec next to this python")
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent("""
        import os, signal
        import numpy as np
        from mpi4py import MPI
        from skadmm import ADMMClassifier
        rank = MPI.COMM_WORLD.Get_rank()
        X = np.random.default_rng(rank).standard_normal((3000, 4))
        y = np.arange(3000) % 2

        def die(iteration, info):
            if rank == 1 and iteration == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        ADMMClassifier(backend="mpi", max_iter=100000, tol=0, callback=die).fit(X, y)
        print("finished", flush=True)
    """)
    )
    env = dict(os.environ, PATH=f"{mpiexec.parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [str(mpiexec), "-n", "3", sys.executable, "-m", "mpi4py", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode != 0
    assert "finished" not in proc.stdout
    assert "signal 9" in proc.stdout + proc.stderr or "Killed" in proc.stdout + proc.stderr


# ---- fuzzing ----------------------------------------------------------------------
# The errors fit documents (docs/user_guide.rst, "Errors"): these exception types...
DOCUMENTED_TYPES = (DivergenceError, RankFailedError, InvalidParameterError, MemoryError)
# ...and ValueErrors whose message matches one of these (input checks, most of them
# scikit-learn's own).  Anything else, a numpy broadcasting failure say, is a bug.
DOCUMENTED_MESSAGES = (
    r"Input (X|y)? ?contains (NaN|infinity)",
    r"Found array with 0 sample\(s\)",
    r"Expected (a )?2D array",
    r"Found array with dim \d+",
    r"could not convert|dtype='numeric' is not compatible",
    r"inconsistent numbers of samples",
    r"Unknown label type",
    r"needs samples of at least 2 classes",
    r"does not support multilabel targets|y should be a 1d array",
    r"Negative values in data passed to sample_weight",
    r"sample_weight sums to zero",
    r"sample_weight.shape ==",
    r"X has \d+ features, but \w+ is expecting \d+ features",
    r"hidden_layer_sizes must be positive integers",
    r"warm_start with new classes|warm_start=True needs the same layer sizes",
    r"The test_size = \d+ should be greater or equal to the number of classes",
    r"The least populated class in y has only 1 member",
    r"ranks disagree on|input validation failed on rank",
)


def _documented(error):
    if isinstance(error, DOCUMENTED_TYPES):
        return True
    return type(error) is ValueError and any(
        re.search(pattern, str(error)) for pattern in DOCUMENTED_MESSAGES
    )


def test_documented_errors_reject_an_undocumented_one():
    assert _documented(ValueError("Input X contains NaN."))
    assert _documented(DivergenceError("non-finite weights"))
    assert not _documented(ValueError("operands could not be broadcast together"))
    assert not _documented(IndexError("index 3 is out of bounds"))


FUZZ_EXAMPLES = 100


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 8),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
    scale=st.sampled_from([1e-6, 1e-2, 1.0, 1e3, 1e6]),
    density=st.sampled_from([None, 0.1, 0.5]),
    n_classes=st.integers(1, 4),
    labels=st.sampled_from(["int", "str", "float"]),
    hidden=st.sampled_from([(), (3,), (5, 2)]),
    activation=st.sampled_from(["relu", "hard_sigmoid", "hard_tanh", "leaky_relu", "identity"]),
    regression=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fuzz_fit_gives_finite_model_or_documented_error(
    n, d, dtype, scale, density, n_classes, labels, hidden, activation, regression, seed
):
    """Random small fits (FUZZ_EXAMPLES = 100 examples per run, the same ones every run
    under the default "ci" profile): each gives a finite model or a documented error."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * scale
    if density is not None:
        X = sparse.random(n, d, density=density, random_state=seed, format="csr") * scale
    if dtype is np.int64:
        X = np.round(X.toarray() if sparse.issparse(X) else X).astype(np.int64)
    elif not sparse.issparse(X):
        X = X.astype(dtype)
    k = rng.integers(0, n_classes, size=n)
    if regression:
        Est, y = ADMMRegressor, k.astype(float) + rng.standard_normal(n)
    else:
        Est = ADMMClassifier
        y = {"int": k, "str": np.array([f"c{i}" for i in k]), "float": k * 0.5}[labels]
    est = Est(hidden_layer_sizes=hidden, activation=activation, max_iter=4, random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            est.fit(X, y)
    except Exception as error:
        if not _documented(error):
            raise
        return
    out = est.predict(X)
    assert out.shape[0] == n
    if regression:
        assert np.all(np.isfinite(out))
    else:
        assert np.all(np.isfinite(est.predict_proba(X)))
        assert set(np.unique(out)) <= set(est.classes_)
