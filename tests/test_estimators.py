"""The estimators: oracles, scikit-learn integration, inputs, fitted state."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from skadmm import ADMMClassifier, ADMMRegressor, DivergenceError
from skadmm._base import validation_mask
from skadmm.datasets import load_dataset, load_higgs

# solver="plain" is deprecated (0.2); it keeps working until its removal in 0.3
pytestmark = pytest.mark.filterwarnings("ignore:solver='plain' is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def housing():
    X, _, y, _ = load_dataset("california_housing")
    X = StandardScaler().fit_transform(X)[:4000]
    y = ((y - y.mean()) / y.std())[:4000]
    return X, y


# ---- the oracle: no hidden layer + squared loss is Ridge ------------------------
@pytest.mark.parametrize("alpha", [1e-4, 1.0, 30.0])
def test_no_hidden_layer_squared_loss_is_ridge(housing, alpha):
    X, y = housing
    ridge = Ridge(alpha=alpha).fit(X, y)
    reg = ADMMRegressor(hidden_layer_sizes=(), alpha=alpha, max_iter=300, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    np.testing.assert_allclose(reg.coefs_[0][:, 0], ridge.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(reg.intercepts_[0][0], ridge.intercept_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(reg.predict(X), ridge.predict(X), rtol=1e-6, atol=1e-8)


def test_paper_solver_linear_fixed_point_is_biased(housing):
    """Documented: Algorithm 1 as printed does not reach Ridge's solution (the reason
    for the default solver="admm"); it stays a close but distinct linear model."""
    X, y = housing
    ridge = Ridge(alpha=1.0).fit(X, y)
    reg = ADMMRegressor(
        hidden_layer_sizes=(), alpha=1.0, solver="paper", max_iter=200, tol=0, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    gap = np.abs(reg.coefs_[0][:, 0] - ridge.coef_).max()
    assert 1e-6 < gap < 0.2
    assert reg.score(X, y) > ridge.score(X, y) - 0.02


def test_sample_weight_is_weighted_ridge_and_equals_repetition(housing):
    X, y = housing
    X, y = X[:600], y[:600]
    w = np.random.default_rng(0).integers(0, 4, size=600).astype(float)
    params = dict(hidden_layer_sizes=(), alpha=2.0, max_iter=400, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = ADMMRegressor(**params).fit(X, y, sample_weight=w)
        repeated = ADMMRegressor(**params).fit(
            np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
        )
    ridge = Ridge(alpha=2.0).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(weighted.coefs_[0][:, 0], ridge.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(weighted.coefs_[0], repeated.coefs_[0], rtol=1e-6, atol=1e-9)


# ---- scikit-learn integration ----------------------------------------------------
def test_pipeline_and_grid_search(higgs_small):
    X, y = higgs_small
    pipe = make_pipeline(StandardScaler(), ADMMClassifier(max_iter=15, random_state=0))
    grid = GridSearchCV(pipe, {"admmclassifier__hidden_layer_sizes": [(8,), (32,)]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_params_["admmclassifier__hidden_layer_sizes"] in [(8,), (32,)]
    assert 0.55 < grid.score(X, y) <= 1.0


@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_clone_and_pickle_round_trips_predict_identically(Est, higgs_small):
    X, y = higgs_small
    est = Est(hidden_layer_sizes=(16, 8), max_iter=12, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        again = clone(est).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


def test_string_labels_multiclass_and_proba():
    X, y = make_classification(600, 8, n_informative=6, n_classes=3, random_state=0)
    labels = np.array(["cat", "dog", "emu"], dtype=object)[y]
    clf = ADMMClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(StandardScaler().fit_transform(X), labels)
    X = StandardScaler().fit_transform(X)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert clf.decision_function(X).shape == (600, 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert clf.score(X, labels) > 0.6  # a linear model reaches 0.67 here


def test_binary_decision_and_proba_agree(higgs_small):
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(X, y)
    dec = clf.decision_function(X)
    assert dec.shape == (X.shape[0],)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(dec > 0).astype(int)])
    np.testing.assert_array_equal(clf.predict_proba(X)[:, 1] > 0.5, dec > 0)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_equals_dense(fmt):
    X, _, y, _ = load_dataset("a9a")
    X, y = X[:1500], y[:1500]
    # alpha=1 keeps a9a's Gram matrix (one-hot groups are collinear) well
    # conditioned, so sparse and dense products agree to rounding
    params = dict(hidden_layer_sizes=(16,), alpha=1.0, max_iter=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sp = ADMMClassifier(**params).fit(X.asformat(fmt), y)
        dense = ADMMClassifier(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(sp.coefs_[0], dense.coefs_[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(sp.predict(X.asformat(fmt)), dense.predict(X.toarray()))


@pytest.mark.parametrize("hidden", [(16,), (16, 16)])
def test_float32_end_to_end(higgs_small, monkeypatch, hidden):
    """float32 X: the per-sample state, the weights and every product over the rows stay
    float32 (no silent upcast); only the small reduced sums are float64."""
    import skadmm._solver as solver

    seen, products = [], []
    original = solver.K.preactivation_update
    statistics = solver.K.weight_statistics

    def spy(a, m, *args, **kwargs):
        seen.append((a.dtype, m.dtype))
        return original(a, m, *args, **kwargs)

    def spy_statistics(a, target, sample_weight=None, gram=True):
        products.append((a.dtype, target.dtype))
        out = statistics(a, target, sample_weight, gram)
        assert all(s.dtype == np.float64 for s in out)
        return out

    monkeypatch.setattr(solver.K, "preactivation_update", spy)
    monkeypatch.setattr(solver.K, "weight_statistics", spy_statistics)
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=hidden, max_iter=5, random_state=0)
        clf.fit(X.astype(np.float32), y)
    assert seen and all(d == (np.float32, np.float32) for d in seen)
    # the search's candidates, the steps, the output layer's Newton fit
    assert len(products) > 20 and set(products) == {(np.dtype(np.float32),) * 2}
    assert all(w.dtype == np.float32 for w in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32


# ---- stopping, warnings, errors -------------------------------------------------
def test_convergence_warning_names_the_way_out(higgs_small):
    X, y = higgs_small
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and not clf.converged_
    assert len(clf.loss_curve_) == 3
    assert clf.constraint_residuals_.shape == (3, 2)
    assert clf.activation_residuals_.shape == (3, 1)


def test_stops_on_tol(higgs_small):
    """scikit-learn's rule: n_iter_no_change + 1 iterations in a row without a training
    loss improvement of more than tol end the fit (a tol no iteration can beat: the
    earliest possible stop, before the search's own rule can end it)."""
    X, y = higgs_small
    clf = ADMMClassifier(
        hidden_layer_sizes=(8,),
        max_iter=500,
        tol=0.5,
        n_iter_no_change=1,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    assert clf.converged_ and clf.n_iter_ == 3
    assert "did not improve more than tol=0.5 for 1 consecutive" in clf.stop_reason_


def test_non_finite_iterate_names_layer_and_iteration(higgs_small):
    X, y = higgs_small
    X = X.copy()
    X[:, 0] *= 1e300  # the input's Gram matrix overflows, before any iteration
    clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.raises(DivergenceError, match=r"layer 1 before the first iteration"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_failed_fit_leaves_fitted_model_intact(higgs_small):
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    coefs = [w.copy() for w in clf.coefs_]
    bad = X.copy()
    bad[:, 0] *= 1e300
    with pytest.raises(DivergenceError):
        clf.fit(bad, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    for w, w0 in zip(clf.coefs_, coefs):
        np.testing.assert_array_equal(w, w0)


def test_warm_start_continues_from_fitted_weights(higgs_small):
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(16,), max_iter=15, warm_start=True, random_state=0
        ).fit(X, y)
        first = clf.loss_curve_[-1]
        clf.set_params(max_iter=5).fit(X, y)
    # restarting from a forward pass of the fitted net: no return to the random start
    assert clf.loss_curve_[0] < first + 0.05
    with pytest.raises(ValueError, match="same layer sizes"):
        clf.set_params(hidden_layer_sizes=(4,)).fit(X, y)


def test_early_stopping_keeps_best_validation_weights(higgs_small):
    X, y = higgs_small
    clf = ADMMClassifier(
        hidden_layer_sizes=(16,),
        max_iter=60,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    # the hidden layers are the best iterate's (the iteration the MLP rule would
    # keep); the output layer is then fitted to the log-loss, and the score
    # reported is the returned model's (tests/test_readout.py checks its value)
    best = int(np.argmax(clf.validation_scores_)) + 1
    again = ADMMClassifier(
        hidden_layer_sizes=(16,),
        max_iter=best,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(X, y)
    np.testing.assert_allclose(again.coefs_[0], clf.coefs_[0], rtol=1e-12, atol=1e-14)
    assert 0.5 < clf.best_validation_score_ <= 1
    assert clf.best_loss_ is None
    assert clf.do_early_stopping_


def _mlp_stop(scores, tol, patience, exempt=0):
    """Iteration at which scikit-learn's MLP rule stops on these validation scores: the
    count of iterations not beating the best *before* them by tol exceeds patience."""
    best, count = -np.inf, 0
    for k, score in enumerate(scores, start=1):
        if k > exempt:
            count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count > patience:
            return k
    return None


@pytest.mark.parametrize("solver, exempt", [("admm", 0), ("plain", 10)])
def test_early_stopping_follows_the_mlp_rule(housing, solver, exempt):
    """The fit stops exactly where scikit-learn's rule says on its own validation scores:
    an improvement resets the count (it once never did, so every fit stopped at
    n_warmup_iter + n_iter_no_change + 1); the search has no warm-up to exempt."""
    X, y = housing
    for patience in (2, 5):
        reg = ADMMRegressor(
            hidden_layer_sizes=(20,),
            solver=solver,
            max_iter=80,
            early_stopping=True,
            n_iter_no_change=patience,
            tol=1e-3,
            search_tol=None,  # the search's own rule is tested on its own
            random_state=1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, y)
        scores = reg.validation_scores_
        assert "validation score did not improve" in reg.stop_reason_
        assert reg.n_iter_ == _mlp_stop(scores, 1e-3, patience, exempt)
        if solver == "admm":  # which improves for a while: not the earliest possible stop
            assert reg.n_iter_ > exempt + patience + 1


def test_early_stopping_auto_follows_the_training_set_size(higgs_small):
    """early_stopping="auto" (the default): on above 10,000 rows, off below; a classifier
    also whenever a stratified split is possible (its probabilities are calibrated there)."""
    X, y = higgs_small
    big_X = np.vstack([X] * 4)  # 12,000 rows
    t = X[:, 0] + 0.1 * y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small = ADMMRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, t)
        big = ADMMRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        big.fit(big_X, np.concatenate([t] * 4))
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
        # 3 classes in 20 rows: 2 validation rows cannot hold every class
        tiny = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
        tiny.fit(X[:20], np.arange(20) % 3)
    assert ADMMClassifier().early_stopping == "auto"
    assert not small.do_early_stopping_ and small.validation_scores_ is None
    assert big.do_early_stopping_ and len(big.validation_scores_) == big.n_iter_
    assert clf.do_early_stopping_ and len(clf.validation_scores_) == clf.n_iter_
    assert not tiny.do_early_stopping_ and tiny.temperature_ == 1.0
    with pytest.raises(ValueError, match="early_stopping"):
        ADMMClassifier(early_stopping="sometimes").fit(X, y)


def _split_seed(random_state):
    """The seed the estimators draw from random_state for the split and initial state."""
    return check_random_state(random_state).randint(np.iinfo(np.int32).max)


def test_validation_mask_is_a_function_of_the_global_row_only():
    """Any cut of the rows into pieces gives the same mask; each row is held out with
    probability validation_fraction (10^5 rows: within 5 standard deviations)."""
    n = 100_000
    whole = validation_mask(12345, 0, n, 0.1)
    assert whole.dtype == bool and whole.shape == (n,)
    assert abs(whole.mean() - 0.1) < 5 * np.sqrt(0.1 * 0.9 / n)
    rng = np.random.default_rng(0)
    for n_pieces in (2, 3, 7, 50):
        cuts = np.sort(rng.choice(np.arange(1, n), n_pieces - 1, replace=False))
        bounds = [0, *cuts.tolist(), n]
        pieces = [validation_mask(12345, a, b - a, 0.1) for a, b in zip(bounds, bounds[1:])]
        np.testing.assert_array_equal(np.concatenate(pieces), whole)
    # a piece far into the data, block boundaries inside it; empty pieces
    np.testing.assert_array_equal(validation_mask(12345, 4000, 300, 0.1), whole[4000:4300])
    assert validation_mask(12345, 77, 0, 0.1).shape == (0,)
    # another seed, another split; a larger fraction holds out a superset
    assert not np.array_equal(validation_mask(1, 0, n, 0.1), whole)
    assert np.all(validation_mask(12345, 0, n, 0.3)[whole])


def test_validation_split_is_the_mask_and_keeps_every_class_in_training(monkeypatch):
    """The fit holds out exactly the mask's rows, but a class whose every row the mask holds
    out gets its first one back for training."""
    import skadmm._base as base

    n = 400
    mask = validation_mask(_split_seed(0), 0, n, 0.1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3))
    y = np.arange(n) % 2
    lone = int(np.flatnonzero(mask)[3])
    y[lone] = 2  # the only row of class 2, which the mask holds out
    seen = []
    original = base.BaseADMM._split_validation

    def spy(self, X, Y, sample_weight, held, backend):
        seen.append(held.copy())
        return original(self, X, Y, sample_weight, held, backend)

    monkeypatch.setattr(base.BaseADMM, "_split_validation", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
        reg = ADMMRegressor(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True)
        reg.set_params(random_state=0).fit(X, X[:, 0])
    assert clf.do_early_stopping_ and reg.do_early_stopping_
    expected = mask.copy()
    expected[lone] = False
    np.testing.assert_array_equal(seen[0], expected)
    np.testing.assert_array_equal(seen[1], mask)


def test_a_split_without_validation_rows_raises_or_turns_auto_off():
    """early_stopping=True raises a ValueError that says why; "auto" then trains on every row."""
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match="holds out no row of the 40"):
        ADMMClassifier(early_stopping=True, validation_fraction=1e-9, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="holds out no row of the 40"):
        ADMMRegressor(early_stopping=True, validation_fraction=1e-9, max_iter=2).fit(X, X[:, 0])
    # "auto": 40 rows of 2 classes at 5% can be split, but this seed's mask is empty
    state = next(s for s in range(1000) if not validation_mask(_split_seed(s), 0, 40, 0.05).any())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(validation_fraction=0.05, max_iter=2, random_state=state).fit(X, y)
    assert not clf.do_early_stopping_ and clf.validation_scores_ is None


def test_callback_sees_state_and_can_stop(higgs_small):
    X, y = higgs_small
    calls = []

    def callback(iteration, info):
        calls.append((iteration, info["loss"], info["residuals"].shape))
        return iteration == 4

    clf = ADMMClassifier(
        hidden_layer_sizes=(8,), max_iter=50, callback=callback, random_state=0
    ).fit(X, y)
    assert clf.n_iter_ == 4 and clf.converged_ and [c[0] for c in calls] == [1, 2, 3, 4]
    assert calls[0][2] == (2,)


def test_verbose_prints_one_line_per_iteration(higgs_small, capsys):
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Iteration")]
    assert len(lines) == 3 and "loss" in lines[0] and "residual" in lines[0]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (10, -1)}, "hidden_layer_sizes"),
        ({"gamma": 0.0}, "gamma"),
        ({"beta": -1.0}, "beta"),
        ({"activation": "softplus"}, "activation"),
        ({"solver": "sgd"}, "solver"),
        ({"backend": "spark"}, "unknown backend"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_invalid_parameters_are_named(params, match, higgs_small):
    X, y = higgs_small
    with pytest.raises(ValueError, match=match):
        ADMMClassifier(**params).fit(X[:50], y[:50])


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        ADMMClassifier().fit(np.eye(5), np.zeros(5))


def test_all_zero_sample_weight_is_a_clear_error(higgs_small):
    X, y = higgs_small
    with pytest.raises(ValueError, match="(?i)sample.weight"):
        ADMMClassifier().fit(X[:20], y[:20], sample_weight=np.zeros(20))


def test_regressor_multi_output_and_1d_shape():
    X, Y = make_regression(300, 5, n_targets=2, random_state=0)
    Y = Y / Y.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = ADMMRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, Y)
        assert reg.predict(X).shape == (300, 2)
        reg1 = ADMMRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, Y[:, 0])
    assert reg1.predict(X).shape == (300,)
    assert reg.score(X, Y) > 0.9


def test_inputs_are_not_mutated(higgs_small):
    X, y = higgs_small
    X0, y0, w = X.copy(), y.copy(), np.ones(len(y))
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y, w)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, 1.0)


def test_sparse_matrix_stays_sparse_in_solver(monkeypatch):
    """a9a-style sparse X is never densified by fit."""
    X, _, y, _ = load_dataset("a9a")

    original = sparse.csr_matrix.toarray

    def guarded(self, *args, **kwargs):
        if self.shape[0] >= 500:  # X itself (the Gram matrices are 124 x 124)
            raise AssertionError("X was densified")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", guarded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X[:500], y[:500])


@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_html_representation_links_to_our_api_docs(Est):
    est = Est()
    link = est._get_doc_link()
    assert link.endswith(f"/generated/skadmm.{Est.__name__}.html")
    assert "scikit-learn.org" not in link
    assert link in est._repr_html_()


def test_plot_convergence_draws_the_histories(higgs_small):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from skadmm.plot import plot_convergence

    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(8,), max_iter=4, early_stopping=True, random_state=0
        ).fit(X, y)
    fig = plot_convergence(clf)
    assert len(fig.axes) == 4  # three panels and the validation twin axis
    lines = fig.axes[2].get_lines()
    assert len(lines) == 3 and len(lines[0].get_xdata()) == clf.n_iter_


@pytest.mark.parametrize(
    "options",
    [
        dict(sweep="backward"),
        dict(init="gaussian", readout_iter=20),
        dict(init="glorot"),
        dict(variant="search"),
        dict(variant="search", relaxation_refit=False),
        dict(variant="search", momentum=0.0),
        dict(variant="search", search_targets="squared"),
        dict(variant="search", search_targets="then-squared", relaxation_patience=1),
        dict(variant="search", relaxation_factors=(1 / 16, 1 / 4, 1.0, 4.0, 16.0)),
        dict(variant="search", relaxation_factors=(1 / 8, 1.0, 8.0), relaxation_shrink=1 / 64),
        dict(variant="search", slow_tol=0.0),
        dict(variant="search", refresh_steps=False),
    ],
)
def test_solver_variants_of_the_ablation_run_and_agree_across_backends(higgs_small, options):
    """Every lever the ablation benchmark measures runs, stays finite, and is the same
    on the serial and joblib backends (the data-parallel structure is unchanged)."""
    from skadmm._activations import ACTIVATIONS
    from skadmm._solver import SolverOptions, admm_fit
    from skadmm.backends import get_backend

    X, y = higgs_small
    results = []
    for name, jobs in (("serial", None), ("joblib", 2)):
        backend = get_backend(name, jobs)
        with backend:
            res = admm_fit(
                X,
                y.astype(float)[:, None],
                hidden_layer_sizes=[16, 8],
                activation=ACTIVATIONS["relu"],
                loss="hinge",
                options=SolverOptions(max_iter=6, tol=0, **options),
                backend=backend,
                seed=0,
            )
        results.append(res)
    assert all(np.all(np.isfinite(w)) for w in results[0].coefs)
    assert results[0].loss_curve[-1] < results[0].loss_curve[0]
    for w, w0 in zip(results[1].coefs, results[0].coefs):
        np.testing.assert_allclose(w, w0, rtol=1e-10, atol=1e-12)


# ---- the relaxed solver (solver="admm") ------------------------------------------


def _projected_objective(clf, X, Y):
    """1/2 ||Y - f(X)||^2 + alpha/2 sum ||W_l||^2: what the relaxation search minimises."""
    from skadmm import _kernels as K
    from skadmm._activations import ACTIVATIONS

    f = K.forward(X, clf.coefs_, clf.intercepts_, ACTIVATIONS[clf.activation])
    return 0.5 * np.sum((f - Y) ** 2) + 0.5 * clf.alpha * sum(np.sum(w**2) for w in clf.coefs_)


@pytest.mark.parametrize("hidden", [(20,), (16, 8, 8)])
def test_relaxation_search_never_increases_its_objective(housing, hidden):
    """Every iteration keeps the best candidate or none: the variable-projection objective
    of the network (output layer refitted exactly) is non-increasing, and the output layer
    during the iterations is the exact ridge fit on the network's own features."""
    X, y = housing
    seen = []

    def record(it, info):
        fake = ADMMRegressor(alpha=reg.alpha)
        fake.coefs_, fake.intercepts_ = info["coefs"], info["intercepts"]
        seen.append(_projected_objective(fake, X, y[:, None]))
        F = X
        for W, c in zip(info["coefs"][:-1], info["intercepts"][:-1]):
            F = np.maximum(F @ W + c, 0)
        ridge = Ridge(alpha=reg.alpha).fit(F, y)
        np.testing.assert_allclose(info["coefs"][-1][:, 0], ridge.coef_, rtol=1e-6, atol=1e-8)

    # deep: the default grows it (stage 1 the first layer alone), and both stages search
    reg = ADMMRegressor(hidden_layer_sizes=hidden, max_iter=40, tol=0, random_state=0)
    reg.set_params(callback=record)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert len(seen) == reg.n_iter_ >= 2
    assert np.all(np.diff(seen) <= 1e-9 * np.abs(seen[:-1]))
    assert seen[-1] < 0.9 * seen[0]  # and it does decrease
    factors = reg.relaxation_factors_
    assert factors.shape == (reg.n_iter_, len(hidden))
    # stage 1 of a grown fit has no factor for the layers not yet inserted
    stage2 = np.isfinite(factors).all(axis=1)
    assert stage2[-1] and np.isnan(factors[~stage2, 1:]).all()
    assert np.all(factors[:, 0] >= 0) and np.all(factors[stage2] >= 0)
    assert factors[:, 0].max() > 2  # beyond classical over-relaxation


@pytest.mark.slow
def test_relaxed_solver_trains_the_hidden_layer():
    """The default solver moves the hidden layer where the fixed-feature readout cannot.

    California housing, the shared split, 100 units, seed 0 (benchmarks/bench_accuracy.py):
    measured R^2 0.774 (solver="admm") against 0.713 (solver="plain": ADMM with a readout
    refit, whose hidden layer stays near its initialisation) and 0.770 for
    MLPRegressor(early_stopping=True).
    """
    X, Xt, y, yt = load_dataset("california_housing")
    scaler = StandardScaler().fit(X)
    X, Xt = scaler.transform(X), scaler.transform(Xt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        admm = ADMMRegressor(random_state=0).fit(X, y)
        plain = ADMMRegressor(solver="plain", random_state=0).fit(X, y)
    assert admm.score(Xt, yt) > plain.score(Xt, yt) + 0.03
    assert admm.score(Xt, yt) > 0.75
    assert plain.relaxation_factors_.shape == (0, 0)


def test_relaxed_solver_keeps_weights_bounded_where_inputs_are_constant(higgs_small):
    """A constant input column gives the weight step nothing there; the relaxation
    must not amplify the ridge's pull into growth (|1 - omega| per iteration)."""
    X, y = higgs_small
    X = np.hstack([X, np.zeros((len(X), 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(20,), max_iter=15, tol=0, random_state=0)
        clf.fit(X, y)
    assert np.abs(clf.coefs_[0][-2:]).max() < 10 * np.sqrt(6 / (X.shape[1] + 20))
    assert np.all(np.isfinite(clf.coefs_[0]))


def _search_fit(X, Y, hidden, loss, max_iter, activation="relu", **options):
    """admm_fit of the search, serial, tol=0, without the heavy ball unless asked (the
    plain search slows down and stalls sooner on these small problems)."""
    from skadmm._activations import ACTIVATIONS
    from skadmm._solver import SolverOptions, admm_fit
    from skadmm.backends import get_backend

    options = {"momentum": 0.0, **options}
    with get_backend("serial", None) as backend:
        return admm_fit(
            X,
            Y,
            hidden_layer_sizes=hidden,
            activation=ACTIVATIONS[activation],
            loss=loss,
            options=SolverOptions(
                max_iter=max_iter, tol=0, variant="search", init="forward", **options
            ),
            backend=backend,
            seed=0,
        )


def test_a_rejected_step_switches_the_layer_to_targets_within_the_pieces(higgs_small, monkeypatch):
    """local_targets="after-rejection" (the default): a layer whose step, fitted to the
    global eq. (7), is rejected gets its next step from eq. (7) within each unit's
    piece, at the same factors; a rejected step of that form shrinks the factors and
    goes back to the global form.  "never" and "always" keep one form and shrink at
    every rejection, as the default does for activations without pieces to jump
    between.  The targets the back sweep gets are the layer's form."""
    from skadmm._solver import SolverOptions
    from skadmm._solver import _search as search_module
    from skadmm._solver import _state as state_module

    X, y = higgs_small
    swept = []  # the local flags of every back sweep (3,000 rows: one block an iteration)
    original_sweep = state_module.State.back_sweep

    def sweep(self, *args, local=False, **kwargs):
        swept.append(list(local))
        yield from original_sweep(self, *args, local=local, **kwargs)

    monkeypatch.setattr(state_module.State, "back_sweep", sweep)
    monkeypatch.setattr(search_module.Search, "best_candidate", lambda self, *a: None)
    omegas = []
    original_layer = search_module.Search.search_layer

    def layer(self, i, steps, previous):
        omegas.append((list(self.search.local), self.search.omega[i]))
        return original_layer(self, i, steps, previous)

    monkeypatch.setattr(search_module.Search, "search_layer", layer)
    Y = y.astype(float)[:, None]
    _search_fit(X, Y, [8], "squared", 5, slow_tol=None)
    shrink, start = SolverOptions().relaxation_shrink, SolverOptions().relaxation_start
    assert SolverOptions().local_targets == "after-rejection"
    assert omegas == [
        ([False], start),
        ([True], start),
        ([False], start * shrink),
        ([True], start * shrink),
        ([False], start * shrink**2),
    ]
    assert swept == [flags for flags, _ in omegas]
    for mode, flag in (("never", False), ("always", True)):
        omegas.clear()
        swept.clear()
        _search_fit(X, Y, [8], "squared", 3, slow_tol=None, local_targets=mode)
        assert omegas == [([flag], start * shrink**k) for k in range(3)]
        assert swept == [[flag]] * 3
    # where eq. (7) has no pieces to jump between, the default is the global form
    for activation in ("tanh", "identity"):
        omegas.clear()
        _search_fit(X, Y, [8], "squared", 3, activation=activation, slow_tol=None)
        assert omegas == [([False], start * shrink**k) for k in range(3)]
    with pytest.raises(ValueError, match="local_targets"):
        SolverOptions(local_targets="sometimes")


def test_the_targets_form_reaches_each_layers_kernel_and_stays_while_accepted(
    higgs_small, monkeypatch
):
    """Per hidden layer (2 of them, the full network: growth off): the form a rejection
    chose reaches eq. (7)'s kernel for that layer only, an accepted step of the local
    form keeps it, and a new phase (the hinge's switch to the squared targets) starts
    every layer on the form of local_targets, the effective one (tanh: global)."""
    from skadmm import _kernels as K
    from skadmm._solver import _search as search_module

    X, y = higgs_small
    calls = []  # (iteration, layer index from the top down, local) per kernel call
    original_kernel = K.preactivation_update

    def kernel(a, m, activation, beta, gamma, out=None, local=False):
        calls.append(local)
        return original_kernel(a, m, activation, beta, gamma, out=out, local=local)

    monkeypatch.setattr(K, "preactivation_update", kernel)
    original_best = search_module.Search.best_candidate
    script = iter([None, "real", "real", "real"])  # layer 1 rejected once, then real
    flags = []

    def best(self, i, *args):
        flags.append(list(self.search.local))
        what = next(script, "real")
        return None if what is None else original_best(self, i, *args)

    monkeypatch.setattr(search_module.Search, "best_candidate", best)
    Y = y.astype(float)[:, None]
    result = _search_fit(X, Y, [8, 6], "squared", 3, slow_tol=None, growth=False)
    assert result.relaxation_factors[0, 0] == 0 and result.relaxation_factors[1, 0] > 0
    # searches: it 1 layer 1 (rejected), it 1 layer 2, it 2 layer 1 (local, accepted), ...
    assert flags[:5] == [[False, False]] + [[True, False]] * 4
    # the kernel, top layer first in each back sweep (one block): it 2 and 3 see layer 1 local
    assert calls[:6] == [False, False, False, True, False, True]

    # a phase switch resets the forms: hinge targets, then squared (slow_tol=inf: after
    # three iterations); with "always" and tanh the effective form is global
    for activation, expected in (("relu", True), ("tanh", False)):
        flags.clear()
        script = iter([])
        switched = _search_fit(
            X,
            Y,
            [8],
            "hinge",
            6,
            activation=activation,
            slow_tol=np.inf,
            search_targets="then-squared",
            local_targets="always",
        )
        assert switched.squared_targets_from == 4
        assert flags == [[expected]] * 6


def test_squared_targets_take_over_when_the_search_slows(higgs_small):
    """search_targets="then-squared" (the default): once the hinge targets lower the
    searched objective by no more than slow_tol (relative) for relaxation_patience
    iterations in a row (the end of the "loss" run), the squared-loss targets take over
    and the search goes on lowering the same objective.  slow_tol=0: exactly at the
    stall (no candidate accepted) that ends the "loss" run; slow_tol=inf: after the
    first relaxation_patience iterations; the default: in between."""
    from skadmm._solver import SolverOptions

    X, y = higgs_small

    def run(targets, slow_tol):
        return _search_fit(
            X,
            y.astype(float)[:, None],
            [20],
            "hinge",
            40,
            search_targets=targets,
            slow_tol=slow_tol,
        )

    stalled = run("loss", 0.0)
    assert "lowered its objective by at most 0 " in stalled.message and stalled.n_iter < 40
    assert stalled.squared_targets_from is None
    going = run("then-squared", 0.0)
    k = stalled.n_iter - 3  # the iterations before the stall are the same
    np.testing.assert_array_equal(going.relaxation_factors[:k], stalled.relaxation_factors[:k])
    assert going.n_iter > stalled.n_iter
    assert np.count_nonzero(going.relaxation_factors[stalled.n_iter :]) > 0
    assert going.squared_targets_from == stalled.n_iter + 1
    early = run("then-squared", np.inf)
    assert early.squared_targets_from == 4
    np.testing.assert_array_equal(early.relaxation_factors[:3], stalled.relaxation_factors[:3])
    default = run("then-squared", SolverOptions().slow_tol)
    assert 4 <= default.squared_targets_from <= stalled.n_iter + 1
    # the default of the search, hence of solver="admm"
    assert SolverOptions().search_targets == "then-squared"


def test_search_rule_is_one_rule_for_every_problem(higgs_small):
    """The search's slow_tol (the estimators' search_tol, 0.02) and step damping (1) are the
    same for classification and regression at every depth: no (loss, depth) profile.  The
    stop message reports the value used; an explicit search_tol wins."""
    import skadmm._solver as solver
    from skadmm._solver import SolverOptions

    assert not hasattr(solver, "SLOW_TOL") and not hasattr(solver, "STEP_DAMPING")
    opts = SolverOptions()
    assert (opts.slow_tol, opts.step_damping) == (0.02, 1.0)
    assert ADMMClassifier().search_tol == ADMMRegressor().search_tol == 0.02
    X, y = higgs_small
    fits = [
        ADMMClassifier(hidden_layer_sizes=(10,)),
        ADMMClassifier(hidden_layer_sizes=(10, 10)),
        ADMMRegressor(hidden_layer_sizes=(10,)),
        ADMMRegressor(hidden_layer_sizes=(10,), search_tol=0.1),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in fits:
            model.set_params(early_stopping=False, max_iter=200, random_state=0)
            model.fit(X, y if isinstance(model, ADMMClassifier) else X[:, 0] * X[:, 1])
            tol = model.search_tol
            assert model.n_iter_ < 200 and model.converged_
            assert f"lowered its objective by at most {tol:g} (relative)" in model.stop_reason_
            # and it did: the last two iterations (measured within the curve) were slow
            f = np.array(model.search_objective_curve_[-3:])
            assert np.all((f[:-1] - f[1:]) / np.abs(f[:-1]) <= tol)


def test_step_damping_adds_to_the_ridge_of_the_step_and_changes_the_fit(higgs_small):
    """The proximal term on the hidden layers' steps: step_damping (default 1) times the
    inputs' mean square; it only adds to the ridge of the step's normal equations, and it
    changes the fit."""
    from skadmm._kernels import weight_statistics
    from skadmm._solver import _proximal_alpha

    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 4)) * [1.0, 2.0, 3.0, 4.0]
    G, _ = weight_statistics(a, np.zeros((50, 1)))
    assert _proximal_alpha(G, 1e-4, 1.0, 0.0) == 1e-4
    # the mean square of the inputs, times the rows, times 2 beta
    expected = 1e-4 + 2 * 0.5 * 0.3 * np.mean(np.sum(a**2, axis=0))
    assert np.isclose(_proximal_alpha(G, 1e-4, 0.5, 0.3), expected)
    X, y = higgs_small
    # the default damps every problem: a classifier with one hidden layer, a regressor,
    # two hidden layers (the previous profile left the last two undamped)
    cases = [([10], "hinge", y.astype(float)), ([10], "squared", X[:, 0] * X[:, 1])]
    cases.append(([10, 6], "squared", X[:, 0] * X[:, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for hidden, loss, target in cases:
            fits = [
                _search_fit(X, target[:, None], hidden, loss, 3, **damping)
                for damping in ({}, {"step_damping": 1.0}, {"step_damping": 0.0})
            ]
            np.testing.assert_array_equal(fits[0].coefs[0], fits[1].coefs[0])
            assert not np.allclose(fits[0].coefs[0], fits[2].coefs[0])


@pytest.mark.parametrize("hidden", [(24,), (12, 12)], ids=["one layer", "grown"])
@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_tol_zero_runs_max_iter_and_warns(higgs_small, Est, hidden):
    """The user's stopping parameters control the default solver: with tol=0, a patience
    longer than the fit and the search's own rule off (search_tol=None), it runs max_iter
    iterations (both stages of a grown fit together), is not converged and warns."""
    X, y = higgs_small
    target = y if Est is ADMMClassifier else X[:, 0] * X[:, 1]
    model = Est(
        hidden_layer_sizes=hidden,
        tol=0,
        n_iter_no_change=10**6,
        max_iter=25,
        early_stopping=False,
        search_tol=None,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="max_iter=25"):
        model.fit(X[:1500], target[:1500])
    assert model.n_iter_ == 25 and not model.converged_
    assert len(model.loss_curve_) == len(model.search_objective_curve_) == 25


@pytest.mark.parametrize(
    "Est, early", [(ADMMClassifier, False), (ADMMRegressor, False), (ADMMRegressor, True)]
)
def test_tol_and_n_iter_no_change_stop_where_mlp_would(higgs_small, Est, early):
    """With the search's own rule off, the fit stops exactly at the iteration where
    scikit-learn's MLP rule stops on the same curve (the training loss, or with early
    stopping the validation score), and not before."""
    X, y = higgs_small
    target = y if Est is ADMMClassifier else X[:, 0] * X[:, 1]
    model = Est(
        hidden_layer_sizes=(24,),
        tol=1e-3,
        n_iter_no_change=3,
        max_iter=200,
        early_stopping=early,
        search_tol=None,
        random_state=0,
    ).fit(X, target)
    # the rule on the validation score, or on the training loss (lower is better)
    curve = model.validation_scores_ if early else [-v for v in model.loss_curve_]
    assert _mlp_stop(curve, 1e-3, 3) == model.n_iter_ < 200
    assert model.converged_ and "tol=0.001 for 3 consecutive" in model.stop_reason_


def _rule_end_iteration(curve, start, reference, slow_tol=0.02, loss="squared"):
    """The iteration (1-based) at which the search's rule ends the fit on a given curve of
    its objective (``start``: before the first iteration), or None: ``Search.end`` alone."""
    from types import SimpleNamespace

    from skadmm._activations import ACTIVATIONS
    from skadmm._solver import SolverOptions
    from skadmm._solver._search import Search

    state = SimpleNamespace(n_layers=2, sizes=[3, 4, 1], activation=ACTIVATIONS["relu"])
    options = SolverOptions(variant="search", slow_tol=slow_tol, slow_reference=reference)
    rule = Search(state, options, loss, gram0=None)
    # set by the first iteration's begin
    rule.search.omega, rule.search.local = [options.relaxation_start], [False]
    before = start
    for k, value in enumerate(curve, start=1):
        rule.search.objective = value
        if rule.end(before, 1.0, SimpleNamespace(number=k)):
            return k
        before = value
    return None


def test_search_rule_reads_decreases_relative_to_the_objective_or_to_the_progress():
    """slow_reference: "objective" divides an iteration's decrease by the objective before
    it, "progress" by what the phase has lowered it so far; a stall is 0 for both.  On a
    search that converges linearly (rate 0.9) to a large floor (900), every decrease is
    at most 1 % of the objective, so "objective" ends the fit after 3 iterations; the
    progress-relative one ends it where the decreases are at most 2 % of the progress,
    three in a row, and not before; a target switch (hinge) starts the count again."""
    from skadmm._solver import SolverOptions
    from skadmm._solver._search import _relative_decrease

    assert _relative_decrease(1000.0, 990.0, 1000.0, "objective") == pytest.approx(0.01)
    assert _relative_decrease(950.0, 940.0, 1000.0, "objective") == pytest.approx(10 / 950)
    assert _relative_decrease(950.0, 940.0, 1000.0, "progress") == pytest.approx(10 / 60)
    for reference in ("objective", "progress"):
        assert _relative_decrease(950.0, 950.0, 1000.0, reference) == 0.0
        assert _relative_decrease(1000.0, 1000.0, 1000.0, reference) == 0.0  # no progress
    # an objective above the phase's start (not the monotone search's): a decrease against
    # nothing is not slow, and numpy scalars (the reduced sums) give no overflow warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _relative_decrease(np.float64(100.0), np.float64(50.0), np.float64(40.0), "progress")
    assert got == np.inf
    with pytest.raises(ValueError, match="slow_reference"):
        SolverOptions(slow_reference="floor")
    curve = 900.0 + 100.0 * 0.9 ** np.arange(1, 200)
    before = np.concatenate([[1000.0], curve[:-1]])
    assert np.max((before - curve) / before) <= 0.01 + 1e-12
    assert _rule_end_iteration(curve, 1000.0, "objective") == 3
    ratio = [
        (([1000.0, *curve][k - 1] - curve[k - 1]) / (1000.0 - curve[k - 1]))
        for k in range(1, len(curve) + 1)
    ]
    expected = next(k for k in range(3, len(curve)) if max(ratio[k - 3 : k]) <= 0.02)
    assert expected > 10  # far from the objective-relative end
    assert _rule_end_iteration(curve, 1000.0, "progress") == expected
    # the floor does not matter to the progress-relative rule, only the shape of the curve
    assert _rule_end_iteration(curve - 890.0, 110.0, "progress") == expected
    assert _rule_end_iteration(curve - 890.0, 110.0, "objective") > 3

    # the hinge loss: the first phase's end switches the targets, and the second phase's
    # progress is counted from the switch (measured from the start, it would end sooner)
    def first_end(values, start):
        drops = np.diff(np.concatenate([[start], values]))
        progress = start - values
        slow = -drops <= 0.02 * progress
        return next(k for k in range(3, len(values) + 1) if slow[k - 3 : k].all())

    k1 = first_end(curve, 1000.0)
    k2 = first_end(curve[k1:], curve[k1 - 1])
    assert k1 == expected and k2 > 3
    assert _rule_end_iteration(curve, 1000.0, "progress", loss="hinge") == k1 + k2
    # a stall ends a phase either way: three in a row
    stalled = [900.0, 800.0, 800.0, 800.0, 800.0]
    for reference in ("objective", "progress"):
        assert _rule_end_iteration(stalled, 1000.0, reference) == 5


def test_the_search_rule_is_relative_to_progress_with_a_validation_split(higgs_small):
    """The estimators set slow_reference="progress" when they hold out a validation split
    (the held-out rows judge overfitting; the rule only detects convergence) and
    "objective" without one (the rule is then the fit's only brake); the stop message
    says which."""
    import skadmm._base as base
    from skadmm._solver import SolverOptions

    X, y = higgs_small
    seen = []

    def spy(**kwargs):
        seen.append(kwargs["slow_reference"])
        return SolverOptions(**kwargs)

    base.SolverOptions, original = spy, base.SolverOptions
    try:
        for early in (True, False):
            for Est, target in ((ADMMClassifier, y), (ADMMRegressor, X[:, 0] * X[:, 1])):
                model = Est(
                    hidden_layer_sizes=(12,),
                    early_stopping=early,
                    tol=0,
                    n_iter_no_change=10**6,
                    max_iter=300,
                    random_state=0,
                ).fit(X, target)
                assert model.converged_ and model.n_iter_ < 300
                of = "of its decrease so far" if early else "(relative)"
                assert f"at most 0.02 {of} for 3 consecutive" in model.stop_reason_
    finally:
        base.SolverOptions = original
    assert seen == ["progress", "progress", "objective", "objective"]


@pytest.mark.parametrize("hidden", [(24,), (12, 12)], ids=["one layer", "grown"])
def test_search_tol_stops_where_documented(higgs_small, hidden):
    """search_tol, switched on with the user's own rule out of the way (tol=0): the fit
    (each stage of a grown one) stops at the first iteration that ends 3 in a row each
    lowering search_objective_curve_ by at most search_tol (relative), and not before."""
    X, y = higgs_small
    model = ADMMRegressor(
        hidden_layer_sizes=hidden,
        tol=0,
        n_iter_no_change=10**6,
        max_iter=300,
        search_tol=0.01,
        early_stopping=False,
        random_state=0,
    ).fit(X, X[:, 0] * X[:, 1])
    f = np.array(model.search_objective_curve_)
    n = model.n_iter_
    assert model.converged_ and n < 300
    assert "lowered its objective by at most 0.01 (relative)" in model.stop_reason_
    # the last stage's first iteration: its decrease is from the stage's start (not listed)
    first = 1 if len(hidden) == 1 else 1 + int(np.isnan(model.relaxation_factors_[:, 1]).sum())
    assert 1 < first < n or len(hidden) == 1

    def slow(m):  # iteration m (1-based) of the last stage lowered f by at most 0.01
        return (f[m - 2] - f[m - 1]) / abs(f[m - 2]) <= 0.01

    assert n - 2 >= first and all(slow(m) for m in (n - 2, n - 1, n) if m > first)
    # no earlier window of 3 slow iterations in the last stage
    windows = [m for m in range(first + 3, n + 1) if all(slow(k) for k in (m - 2, m - 1, m))]
    assert windows == ([] if n - 2 == first else [n])


def test_without_early_stopping_the_search_has_one_phase(higgs_small):
    """No validation split to stop the squared-target phase: the classifier's fit is the
    hinge phase alone, ended by the search slowing down, with no target switch."""
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(20,), early_stopping=False, max_iter=80, random_state=0
        ).fit(X, y)
        early = ADMMClassifier(
            hidden_layer_sizes=(20,), early_stopping=True, max_iter=80, random_state=0
        ).fit(X, y)
    assert clf.squared_targets_from_ is None and clf.n_iter_ < 80
    assert "relaxation search lowered its objective" in clf.stop_reason_
    assert early.squared_targets_from_ is not None


def test_validation_stall_ends_the_first_phase_not_the_fit(higgs_small):
    """With early stopping, a validation score that stops improving during the hinge
    phase switches the targets (and restarts the patience) instead of ending the fit.
    (The search's own rule is switched off here, search_tol=None, so that the validation
    stall, not a 2 % slowdown, is what ends the phase.)"""
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(20,),
            early_stopping=True,
            n_iter_no_change=2,
            max_iter=60,
            search_tol=None,
            random_state=0,
        ).fit(X, y)
    k = clf.squared_targets_from_
    assert k is not None and clf.n_iter_ >= k + 2
    # the switch came where scikit-learn's rule would have stopped the fit
    assert _mlp_stop(clf.validation_scores_[: k - 1], 1e-4, 2) == k - 1
    assert "validation score did not improve" in clf.stop_reason_


def test_regressor_has_no_target_switch(housing):
    """The squared loss's targets are already the squared targets: for ADMMRegressor the
    default search_targets="then-squared" is the same run as "loss" (no restart after
    the stall) and reports no switch."""
    X, y = housing
    runs = {}
    for targets in ("loss", "then-squared"):
        runs[targets] = _search_fit(
            X[:1500], y[:1500, None], [10], "squared", 200, search_targets=targets
        )
    plain, default = runs["loss"], runs["then-squared"]
    assert "relaxation search lowered" in plain.message and plain.n_iter < 200
    assert default.n_iter == plain.n_iter and default.squared_targets_from is None
    np.testing.assert_array_equal(default.coefs[0], plain.coefs[0])


# ---- smooth activations ----------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
@pytest.mark.parametrize("solver, max_iter, margin", [("admm", 20, 0.08), ("paper", 10, 0.04)])
def test_smooth_activations_learn_higgs(activation, solver, max_iter, margin):
    """MLP's smooth activations train under the default and the paper's solver: held-out
    accuracy clearly above the majority class, and prediction uses h itself."""
    from skadmm import _kernels as K
    from skadmm._activations import ACTIVATIONS

    X, y = load_higgs(return_X_y=True)
    scaler = StandardScaler().fit(X[:3000])
    X_train, X_test = scaler.transform(X[:3000]), scaler.transform(X[3000:6000])
    y_train, y_test = y[:3000], y[3000:6000]
    majority = max(np.mean(y_test), 1 - np.mean(y_test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(32,),
            activation=activation,
            solver=solver,
            max_iter=max_iter,
            random_state=1,
        ).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > majority + margin
    h = ACTIVATIONS[activation]
    hidden = h(X_test @ clf.coefs_[0] + clf.intercepts_[0])
    np.testing.assert_allclose(
        clf.decision_function(X_test),  # binary: the logit
        (hidden @ clf.coefs_[1] + clf.intercepts_[1]).ravel(),
        rtol=1e-10,
        atol=1e-10,
    )
    assert K.forward(X_test, clf.coefs_, clf.intercepts_, h).shape == (3000, 1)


@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_plain_solver_is_deprecated_and_still_fits(higgs_small, Est):
    """solver="plain" warns (FutureWarning, 0.2 -> removal in 0.3) at fit and fits as
    before; the other solvers do not warn."""
    X, y = higgs_small
    X, target = X[:500], (y if Est is ADMMClassifier else X[:, 0])[:500]
    params = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    message = r"solver='plain' is deprecated in 0\.2 and will be removed in 0\.3; use"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(FutureWarning, match=message):
            model = Est(solver="plain", **params).fit(X, target)
        assert model.n_iter_ == 2 and model.relaxation_factors_.shape == (0, 0)
        for solver in ("admm", "paper"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)
                Est(solver=solver, **params).fit(X, target)
