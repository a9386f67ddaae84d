"""backend="mpi": size-agnostic tests, valid on 1, 2, 3... ranks.

Run as ``mpiexec -n K python -m mpi4py -m pytest tests/test_mpi.py``; plain
pytest runs them on one rank.  Every test is collective: all ranks run the
same tests in the same order with the same (deterministic) data.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier, ADMMRegressor, config_context
from skadmm.backends import partition
from skadmm.backends._exact import BYTES_PER_ENTRY
from skadmm.datasets import load_higgs

MPI = pytest.importorskip("mpi4py.MPI")
pytestmark = [
    pytest.mark.mpi,
    # solver="plain" is deprecated (0.2); it keeps working until its removal in 0.3
    pytest.mark.filterwarnings("ignore:solver='plain' is deprecated:FutureWarning"),
]
COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks and chunks of 64 rows, so that these small data sets spread over the ranks
    (with the defaults a rank starts on a multiple of 8,192 rows: one rank would hold all)."""
    import skadmm.backends._base as backends_base

    monkeypatch.setattr(backends_base, "_BLOCK_BYTES", 2**12)
    monkeypatch.setattr(backends_base, "CHUNK_ROWS", 64)


@pytest.fixture(scope="module")
def higgs():
    X, y = load_higgs(return_X_y=True)
    return StandardScaler().fit_transform(X[:2400]), y[:2400]


def _mine(n, rows=None):
    return partition(n, SIZE, RANK) if rows is None else rows


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _same_on_every_rank(value):
    values = COMM.allgather(value)
    return all(np.array_equal(v, values[0]) for v in values)


def _interactions(seed, n=2048):
    """``n`` Gaussian rows of 8 features, labels from an interaction plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def _ranks_rows(n, uneven):
    """This rank's rows of ``n``: even, or (``uneven``, on 2+ ranks) rank 0 empty and the
    others uneven, a boundary 37 rows into a block."""
    if not uneven or SIZE == 1:
        return _mine(n)
    cut = [0, 0] + [n * k * k // (SIZE - 1) ** 2 + 37 * (k < SIZE - 1) for k in range(1, SIZE)]
    return slice(cut[RANK], cut[RANK + 1])


# early_stopping=False: these gold fits train on every row (the classifier's "auto"
# would hold out a split here: it calibrates the probabilities); the split is a function
# of the global row index, and test_default_classifier_is_bitwise_that_of_serial checks
# the early-stopping fits against their serial gold.
PARAMS = dict(
    hidden_layer_sizes=(24, 12), max_iter=6, alpha=1e-2, random_state=7, early_stopping=False
)
LONGER = {**PARAMS, "max_iter": 12}


# The sums are exact and every rank starts on a chunk of rows (see the backends), so a
# distributed fit is the serial fit of the concatenated rows to the last bit, for every
# solver: before the reproducible reductions the default solver's relaxed steps
# amplified the reduction order's last bits to 8e-5 after 12 iterations.
ITERS = {"plain": 12, "paper": 12, "admm": 12}


def _assert_same_score(dist, gold, X, y, rows):
    """Accuracy sums counts: exactly the serial fit's.  R^2 sums each rank's squares in
    float64 (numpy's sums, then the exact reduction): the serial one's to rounding (the
    fit itself is checked to the last bit)."""
    score = dist.score(X[rows], y[rows])
    if isinstance(dist, ADMMClassifier):
        assert score == gold.score(X, y)
    else:
        assert score == pytest.approx(gold.score(X, y), rel=1e-12, abs=1e-15)


def _assert_same_fit(dist, gold, solver):
    for w, w0 in zip(dist.coefs_ + dist.intercepts_, gold.coefs_ + gold.intercepts_):
        np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(dist.relaxation_factors_, gold.relaxation_factors_)
    assert dist.loss_curve_ == gold.loss_curve_


@pytest.mark.parametrize("solver", sorted(ITERS))
@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_matches_serial_gold_fit_of_concatenated_rows(Est, solver, higgs):
    X, y = higgs
    params = {**PARAMS, "max_iter": ITERS[solver]}
    gold = _fit(Est(backend="serial", solver=solver, **params), X, y)
    rows = _mine(len(y))
    dist = _fit(Est(backend="mpi", solver=solver, **params), X[rows], y[rows])
    _assert_same_fit(dist, gold, solver)
    assert _same_on_every_rank(np.concatenate([w.ravel() for w in dist.coefs_]))
    _assert_same_score(dist, gold, X, y, rows)


@pytest.mark.parametrize("solver", ["admm", "paper"])
def test_tanh_matches_serial_gold_fit(solver, higgs):
    """The smooth activation's iterative eq. (7) kernel is entrywise: the distributed
    fit equals the serial one on the concatenated rows, as for ReLU."""
    X, y = higgs
    params = {**PARAMS, "max_iter": ITERS[solver], "activation": "tanh"}
    gold = _fit(ADMMClassifier(backend="serial", solver=solver, **params), X, y)
    rows = _mine(len(y))
    dist = _fit(ADMMClassifier(backend="mpi", solver=solver, **params), X[rows], y[rows])
    _assert_same_fit(dist, gold, solver)
    assert _same_on_every_rank(np.concatenate([w.ravel() for w in dist.coefs_]))


@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_default_solver_makes_the_same_choices_over_a_longer_fit(Est, higgs):
    """Up to 12 iterations of the default solver, both stages of a grown fit: every
    relaxation factor, where both stages stop (the search's own rule), the loss curve
    and the score are the serial fit's, exactly."""
    X, y = higgs
    gold = _fit(Est(backend="serial", **LONGER), X, y)
    rows = _mine(len(y))
    dist = _fit(Est(backend="mpi", **LONGER), X[rows], y[rows])
    assert dist.n_iter_ == gold.n_iter_ < 12  # stage 2 ended by the search's own rule
    assert dist.stop_reason_ == gold.stop_reason_ and dist.converged_ == gold.converged_
    assert 0 < np.isnan(gold.relaxation_factors_[:, 1]).sum() < gold.n_iter_  # two stages
    np.testing.assert_array_equal(dist.relaxation_factors_, gold.relaxation_factors_)
    assert dist.squared_targets_from_ == gold.squared_targets_from_
    assert dist.loss_curve_ == gold.loss_curve_
    _assert_same_score(dist, gold, X, y, rows)


def test_uneven_split_with_an_empty_rank(higgs):
    X, y = higgs
    n = len(y)
    # rank 0 holds nothing; the others share the rows unevenly
    if SIZE == 1:
        rows = slice(0, n)
    elif RANK == 0:
        rows = slice(0, 0)
    else:
        cut = [0] + [n * k * k // ((SIZE - 1) ** 2) for k in range(1, SIZE)]
        rows = slice(cut[RANK - 1], cut[RANK])
    gold = _fit(ADMMClassifier(backend="serial", **PARAMS), X, y)
    dist = _fit(ADMMClassifier(backend="mpi", **PARAMS), X[rows], y[rows])
    _assert_same_fit(dist, gold, "admm")
    assert dist.score(X[rows], y[rows]) == pytest.approx(gold.score(X, y), rel=1e-12)


def test_classes_are_the_union_over_ranks():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60 * SIZE, 4))
    labels = np.array(["a", "b", "c", "d"])
    # each rank sees only two of the four classes
    y = labels[(np.arange(60 * SIZE) % 2 + 2 * (np.arange(60 * SIZE) // 60 % 2))]
    rows = _mine(len(y))
    clf = _fit(
        ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, backend="mpi"), X[rows], y[rows]
    )
    expected = np.unique(y)
    np.testing.assert_array_equal(clf.classes_, expected)
    assert _same_on_every_rank(clf.classes_)


def test_grid_search_in_lockstep_picks_the_same_parameters(higgs):
    X, y = higgs
    rows = _mine(len(y))
    est = ADMMClassifier(max_iter=6, random_state=0, backend="mpi")
    grid = GridSearchCV(
        est, {"hidden_layer_sizes": [(4,), (16,)], "beta": [0.5, 1.0]}, cv=KFold(3), n_jobs=1
    )
    _fit(grid, X[rows], y[rows])
    assert _same_on_every_rank(repr(sorted(grid.best_params_.items())))
    assert _same_on_every_rank(grid.cv_results_["mean_test_score"])


def test_mismatched_n_features_is_the_same_error_on_every_rank(higgs):
    X, y = higgs
    rows = _mine(len(y))
    Xr = X[rows] if RANK == 0 else X[rows][:, :-1]
    if SIZE == 1:
        pytest.skip("needs two ranks to disagree")
    with pytest.raises(ValueError, match="ranks disagree on n_features"):
        ADMMClassifier(backend="mpi", max_iter=2).fit(Xr, y[rows])


def test_mismatched_dtype_and_parameters_are_reported_on_every_rank(higgs):
    if SIZE == 1:
        pytest.skip("needs two ranks to disagree")
    X, y = higgs
    rows = _mine(len(y))
    Xr = X[rows].astype(np.float32) if RANK == 1 else X[rows]
    with pytest.raises(ValueError, match="ranks disagree on dtype"):
        ADMMClassifier(backend="mpi", max_iter=2).fit(Xr, y[rows])
    with pytest.raises(ValueError, match="ranks disagree on estimator parameters"):
        ADMMClassifier(backend="mpi", max_iter=2, beta=1.0 + RANK).fit(X[rows], y[rows])


def test_sub_communicator_and_verbose_on_rank_zero_only(higgs, capsys):
    X, y = higgs
    color = RANK % 2
    sub = COMM.Split(color, RANK)
    try:
        srank, ssize = sub.Get_rank(), sub.Get_size()
        rows = partition(len(y), ssize, srank)
        with config_context(mpi_comm=sub):
            clf = _fit(ADMMClassifier(backend="mpi", verbose=True, **PARAMS), X[rows], y[rows])
        gold = _fit(ADMMClassifier(backend="serial", **PARAMS), X, y)
        _assert_same_fit(clf, gold, "admm")
        out = capsys.readouterr().out
        printed = sum(line.startswith("Iteration") for line in out.splitlines())
        assert printed == (PARAMS["max_iter"] if srank == 0 else 0)
    finally:
        sub.Free()


def test_bytes_reduced_per_iteration_do_not_grow_with_rows(higgs):
    X, y = higgs
    per_iter = []
    for n in (600, 2400):
        rows = _mine(n)
        clf = ADMMClassifier(backend="mpi", callback=None, **PARAMS)
        from skadmm._activations import ACTIVATIONS
        from skadmm._solver import SolverOptions, admm_fit
        from skadmm.backends import get_backend

        backend = get_backend("mpi")
        with backend:
            res = admm_fit(
                X[rows],
                y[rows].astype(float)[:, None],
                hidden_layer_sizes=clf.hidden_layer_sizes,
                activation=ACTIVATIONS["relu"],
                loss="hinge",
                options=SolverOptions(max_iter=4, tol=0),
                backend=backend,
                seed=0,
            )
        per_iter.append(res.bytes_reduced)
    assert per_iter[0] == per_iter[1]
    # the per-layer sums [a 1]^T [a 1] (its upper triangle: it is symmetric) and
    # [a 1]^T z, plus a few scalars
    sizes = [28, 24, 12, 1]
    expected = sum((d + 1) * (d + 2) // 2 + (d + 1) * k for d, k in zip(sizes[:-1], sizes[1:]))
    expected -= (sizes[0] + 1) * (sizes[0] + 2) // 2  # X's Gram: reduced once, before the loop
    assert per_iter[0][0] == BYTES_PER_ENTRY * (expected + 2 * 3 + 1 + 1)


def test_bad_input_on_one_rank_is_an_error_on_every_rank(higgs):
    X, y = higgs
    rows = _mine(len(y))
    Xr = X[rows].copy()
    if RANK == SIZE - 1:
        Xr[0, 0] = np.nan
    expected = "NaN" if RANK == SIZE - 1 else f"validation failed on rank {SIZE - 1}"
    with pytest.raises(ValueError, match=expected):
        ADMMClassifier(backend="mpi", max_iter=2).fit(Xr, y[rows])
    # and the communicator is still usable afterwards: a normal fit works
    _fit(ADMMClassifier(backend="mpi", max_iter=2), X[rows], y[rows])


def test_log_loss_output_layer_is_the_same_on_every_rank(higgs):
    """The output layer's ridge path and temperature (early stopping) are chosen from
    all-reduced sums: every rank returns the same calibrated model, and its log-loss on
    the held-out rows beats the class prior's."""
    X, y = higgs
    rows = _mine(len(y))
    clf = _fit(
        ADMMClassifier(
            hidden_layer_sizes=(16,),
            max_iter=6,
            early_stopping=True,
            backend="mpi",
            random_state=0,
        ),
        X[rows],
        y[rows],
    )
    assert clf.out_activation_ == "logistic" and np.isfinite(clf.temperature_)
    flat = np.concatenate([w.ravel() for w in clf.coefs_ + clf.intercepts_])
    assert _same_on_every_rank(flat)
    assert _same_on_every_rank(np.array([clf.temperature_, clf.best_validation_score_]))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    p1 = np.clip(proba[:, 1], 1e-15, 1 - 1e-15)
    ours = -np.mean(y * np.log(p1) + (1 - y) * np.log1p(-p1))
    prior = y.mean()
    constant = -(prior * np.log(prior) + (1 - prior) * np.log1p(-prior))
    assert ours < constant


# ---- scikit-learn's callbacks (sklearn.callback) --------------------------------
def _callback_api():
    return pytest.importorskip("sklearn.callback")


def _global_score(est, X, y):
    return est.score(X, y)  # collective under MPI


class _StopWhen:
    """Asks to stop at iteration ``at`` on ``rank`` only (a rank-dependent decision)."""

    def __init__(self, at, rank):
        self.at, self.rank = at, rank

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return (
            RANK == self.rank
            and context.task_name == "iteration"
            and (context.task_id + 1 == self.at)
        )


class _FailOn(_StopWhen):
    """Raises at iteration ``at`` on ``rank`` only."""

    def on_fit_task_end(self, estimator, context):
        if (
            RANK == self.rank
            and context.task_name == "iteration"
            and (context.task_id + 1 == self.at)
        ):
            raise RuntimeError("boom")


def test_callback_scoring_monitor_logs_the_global_score_on_every_rank(higgs):
    cb = _callback_api()
    X, y = higgs
    rows = _mine(len(y))
    params = {**LONGER, "solver": "plain", "early_stopping": False}
    monitor = cb.ScoringMonitor(scoring={"accuracy": _global_score})
    clf = _fit(ADMMClassifier(backend="mpi", **params).set_callbacks(monitor), X[rows], y[rows])
    scores = [r["accuracy"] for r in monitor.get_logs().data if r["task_name"] == "iteration"]
    assert len(scores) == clf.n_iter_ == params["max_iter"]
    assert _same_on_every_rank(scores)
    # the gold fit on the concatenated rows logs the same scores
    gold = cb.ScoringMonitor(scoring="accuracy")
    _fit(ADMMClassifier(backend="serial", **params).set_callbacks(gold), X, y)
    expected = [r["accuracy"] for r in gold.get_logs().data if r["task_name"] == "iteration"]
    np.testing.assert_allclose(scores, expected, atol=1.5 / len(y))


def test_callback_named_scorer_says_it_scores_this_ranks_rows(higgs):
    cb = _callback_api()
    X, y = higgs
    rows = _mine(len(y))
    monitor = cb.ScoringMonitor(scoring="accuracy")
    clf = ADMMClassifier(backend="mpi", **PARAMS).set_callbacks(monitor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X[rows], y[rows])
    said = any("this rank's rows" in str(w.message) for w in caught)
    assert said == (SIZE > 1)
    scores = [r["accuracy"] for r in monitor.get_logs().data if r["task_name"] == "iteration"]
    assert len(scores) == clf.n_iter_


def test_callback_stop_on_one_rank_stops_every_rank(higgs):
    cb = _callback_api()
    X, y = higgs
    rows = _mine(len(y))
    stop = _StopWhen(at=3, rank=SIZE - 1)
    monitor = cb.ScoringMonitor(scoring={"accuracy": _global_score})
    clf = ADMMClassifier(backend="mpi", **LONGER).set_callbacks(stop, monitor)
    clf.fit(X[rows], y[rows])
    assert clf.n_iter_ == 3 and "callback" in clf.stop_reason_
    assert _same_on_every_rank(clf.coefs_[0])


def test_callback_error_on_one_rank_is_an_error_on_every_rank(higgs):
    _callback_api()
    X, y = higgs
    rows = _mine(len(y))
    clf = ADMMClassifier(backend="mpi", **LONGER).set_callbacks(_FailOn(at=2, rank=SIZE - 1))
    expected = "boom" if RANK == SIZE - 1 else f"callback failed on rank {SIZE - 1}"
    with pytest.raises(RuntimeError, match=expected):
        clf.fit(X[rows], y[rows])
    assert not hasattr(clf, "coefs_")
    _fit(ADMMClassifier(backend="mpi", max_iter=2), X[rows], y[rows])  # still usable


def test_callback_sets_must_match_across_ranks(higgs):
    cb = _callback_api()
    if SIZE == 1:
        pytest.skip("needs two ranks to disagree")
    X, y = higgs
    rows = _mine(len(y))
    clf = ADMMClassifier(backend="mpi", max_iter=2)
    if RANK == 0:
        clf.set_callbacks(cb.ScoringMonitor(scoring={"accuracy": _global_score}))
    with pytest.raises(ValueError, match="ranks disagree on the callbacks"):
        clf.fit(X[rows], y[rows])


@pytest.mark.parametrize("on", ["every rank", "rank 0"])
def test_callback_progress_bar_is_drawn_on_rank_zero_only(higgs, capsys, on):
    cb = _callback_api()
    pytest.importorskip("rich")
    X, y = higgs
    rows = _mine(len(y))
    clf = ADMMClassifier(backend="mpi", **PARAMS)
    if on == "every rank" or RANK == 0:
        clf.set_callbacks(cb.ProgressBar())
    _fit(clf, X[rows], y[rows])
    out = capsys.readouterr().out
    assert ("ADMMClassifier - fit" in out) == (RANK == 0)
    if on == "every rank":
        assert len(clf._skl_callbacks) == 1  # put back after the fit


# ---- a failure on one rank, in every phase of fit ----------------------------------
# The failing rank raises its own error; every other rank raises RankFailedError
# naming it, within seconds.  A watchdog ends a hung rank (and so the run) after 60 s.
FAULTY = min(1, SIZE - 1)


@pytest.fixture
def watchdog():
    import faulthandler

    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _fails_on_every_rank(fit, own, own_match):
    import time

    from skadmm import RankFailedError

    start = time.perf_counter()
    if RANK == FAULTY:
        with pytest.raises(own, match=own_match):
            fit()
    else:
        with pytest.raises(RankFailedError, match=rf"rank {FAULTY} failed: {own.__name__}"):
            fit()
    assert time.perf_counter() - start < 30
    COMM.Barrier()  # every rank got out


def _small(n, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), np.arange(n) % n_classes


def test_failure_in_the_validation_split_ends_every_rank(watchdog, monkeypatch):
    """Drawing the split fails on one rank (here: no memory for its mask), while the
    others go on to the split's exchange of class counts."""
    import skadmm._base as base

    if RANK == FAULTY:

        def no_memory(*args):
            raise MemoryError("no memory for the validation mask")

        monkeypatch.setattr(base, "validation_mask", no_memory)
    X, y = _small(600, seed=RANK)
    clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True, backend="mpi")
    _fails_on_every_rank(lambda: _fit(clf, X, y), MemoryError, "validation mask")


def test_the_validation_split_is_checked_globally(watchdog):
    """The split is decided from counts over every rank: a rank with 30 rows of 10 classes
    next to ranks of 6,000 fits (before, its own stratified split was impossible), and a
    split that holds out no row anywhere is the same ValueError on every rank.  A fixed
    random_state: on one rank the 30 rows alone hold out none with probability 0.9^30
    (about 4 %) under a random one."""
    X, y = _small(30 if RANK == FAULTY else 6000, n_classes=10, seed=RANK)
    clf = ADMMClassifier(
        hidden_layer_sizes=(4,), max_iter=3, early_stopping=True, random_state=0, backend="mpi"
    )
    _fit(clf, X, y)
    assert clf.do_early_stopping_
    assert _same_on_every_rank(np.concatenate([w.ravel() for w in clf.coefs_]))
    clf.set_params(validation_fraction=1e-9)
    with pytest.raises(ValueError, match="holds out no row of the") as info:
        _fit(clf, X, y)
    assert _same_on_every_rank(np.array([str(info.value)]))
    COMM.Barrier()  # every rank got out


def test_failure_in_the_memory_guard_ends_every_rank(watchdog, monkeypatch):
    import skadmm._base as base

    if RANK == FAULTY:
        monkeypatch.setattr(base, "_available_memory", lambda: 10_000)
    X, y = _small(600, seed=RANK)
    clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, backend="mpi")
    _fails_on_every_rank(lambda: _fit(clf, X, y), MemoryError, "GiB")


@pytest.mark.parametrize("solver", ["admm", "paper"])
def test_failure_inside_an_iteration_ends_every_rank(watchdog, monkeypatch, solver):
    """A kernel raises on one rank in the middle of the third iteration's block updates."""
    import skadmm._solver as solver_module

    original = solver_module.K.preactivation_update
    calls = []

    def faulty(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise FloatingPointError("injected fault in preactivation_update")
        return original(*args, **kwargs)

    if RANK == FAULTY:
        monkeypatch.setattr(solver_module.K, "preactivation_update", faulty)
    X, y = _small(600, seed=RANK)
    clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=10, solver=solver, backend="mpi")
    _fails_on_every_rank(lambda: _fit(clf, X, y), FloatingPointError, "injected")
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize(
    "Est, module, target",
    [
        (ADMMClassifier, "_output", "fit_log_loss_readout"),
        (ADMMRegressor, "_network", "_refit_readout"),
    ],
)
def test_failure_in_the_readout_ends_every_rank(watchdog, monkeypatch, Est, module, target):
    """The classifier's log-loss output layer and the regressor's readout refit."""
    import importlib

    solver_module = importlib.import_module(f"skadmm._solver.{module}")

    def faulty(*args, **kwargs):
        raise ArithmeticError("injected fault in the readout")

    if RANK == FAULTY:
        monkeypatch.setattr(solver_module, target, faulty)
    X, y = _small(600, seed=RANK)
    clf = Est(hidden_layer_sizes=(8,), max_iter=3, backend="mpi")
    _fails_on_every_rank(lambda: _fit(clf, X, y.astype(float)), ArithmeticError, "injected")


def test_failure_after_the_last_collective_ends_every_rank(watchdog):
    """A warning made an error on one rank only: it is raised after the solver's last
    sum, where the other ranks would otherwise return a model."""
    X, y = _small(600, seed=RANK)
    clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=2, backend="mpi")

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("error" if RANK == FAULTY else "ignore", ConvergenceWarning)
            clf.fit(X, y)

    _fails_on_every_rank(fit, ConvergenceWarning, "max_iter")
    assert not hasattr(clf, "coefs_")
    # and the next fit works on every rank
    _fit(clf, X, y)
    assert _same_on_every_rank(clf.coefs_[0])


@pytest.mark.parametrize("labels", [np.array(["a", "b", "c"]), np.array([3, 5, 7])])
def test_classes_keep_their_dtype_when_a_rank_has_no_rows(labels):
    """An empty y (here a float ``np.empty(0)``) on one rank must not turn the others'
    string or integer labels into floats or other strings."""
    rng = np.random.default_rng(0)
    if SIZE > 1 and RANK == 0:
        X, y = np.empty((0, 4)), np.empty(0)
    else:
        X, y = rng.standard_normal((90, 4)), labels[np.arange(90) % 3]
    clf = _fit(ADMMClassifier(hidden_layer_sizes=(4,), max_iter=2, backend="mpi"), X, y)
    assert clf.classes_.dtype == np.unique(labels).dtype
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    assert _same_on_every_rank(clf.classes_)


# ---- the same model whatever the partition ---------------------------------------
@pytest.mark.parametrize("hidden", [(16,), (16, 16)], ids=["1 hidden", "2 hidden"])
@pytest.mark.parametrize("solver", ["admm", "plain", "paper"])
@pytest.mark.parametrize("split", ["even", "uneven with an empty rank"])
def test_mpi_fits_are_bitwise_those_of_serial(monkeypatch, solver, hidden, split):
    """2,048 rows in 32 blocks of 64 (16 chunks of 2 blocks), 30 iterations, tol=0: on
    any number of ranks, with rank boundaries inside blocks, the serial model exactly."""
    import skadmm.backends._base as backends_base

    monkeypatch.setattr(backends_base, "CHUNK_ROWS", 128)
    X, y = _interactions(0)
    n = len(y)
    rows = _ranks_rows(n, uneven=split != "even")
    kw = dict(hidden_layer_sizes=hidden, solver=solver, max_iter=30, tol=0)
    kw.update(early_stopping=False, random_state=0)
    gold = _fit(ADMMClassifier(backend="serial", **kw), X, y)
    dist = _fit(ADMMClassifier(backend="mpi", **kw), X[rows], y[rows])
    for w, w0 in zip(dist.coefs_ + dist.intercepts_, gold.coefs_ + gold.intercepts_):
        np.testing.assert_array_equal(w, w0)
    assert dist.loss_curve_ == gold.loss_curve_


@pytest.mark.parametrize(
    "labels, split, sample",
    [
        ("binary", "even", False),
        ("binary", "uneven with an empty rank", False),
        ("a lone class held out", "even", False),
        ("a lone class held out", "uneven with an empty rank", False),
        ("binary", "uneven with an empty rank", True),
    ],
)
def test_default_classifier_is_bitwise_that_of_serial(monkeypatch, split, labels, sample):
    """The default ADMMClassifier (early_stopping="auto": on for 2,048 rows) under MPI: the
    validation split is a function of the global row index and its sums are per chunk and
    exact, so on any number of ranks the model (best iterate, ridge path, temperature) is
    the serial fit's of the gathered rows.  With a class of one row that the mask holds out,
    that row is given back to training wherever it lies.  With ``sample``, the output
    layer's preconditioner is formed on every 9th row by global index."""
    from sklearn.utils import check_random_state

    import skadmm._solver._output as output
    import skadmm.backends._base as backends_base
    from skadmm._base import validation_mask

    monkeypatch.setattr(backends_base, "CHUNK_ROWS", 128)
    if sample:
        monkeypatch.setattr(output, "SAMPLE_ROWS_PER_FEATURE", 8)
        picked = []
        original = output._LogLossOutput.curvature_sample

        def spy(self, width):
            got = original(self, width)
            # a sample, not every row (a rank without rows has nothing to sample)
            picked.append(any((s.step or 1) > 1 for s in got) or not self.st.blocks)
            return got

        monkeypatch.setattr(output._LogLossOutput, "curvature_sample", spy)
    X, y = _interactions(0)
    n = len(y)
    if labels != "binary":
        seed = check_random_state(0).randint(np.iinfo(np.int32).max)
        y[np.flatnonzero(validation_mask(seed, 0, n, 0.1))[-1]] = 2
    rows = _ranks_rows(n, uneven=split != "even")
    # a fit whose validation temperature, 1.25, is above its bound 1 (with random_state=0
    # it is at the bound for every max_iter from 15 to 40)
    kw = dict(hidden_layer_sizes=(24,), max_iter=20, tol=0, random_state=3)
    gold = _fit(ADMMClassifier(backend="serial", **kw), X, y)
    dist = _fit(ADMMClassifier(backend="mpi", **kw), X[rows], y[rows])
    assert gold.do_early_stopping_ and dist.do_early_stopping_
    if labels == "binary":
        assert gold.temperature_ > 1  # fitted on the validation rows' sums, not the bound
    for w, w0 in zip(dist.coefs_ + dist.intercepts_, gold.coefs_ + gold.intercepts_):
        np.testing.assert_array_equal(w, w0)
    assert dist.loss_curve_ == gold.loss_curve_
    assert dist.validation_scores_ == gold.validation_scores_
    assert dist.best_validation_score_ == gold.best_validation_score_
    assert dist.temperature_ == gold.temperature_ and dist.readout_alpha_ == gold.readout_alpha_
    if sample:
        assert picked == [True, True]  # the gold fit's and the distributed one's


def test_default_deep_classifier_is_bitwise_that_of_serial(monkeypatch):
    """The default deep classifier's layer-wise stage (early stopping: it holds out a
    split) under MPI, on uneven ranks with an empty one: each rank computes its rows'
    features, their standardisation comes from the exact Gram sums, and the model is the
    serial fit's of the gathered rows to the last bit."""
    import skadmm.backends._base as backends_base

    monkeypatch.setattr(backends_base, "CHUNK_ROWS", 128)
    X, y = _interactions(1)
    rows = _ranks_rows(len(y), uneven=True)
    # 40 iterations: the first layer's stage ends before them (with 30 it does not)
    kw = dict(hidden_layer_sizes=(16, 8), max_iter=40, tol=0, random_state=0)
    gold = _fit(ADMMClassifier(backend="serial", **kw), X, y)
    dist = _fit(ADMMClassifier(backend="mpi", **kw), X[rows], y[rows])
    assert gold.do_early_stopping_
    assert np.isnan(gold.relaxation_factors_[:, 0]).any()  # a layer-wise stage ran
    _assert_same_fit(dist, gold, "admm")
    assert dist.validation_scores_ == gold.validation_scores_
