"""The classifiers' output layer: the log-loss fit on the hidden features (issue 15)."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm import _kernels as K
from skadmm._activations import ACTIVATIONS
from skadmm._base import validation_mask
from skadmm._readout import (
    fit_log_loss_readout,
    fit_readout_path,
    fit_temperature,
    initial_readout,
    temperature_terms,
)
from skadmm._solver import SolverOptions
from skadmm._solver import _output as output
from skadmm.backends import blocks_for, get_backend
from skadmm.datasets import load_dataset, load_higgs

# solver="plain" is deprecated (0.2); it keeps working until its removal in 0.3
pytestmark = pytest.mark.filterwarnings("ignore:solver='plain' is deprecated:FutureWarning")


def _features(n_rows=3000, width=24, seed=0):
    """Fixed ReLU features of real rows: the HIGGS sample through a random layer."""
    X, y = load_higgs(return_X_y=True)
    X = StandardScaler().fit_transform(X[:n_rows])
    rng = np.random.default_rng(seed)
    F = np.maximum(X @ rng.standard_normal((X.shape[1], width)) / 5 + 0.3, 0)
    return F, y[:n_rows]


def _indicators(labels, classes):
    index = np.searchsorted(classes, labels)
    if classes.size == 2:
        return (index == 1).astype(np.float64)[:, None]
    return np.eye(classes.size)[index]


def _newton(F, Y, sw, alpha, backend="serial", n_jobs=None, block_rows=700, **kwargs):
    with get_backend(backend, n_jobs) as be:
        blocks = [rows for _, rows in blocks_for(0, F.shape[0], block_rows)]
        theta0 = initial_readout(Y, sw, be, F.shape[1])
        return fit_log_loss_readout(F, Y, sw, blocks, be, alpha, theta0, **kwargs)


def _lr(F, labels, sw, alpha):
    return LogisticRegression(C=1.0 / alpha, solver="newton-cg", tol=1e-12, max_iter=10_000).fit(
        F, labels, sample_weight=sw
    )


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_newton_readout_reaches_logistic_regression(n_classes, weighted):
    """The Newton-CG fit is the optimum of LogisticRegression(C=1/alpha), to 1e-6."""
    F, y = _features()
    if n_classes > 2:  # four classes from the HIGGS label and the sign of a feature
        y = 2 * y + (F[:, 0] > np.median(F[:, 0]))
    classes = np.unique(y)
    Y = _indicators(y, classes)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, y.size) if weighted else None
    alpha = 0.7
    res = _newton(F, Y, sw, alpha)
    assert res.converged and res.n_iter <= 20
    lr = _lr(F, y, sw, alpha)
    if n_classes == 2:
        np.testing.assert_allclose(res.coef[:, 0], lr.coef_[0], atol=1e-6)
        np.testing.assert_allclose(res.intercept[0], lr.intercept_[0], atol=1e-6)
    else:  # softmax intercepts are defined up to a common shift
        np.testing.assert_allclose(res.coef, lr.coef_.T, atol=1e-6)
        np.testing.assert_allclose(
            res.intercept - res.intercept.mean(), lr.intercept_ - lr.intercept_.mean(), atol=1e-6
        )


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("products", [None, np.float32])
def test_newton_readout_is_the_same_on_every_backend(n_classes, products):
    """The sums are exact (order-free), so every backend takes the very same steps, with
    float32 Hessian-vector products too."""
    F, y = _features()
    if n_classes > 2:
        y = 2 * y + (F[:, 0] > np.median(F[:, 0]))
    Y = _indicators(y, np.unique(y))
    low = None if products is None else F.astype(products)
    gold = _newton(F, Y, None, 1e-3, products=low)
    for backend, n_jobs in [("joblib", 1), ("joblib", 2), ("joblib", 3)]:
        res = _newton(F, Y, None, 1e-3, backend, n_jobs, products=low)
        np.testing.assert_array_equal(res.coef, gold.coef)
        np.testing.assert_array_equal(res.intercept, gold.intercept)
        assert res.n_reductions == gold.n_reductions


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_products_reach_the_same_optimum(monkeypatch, n_classes, weighted):
    """With ``products=float32`` the Hessian-vector products and the preconditioner's
    curvature run in float32 on a copy of float64 features, while the gradient stays
    float64: the fit is LogisticRegression's optimum to 1e-6 as with float64 products,
    the features untouched; products of another shape are refused."""
    F, y = _features()
    if n_classes > 2:
        y = 2 * y + (F[:, 0] > np.median(F[:, 0]))
    Y = _indicators(y, np.unique(y))
    sw = np.random.default_rng(1).uniform(0.2, 3.0, y.size) if weighted else None
    seen = {"curvature": set(), "gradient": set(), "preconditioner": set()}
    curvature, terms, stats = K.log_loss_curvature, K.log_loss_terms, K.weight_statistics

    def spy_curvature(p, u):
        seen["curvature"].add((p.dtype.type, u.dtype.type))
        return curvature(p, u)

    def spy_terms(z, y):
        seen["gradient"].add(z.dtype.type)
        return terms(z, y)

    def spy_stats(a, target, sample_weight=None, gram=True):
        if gram and target.shape[1] == 0:  # the features' Gram, or the curvature's
            seen["preconditioner"].add(a.dtype.type)
        return stats(a, target, sample_weight, gram)

    monkeypatch.setattr(K, "log_loss_curvature", spy_curvature)
    monkeypatch.setattr(K, "log_loss_terms", spy_terms)
    monkeypatch.setattr(K, "weight_statistics", spy_stats)
    before = F.copy()
    res = _newton(F, Y, sw, 0.7, products=F.astype(np.float32))
    np.testing.assert_array_equal(F, before)
    assert seen["curvature"] == {(np.float32, np.float32)} and seen["gradient"] == {np.float64}
    assert np.float32 in seen["preconditioner"]  # only the curvature's is float32
    assert res.converged
    lr = _lr(F, y, sw, 0.7)
    if n_classes == 2:
        np.testing.assert_allclose(res.coef[:, 0], lr.coef_[0], atol=1e-6)
        np.testing.assert_allclose(res.intercept[0], lr.intercept_[0], atol=1e-6)
    else:
        np.testing.assert_allclose(res.coef, lr.coef_.T, atol=1e-6)
        np.testing.assert_allclose(
            res.intercept - res.intercept.mean(), lr.intercept_ - lr.intercept_.mean(), atol=1e-6
        )
    seen["curvature"].clear()  # without products: F's dtype
    seen["preconditioner"].clear()
    _newton(F, Y, sw, 0.7)
    assert seen["curvature"] == {(np.float64, np.float64)}
    assert seen["preconditioner"] == {np.float64}
    with pytest.raises(ValueError, match="products has shape"):
        _newton(F, Y, sw, 0.7, products=F[:-1].astype(np.float32))
    # the estimators' copy: only of dense features wider than float32
    assert output._narrowed(F, np.float32).dtype == np.float32
    for features in (sparse.csr_matrix(F), F.astype(np.float32)):
        assert output._narrowed(features, np.float32) is None
    assert output._narrowed(F, None) is None


def test_estimators_take_float32_products_on_the_ridge_path_only(higgs_small, monkeypatch):
    """SolverOptions.readout_products reaches the output layer's fit: the ridge path's
    points take float32 products of float64 features by default, the data's dtype with
    "data"; the solve at alpha without held-out rows always the data's dtype.  Anything
    else is an error naming the option."""
    from skadmm import _base as base

    X, y = higgs_small
    asked = []

    def spy(*args, **kwargs):
        products = kwargs["products"]
        asked.append(None if products is None else products.dtype.type)
        return fit_log_loss_readout(*args, **kwargs)

    monkeypatch.setattr(output, "fit_log_loss_readout", spy)
    cases = [(True, "float32", {np.float32}), (True, "data", {None})]
    cases += [(False, "float32", {None}), (False, "data", {None})]
    for early, mode, products in cases:
        asked.clear()
        monkeypatch.setattr(
            base, "SolverOptions", lambda **o: SolverOptions(**{**o, "readout_products": mode})
        )
        clf = ADMMClassifier((8,), max_iter=3, early_stopping=early, random_state=0)
        clf.fit(X[:600], y[:600])
        assert len(asked) > early and set(asked) == products
    # a tol below the path's: the chosen point is refined in the data's dtype
    asked.clear()
    monkeypatch.setattr(base, "SolverOptions", SolverOptions)
    ADMMClassifier((8,), max_iter=3, tol=1e-6, early_stopping=True, random_state=0).fit(
        X[:600], y[:600]
    )
    assert len(asked) >= 2 and set(asked[:-1]) == {np.float32} and asked[-1] is None
    assert SolverOptions().readout_products == "float32"
    with pytest.raises(ValueError, match="readout_products"):
        SolverOptions(readout_products="float16")


def _full_and_on_every_third_row(F, Y, sw, counted):
    """The Newton fit with the preconditioner of every row and of every third row
    (``curvature_rows``); returns both and, for the second, the row counts of the
    ``weight_statistics`` calls that ``counted(target, sample_weight, gram)`` picks."""
    seen = []
    original = K.weight_statistics

    def spy(a, target, sample_weight=None, gram=True):
        if counted(target, sample_weight, gram):
            seen.append(a.shape[0])
        return original(a, target, sample_weight, gram)

    with get_backend("serial") as be:
        blocks = [rows for _, rows in blocks_for(0, F.shape[0], 300)]
        theta0 = initial_readout(Y, sw, be, F.shape[1])
        full = fit_log_loss_readout(F, Y, sw, blocks, be, 0.7, theta0)
        K.weight_statistics = spy
        try:
            sample = [slice(r.start + 1, r.stop, 3) for r in blocks]
            res = fit_log_loss_readout(F, Y, sw, blocks, be, 0.7, theta0, curvature_rows=sample)
        finally:
            K.weight_statistics = original
    return full, res, seen


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_newton_readout_on_a_sample_preconditioner_reaches_the_same_optimum(n_classes, weighted):
    """A preconditioner formed on every third row changes the conjugate-gradient
    iterations, not the optimum: the Hessian-vector products and gradients use every row."""
    F, y = _features()
    if n_classes > 2:
        y = 2 * y + (F[:, 0] > np.median(F[:, 0]))
    Y = _indicators(y, np.unique(y))
    sw = np.random.default_rng(1).uniform(0.2, 3.0, y.size) if weighted else None
    full, half, seen = _full_and_on_every_third_row(
        # the curvature's weighted Gram matrices
        F,
        Y,
        sw,
        lambda t, w, gram: gram and t.shape[1] == 0 and w is not None,
    )
    assert full.converged and half.converged
    # one curvature per preconditioner formed and block on its 100 sampled rows (and,
    # weighted, the Gram matrix of every block at the start)
    formed = half.n_preconditioners
    assert 1 <= formed <= half.n_iter
    assert seen.count(100) == formed * 10 and len(seen) == formed * 10 + 10 * weighted
    np.testing.assert_allclose(half.coef, full.coef, atol=1e-6)
    np.testing.assert_allclose(half.intercept, full.intercept, atol=1e-6)
    assert abs(half.objective - full.objective) <= 1e-9 * abs(full.objective)


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_sampled_preconditioner_is_the_same_on_every_backend(monkeypatch, n_jobs):
    """Above SAMPLE_ROWS_PER_FEATURE rows per feature the output layer's preconditioner is
    formed on every s-th row by global index: the fit is still the same on any number of
    threads, and the sample is what it says."""

    monkeypatch.setattr(output, "SAMPLE_ROWS_PER_FEATURE", 20)
    samples = []
    original = output._LogLossOutput.curvature_sample

    def spy(self, width):
        got = original(self, width)
        samples.append((got, self.st.blocks, width, self.st.n_rows))
        return got

    monkeypatch.setattr(output._LogLossOutput, "curvature_sample", spy)
    handed = []
    fit = output.fit_log_loss_readout

    def spy_fit(*args, **kwargs):
        handed.append(kwargs.get("curvature_rows"))
        return fit(*args, **kwargs)

    monkeypatch.setattr(output, "fit_log_loss_readout", spy_fit)
    X, y = _features(n_rows=4000, width=8)
    kw = dict(hidden_layer_sizes=(24,), max_iter=8, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gold = ADMMClassifier(backend="serial", **kw).fit(X, y)
        threads = ADMMClassifier(backend="joblib", n_jobs=n_jobs, **kw).fit(X, y)
    for w, w0 in zip(threads.coefs_ + threads.intercepts_, gold.coefs_ + gold.intercepts_):
        np.testing.assert_array_equal(w, w0)
    assert threads.readout_alpha_ == gold.readout_alpha_
    got, blocks, width, n_train = samples[0]  # serial: every training row is local
    stride = n_train // (20 * width)
    assert stride >= 2 and len(got) == len(blocks)
    picked = np.concatenate([np.arange(n_train)[s] for s in got])
    np.testing.assert_array_equal(picked, np.arange(0, n_train, stride))
    # the Newton fits of the first (serial) fit are handed that very sample
    assert handed and all(h is got for h in handed[: len(handed) // 2])


def test_sample_preconditioner_without_weight_falls_back_to_every_row():
    """When the sampled rows carry no weight the curvature is formed on every row."""
    F, y = _features()
    Y = _indicators(y, np.unique(y))
    sw = np.ones(y.size)
    sw[1::3] = 0.0  # exactly the sampled rows
    full, res, seen = _full_and_on_every_third_row(
        F, Y, sw, lambda t, w, gram: gram and t.shape[1] == 0
    )
    assert res.converged
    # the first Gram (every block), then per preconditioner formed the empty sample and
    # every row
    formed = res.n_preconditioners
    assert seen.count(300) == 10 + 10 * formed and seen.count(100) == 10 * formed
    np.testing.assert_allclose(res.coef, full.coef, atol=1e-6)


def test_classifier_output_layer_is_logistic_regression_on_its_features(higgs_small):
    """With tol=0 the fitted model's output layer is the log-loss optimum on its own
    hidden features."""
    X, y = higgs_small
    alpha = 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(12,),
            alpha=alpha,
            max_iter=8,
            tol=0,
            early_stopping=False,
            random_state=0,
        ).fit(X, y)
    assert clf.out_activation_ == "logistic"
    F = ACTIVATIONS["relu"](X @ clf.coefs_[0] + clf.intercepts_[0])
    lr = _lr(F, y, None, alpha)
    np.testing.assert_allclose(clf.coefs_[-1][:, 0], lr.coef_[0], atol=1e-6)
    np.testing.assert_allclose(clf.intercepts_[-1][0], lr.intercept_[0], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), lr.predict_proba(F), atol=1e-7)
    assert 1 <= clf.readout_n_iter_ <= 20


def _mean_gradient(F, Y, coef, intercept, alpha):
    """The gradient of the mean log-loss plus ``alpha / (2 n) ||coef||^2`` (numpy)."""
    Z = F @ coef + intercept
    if Y.shape[1] == 1:
        P = 1.0 / (1.0 + np.exp(-Z))
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
    R = P - Y
    grad = np.vstack([F.T @ R + alpha * coef, R.sum(axis=0)])
    return grad / F.shape[0]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_output_layer_without_a_split_is_solved_to_tol(higgs_small, n_classes):
    """Without held-out rows the output layer is solved at alpha to the estimator's tol,
    the test of LogisticRegression's Newton solvers (the largest entry of the mean
    loss's gradient), in fewer Newton steps than to the floor (tol=0); a tol above 1e-4
    (the ridge path's points' tolerance) still gets an output layer solved to 1e-4."""
    X, y = higgs_small
    if n_classes == 3:
        y = y + (X[:, 0] > np.median(X[:, 0]))
    fits = {}
    for tol in (1e-1, 1e-4, 0.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = ADMMClassifier(
                hidden_layer_sizes=(12,), max_iter=4, tol=tol, early_stopping=False, random_state=0
            ).fit(X, y)
        assert clf.readout_alpha_ == clf.alpha
        F = ACTIVATIONS["relu"](X @ clf.coefs_[0] + clf.intercepts_[0])
        Y = _indicators(y, clf.classes_)
        grad = _mean_gradient(F, Y, clf.coefs_[-1], clf.intercepts_[-1], clf.alpha)
        assert np.abs(grad).max() <= min(max(tol, 1e-8), 1e-4)
        fits[tol] = clf
    # the hidden layers are the same (tol stops nothing in 4 iterations): only the
    # output layer's tolerance differs
    for tol in (1e-1, 1e-4):
        np.testing.assert_array_equal(fits[tol].coefs_[0], fits[0.0].coefs_[0])
    # tol=1e-1 is solved as 1e-4: the same steps; to the floor takes more
    steps = [fits[t].readout_n_iter_ for t in (1e-1, 1e-4, 0.0)]
    assert steps[0] == steps[1] < steps[2]
    np.testing.assert_array_equal(fits[1e-1].coefs_[-1], fits[1e-4].coefs_[-1])


@pytest.mark.parametrize("tol", [1e-4, 1e-3, 1e-6])
def test_ridge_path_returns_its_chosen_point_solved_to_tol(higgs_small, monkeypatch, tol):
    """With held-out rows the path's points are solved to 1e-4; the returned output layer
    is the chosen point as it is when tol >= 1e-4, else that point solved on to tol.
    Without held-out rows the output layer is solved at alpha to tol (1e-4 at the
    loosest) from the start."""
    X, y = higgs_small
    calls = []
    original = output.fit_log_loss_readout

    def spy(*args, **kwargs):
        res = original(*args, **kwargs)
        calls.append((args[5], kwargs["tol"], res))
        return res

    monkeypatch.setattr(output, "fit_log_loss_readout", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(12,), max_iter=4, tol=tol, early_stopping=True, random_state=0
        ).fit(X, y)
    path = [c for c in calls if c[1] == 1e-4]
    assert len(path) >= 2 and calls[: len(path)] == path
    chosen = min(path, key=lambda c: abs(c[0] - clf.readout_alpha_))
    assert chosen[0] == clf.readout_alpha_
    s = 1.0 / clf.temperature_  # the returned layer is the fit times the temperature
    if tol >= 1e-4:
        assert len(calls) == len(path)  # no refit
        np.testing.assert_allclose(clf.coefs_[-1], chosen[2].coef * s, rtol=1e-12)
    else:
        ridge, final_tol, res = calls[-1]
        assert len(calls) == len(path) + 1 and ridge == clf.readout_alpha_ and final_tol == tol
        assert res.converged
        np.testing.assert_allclose(clf.coefs_[-1], res.coef * s, rtol=1e-12)
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(
            hidden_layer_sizes=(12,), max_iter=4, tol=tol, early_stopping=False, random_state=0
        ).fit(X, y)
    assert [c[1] for c in calls] == [min(tol, 1e-4)]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_stay_finite_and_normalised_for_huge_logits(n_classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = np.argmax(X[:, :n_classes], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    logits = clf.decision_function(X)
    scale = 1e4 / np.abs(logits).max()  # logits up to |z| = 1e4
    clf.coefs_[-1] = clf.coefs_[-1] * scale
    clf.intercepts_[-1] = clf.intercepts_[-1] * scale
    z = clf.decision_function(X)
    assert 9e3 < np.abs(z).max() <= 1.0001e4
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # finite where the probability underflows: both stop at the dtype's tiny, consistently
    tiny = np.finfo(proba.dtype).tiny
    assert np.all(log_proba <= 0) and log_proba.min() == pytest.approx(np.log(tiny))
    assert proba.min() == tiny
    np.testing.assert_allclose(np.log(proba), log_proba, rtol=1e-9, atol=1e-12)
    exact = proba > 1e-300
    assert exact.sum() > proba.size // 4
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


@given(
    z=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=12).map(
        lambda v: np.array(v)[:, None]
    ),
)
def test_logistic_terms_match_their_definitions(z):
    """loss, p and p - y of the one-output case, against direct formulas in extended precision."""
    for yv in (0.0, 1.0):
        y = np.full_like(z, yv)
        loss, p, r = K.log_loss_terms(z, y)
        # for y in {0, 1}: log(1 + e^z) - y z = softplus((1 - 2 y) z), no cancellation
        zl = z[:, 0].astype(np.longdouble)
        x = (1 - 2 * yv) * zl
        ref = np.where(x < 0, np.log1p(np.exp(x)), x + np.log1p(np.exp(-x)))
        np.testing.assert_allclose(loss, ref.astype(float), rtol=1e-12, atol=1e-300)
        ref_p = (1 / (1 + np.exp(-zl))).astype(float)  # below 1e-300: subnormal, no digits
        np.testing.assert_allclose(p[:, 0], ref_p, rtol=1e-12, atol=1e-300)
        np.testing.assert_array_equal(r, p - y)


@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3]))
def test_curvature_is_the_derivative_of_the_probabilities(seed, n_out):
    """log_loss_curvature(p, u) is d p(z + t u) / dt at t = 0 (central differences)."""
    rng = np.random.default_rng(seed)
    z, u = rng.standard_normal((6, n_out)) * 3, rng.standard_normal((6, n_out))
    t = 1e-6
    numeric = (K.output_probabilities(z + t * u) - K.output_probabilities(z - t * u)) / (2 * t)
    got = K.log_loss_curvature(K.output_probabilities(z), u)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)


def test_float32_data_keeps_float32_outputs(higgs_small):
    X, y = higgs_small
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    assert all(w.dtype == np.float32 for w in clf.coefs_ + clf.intercepts_)
    for out in (clf.predict_proba(X), clf.predict_log_proba(X), clf.decision_function(X)):
        assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    p = y.mean()
    prior = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    assert log_loss(y, clf.predict_proba(X)) < 0.95 * prior  # it learned something


def test_grid_search_on_log_loss():
    X, y = load_higgs(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), ADMMClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0)
    )
    grid = GridSearchCV(pipe, {"admmclassifier__alpha": [1e-4, 1.0]}, scoring="neg_log_loss", cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X[:3000], y[:3000])
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    p = y[:3000].mean()
    prior = -(p * np.log(p) + (1 - p) * np.log1p(-p))  # the class prior's log-loss
    assert -0.95 * prior < grid.best_score_ < 0


def test_validation_scores_are_those_of_the_returned_model():
    """With early stopping, best_validation_score_ is the returned model's validation accuracy."""
    X, y = load_higgs(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = ADMMClassifier(
        hidden_layer_sizes=(32,), early_stopping=True, validation_fraction=0.2, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # the estimator's split: global row i is held out iff validation_mask says so
    seed = check_random_state(3).randint(np.iinfo(np.int32).max)
    idx_val = np.flatnonzero(validation_mask(seed, 0, y.size, 0.2))
    got = accuracy_score(y[idx_val], clf.predict(X[idx_val]))
    assert clf.best_validation_score_ == pytest.approx(got, abs=1e-12)
    # the iterates' scores (their own least-squares output layers), one per iteration
    assert len(clf.validation_scores_) == clf.n_iter_


@pytest.mark.parametrize("solver", ["admm", "plain"])
def test_regressor_validation_score_is_that_of_the_returned_model(solver):
    """ADMMRegressor with early stopping: best_validation_score_ is the R^2 on the held-out
    rows of the model that predicts (the output layer refitted after the iterations), not
    the best iterate's.  For the default the search's output layer is already the exact
    least-squares fit (the refit moves it by rounding); "plain"'s refit moves it for real."""
    X, _, y, _ = load_dataset("california_housing")
    X, y = StandardScaler().fit_transform(X[:4000]), y[:4000]
    reg = ADMMRegressor(
        hidden_layer_sizes=(32,),
        solver=solver,
        early_stopping=True,
        validation_fraction=0.2,
        max_iter=30,
        random_state=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)  # "plain" is deprecated
        reg.fit(X, y)
    seed = check_random_state(3).randint(np.iinfo(np.int32).max)
    idx_val = np.flatnonzero(validation_mask(seed, 0, y.size, 0.2))
    got = r2_score(y[idx_val], reg.predict(X[idx_val]))
    assert reg.best_validation_score_ == pytest.approx(got, abs=1e-10)
    if solver == "plain":  # the refit changed the model: the iterate's score is another
        assert abs(reg.best_validation_score_ - max(reg.validation_scores_)) > 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["higgs", "segmentation"])
def test_probabilities_beat_the_class_prior_on_real_data(name):
    """Test log-loss below the constant predictor's, close to LogisticRegression's or better."""
    X, Xt, y, yt = load_dataset(name)
    sc = StandardScaler().fit(X)
    X, Xt = sc.transform(X), sc.transform(Xt)
    clf = ADMMClassifier(hidden_layer_sizes=(64,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    classes = np.unique(y)
    prior = np.bincount(np.searchsorted(classes, y)) / y.size
    ours = log_loss(yt, clf.predict_proba(Xt), labels=classes)
    constant = log_loss(yt, np.tile(prior, (yt.size, 1)), labels=classes)
    linear = log_loss(yt, LogisticRegression(max_iter=2000).fit(X, y).predict_proba(Xt))
    assert ours < 0.9 * constant
    assert ours < 1.05 * linear


@given(st.integers(0, 2**32 - 1), st.floats(0.1, 2e3))
def test_softmax_loss_is_accurate_for_dominant_and_hopeless_labels(seed, spread):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((8, 4)) * spread
    y = np.eye(4)[rng.integers(0, 4, 8)]
    loss, p, r = K.log_loss_terms(z, y)
    # logsumexp(z) - z_y = log1p(sum over the other classes of exp(z_j - z_y)): no cancellation
    zl = z.astype(np.longdouble)
    others = np.exp(zl - (y * zl).sum(1, keepdims=True)) * (1 - y)
    ref = np.log1p(others.sum(1))
    np.testing.assert_allclose(loss, ref.astype(float), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)


class _Backend:
    """Just enough of a backend for the path and temperature (one process)."""

    def allreduce(self, a):
        return np.asarray(a, dtype=np.float64)


def test_temperature_is_the_validation_optimum_and_only_softens():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((400, 1)) * 3
    y = (rng.uniform(size=(400, 1)) < 1 / (1 + np.exp(-z / 2.5))).astype(float)  # true T = 2.5
    s = fit_temperature(lambda s: temperature_terms(z, y, s), _Backend())

    def loss(v):
        return temperature_terms(z, y, v)[0]

    assert loss(s) <= min(loss(s * 1.05), loss(s / 1.05))  # the minimiser, both ways
    assert 1.5 < 1 / s < 4.0
    # underconfident logits (true T = 0.5): the temperature stays at 1, never sharpens
    y_sharp = (rng.uniform(size=(400, 1)) < 1 / (1 + np.exp(-2 * z))).astype(float)
    assert fit_temperature(lambda s: temperature_terms(z, y_sharp, s), _Backend()) == 1.0
    # every row right with margin: the loss falls for ever as s grows; s stays bounded
    z_sep = np.abs(z) + 1.0
    s_sep = fit_temperature(lambda s: temperature_terms(z_sep, np.ones_like(z_sep), s), _Backend())
    assert s_sep == 1.0


def test_ridge_path_keeps_the_best_and_stops_on_tol():
    """A path of ridges total, total/4, ...: the least validation loss is kept, the path
    stops at the first ridge that does not improve by more than tol, and at alpha.  The
    path's points are solved to path_tol; the chosen ridge is then solved to final_tol
    (None: the default tolerance), started from its path point, and that fit is returned,
    unless final_tol is no tighter than path_tol: then the path point itself is."""
    from skadmm._readout import ReadoutResult

    calls = []

    def fit(ridge, theta, tol):
        calls.append((ridge, None if theta is None else float(theta[0, 0]), tol))
        # the ridge travels in .objective, and in the coefficient (to see the warm start)
        return ReadoutResult(np.full((1, 1), ridge), np.zeros(1), ridge, 1, 1, 1, 1, tol is None)

    def make_loss(curve):
        return lambda res: curve(res.objective)

    # validation loss falls until ridge 64 / 4^2 = 4, then rises
    res, ridge, n = fit_readout_path(
        fit, make_loss(lambda r: (np.log(r) - np.log(4)) ** 2), 1e-6, 64.0, None, path_tol=1e-3
    )
    assert ridge == 4.0 and n == 4
    assert calls[:4] == [
        (64.0, None, 1e-3),
        (16.0, 64.0, 1e-3),
        (4.0, 16.0, 1e-3),
        (1.0, 4.0, 1e-3),
    ]
    assert calls[4:] == [(4.0, 4.0, None)] and res.converged  # the refit of the chosen one
    # a final tolerance no tighter than the points': the chosen point as it is
    for final_tol, refit in [(1e-3, []), (1e-2, []), (1e-5, [(4.0, 4.0, 1e-5)])]:
        calls.clear()
        res, ridge, n = fit_readout_path(
            fit,
            make_loss(lambda r: (np.log(r) - np.log(4)) ** 2),
            1e-6,
            64.0,
            None,
            path_tol=1e-3,
            final_tol=final_tol,
        )
        assert ridge == 4.0 and n == 4 and calls[4:] == refit
        assert res.objective == 4.0 and res.coef[0, 0] == 4.0
    # a gain smaller than tol stops the path
    res, ridge, n = fit_readout_path(
        fit, make_loss(lambda r: 1e-5 * r), 1e-6, 64.0, None, tol=1e-3
    )
    assert n == 2 and ridge == 16.0
    # always falling: down to alpha, and no further
    res, ridge, n = fit_readout_path(fit, make_loss(lambda r: r), 0.5, 64.0, None)
    assert ridge == 0.5 and n == 5  # 64, 16, 4, 1, then the floor
    # alpha = 0: the path ends where ridges stop mattering, not at underflow
    res, ridge, n = fit_readout_path(fit, make_loss(lambda r: r), 0.0, 64.0, None)
    assert n < 30
    # a non-finite validation loss ends the path
    res, ridge, n = fit_readout_path(
        fit, make_loss(lambda r: np.nan if r < 10 else r), 0.0, 64.0, None
    )
    assert n == 3 and ridge == 16.0


def test_classifier_on_sparse_input_without_hidden_layer_is_logistic_regression():
    X, _, y, _ = load_dataset("a9a")
    X, y = X[:2000], y[:2000]
    alpha = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(
            hidden_layer_sizes=(),
            alpha=alpha,
            tol=0,  # the output layer to the floor: LogisticRegression's optimum
            early_stopping=False,
            max_iter=2,
            random_state=0,
        ).fit(X, y)
    lr = _lr(X, y, None, alpha)
    np.testing.assert_allclose(clf.coefs_[0][:, 0], lr.coef_[0], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=1e-7)


@pytest.mark.parametrize("solver", ["paper", "plain"])
def test_every_solver_returns_a_calibrated_output_layer(higgs_small, solver):
    X, y = higgs_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(16,), max_iter=5, solver=solver, random_state=0)
        clf.fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.do_early_stopping_
    assert np.isfinite(clf.temperature_) and clf.readout_alpha_ >= clf.alpha
    p = y.mean()
    prior = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    assert log_loss(y, clf.predict_proba(X)) < prior


def test_output_layer_starts_at_the_class_prior_not_the_random_weights(higgs_small, monkeypatch):
    """A cold fit starts the output layer's Newton method at the class prior (the random
    initial weights are the search's start, not a model); a warm start from the model's."""
    import skadmm._solver._output as solver

    starts = []
    original = solver.fit_log_loss_readout

    def spy(F, Y, sw, blocks, backend, alpha, theta0, **kwargs):
        starts.append(np.array(theta0))
        return original(F, Y, sw, blocks, backend, alpha, theta0, **kwargs)

    monkeypatch.setattr(solver, "fit_log_loss_readout", spy)
    X, y = higgs_small
    clf = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    p = y.mean()
    np.testing.assert_array_equal(starts[0][:-1], 0.0)
    assert starts[0][-1, 0] == pytest.approx(np.log(p / (1 - p)))
    clf.set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        before = [clf.coefs_[-1].copy(), clf.intercepts_[-1].copy()]
        clf.fit(X, y)
    np.testing.assert_array_equal(starts[-1][:-1], before[0])
    np.testing.assert_array_equal(starts[-1][-1], before[1])


def test_preconditioner_of_a_matrix_rounding_left_indefinite_is_positive_definite():
    """Sums of float32 products of large features can leave the curvature matrix
    indefinite by far more than its mean diagonal (the error scales with the largest
    eigenvalue): the preconditioner is still a symmetric positive definite solve
    (it used to raise LinAlgError: float32 data, solver="paper", 300 ReLU units)."""
    from skadmm._readout import _preconditioner

    rng = np.random.default_rng(0)
    d = 40
    u = rng.standard_normal((d + 1, 1))
    Q, _ = np.linalg.qr(rng.standard_normal((d + 1, d + 1)))
    values = np.concatenate([[1e6], np.full(d - 1, 1.0), [-50.0]])  # rank-one dominant
    H = (Q * values) @ Q.T + u @ u.T
    gram = np.eye(d + 1)
    solve = _preconditioner(H, 0.0, gram)
    S = np.column_stack([solve(e) for e in np.eye(d + 1)])
    np.testing.assert_allclose(S, S.T, rtol=1e-8, atol=1e-12)
    assert np.linalg.eigvalsh(0.5 * (S + S.T)).min() > 0
    r = rng.standard_normal((d + 1, 3))  # several outputs at once, as the softmax asks
    np.testing.assert_allclose(solve(r), S @ r, rtol=1e-8, atol=1e-12)


def test_class_curvature_is_the_sum_of_the_softmax_hessians():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(5), 40)
    w = rng.uniform(0.0, 2.0, 40)
    expected = sum(wi * (np.diag(pi) - np.outer(pi, pi)) for pi, wi in zip(p, w))
    np.testing.assert_allclose(K.class_curvature(p, w), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        K.class_curvature(p), K.class_curvature(p, np.ones(40)), rtol=1e-12, atol=1e-14
    )
    assert K.class_curvature(p.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("alpha", [0.3, 1e-6])
def test_coupled_preconditioner_solves_its_kronecker_system(alpha):
    """The solve is that of (H + 1e-10 G) (x) Qn + alpha D (x) I, Qn the class curvature
    scaled to trace K plus 1 1^T / K (its null vector, a common shift of the logits,
    gets the eigenvalue 1), eigenvalues floored at 1e-6 of the largest."""
    from skadmm._readout import _coupled_preconditioner

    rng = np.random.default_rng(0)
    d, n_out, n = 7, 4, 200
    F1 = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    p = rng.dirichlet(np.ones(n_out), n)
    v = np.mean(p * (1 - p), axis=1)
    H, gram = F1.T @ (F1 * v[:, None]), F1.T @ F1
    Q = K.class_curvature(p)
    solve = _coupled_preconditioner(H, Q, alpha, gram)
    mu, U = np.linalg.eigh(Q * n_out / np.trace(Q) + 1.0 / n_out)
    Qn = U @ np.diag(np.maximum(mu, 1e-6 * mu[-1])) @ U.T
    D = np.eye(d + 1)
    D[d, d] = 0.0
    P = np.kron(H + 1e-10 * gram, Qn) + alpha * np.kron(D, np.eye(n_out))
    r = rng.standard_normal((d + 1, n_out))
    expected = np.linalg.solve(P, r.ravel()).reshape(d + 1, n_out)
    np.testing.assert_allclose(solve(r), expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())


def test_coupled_preconditioner_takes_fewer_conjugate_gradients(monkeypatch):
    """Keeping the classes' coupling reaches the same optimum in fewer CG iterations
    than the mean of the diagonal blocks (H (x) I) on classes the features confuse."""
    import skadmm._readout as readout

    F, y = _features()
    y = 2 * y + (F[:, 0] > np.median(F[:, 0])) + 4 * (F[:, 1] > np.median(F[:, 1]))
    Y = _indicators(y, np.unique(y))
    coupled = _newton(F, Y, None, 1e-3)
    monkeypatch.setattr(
        readout,
        "_coupled_preconditioner",
        lambda H, Q, alpha, gram: readout._preconditioner(H, alpha, gram),
    )
    uncoupled = _newton(F, Y, None, 1e-3)
    assert coupled.converged and uncoupled.converged
    np.testing.assert_allclose(coupled.objective, uncoupled.objective, rtol=1e-9)
    assert coupled.n_cg < uncoupled.n_cg


def _eight_classes():
    F, y = _features()
    y = 2 * y + (F[:, 0] > np.median(F[:, 0])) + 4 * (F[:, 1] > np.median(F[:, 1]))
    return F, _indicators(y, np.unique(y))


@pytest.mark.parametrize("n_classes", [2, 8])
def test_lazy_preconditioner_reaches_the_same_optimum(n_classes):
    """Forming the preconditioner only when it has gone stale (the default) changes the
    conjugate-gradient iterations, not the optimum, and forms fewer of them."""
    import skadmm._readout as readout

    F, Y = _eight_classes()
    if n_classes == 2:
        F, y = _features()
        Y = _indicators(y, np.unique(y))
    with get_backend("serial") as be:
        blocks = [rows for _, rows in blocks_for(0, F.shape[0], 700)]
        theta0 = initial_readout(Y, None, be, F.shape[1])
        every, lazy = (
            readout.fit_log_loss_readout(F, Y, None, blocks, be, 1e-3, theta0, refresh=r)
            for r in ("every", "lazy")
        )
    assert every.converged and lazy.converged
    assert every.n_preconditioners == every.n_iter
    assert 1 <= lazy.n_preconditioners < lazy.n_iter
    np.testing.assert_allclose(lazy.objective, every.objective, rtol=1e-10)
    logits = [F @ r.coef + r.intercept for r in (every, lazy)]
    np.testing.assert_allclose(logits[1], logits[0], atol=1e-3)


def test_lazy_preconditioner_is_formed_again_when_stale(monkeypatch):
    """The rule: a preconditioner at the first Newton step, then again only once the
    gradient has fallen STALE_DECREASE times since the last one, or after a step whose
    conjugate gradients took more than twice the first step's since the last one (and
    more than STALE_CG) or hit their cap.  From the class prior to a small ridge the
    curvature changes a lot, so it is formed more than once, and the fit converges."""
    import skadmm._readout as readout

    events = []
    cg, coupled = readout._conjugate_gradient, readout._coupled_preconditioner

    def counted_cg(*args):
        step, used = cg(*args)
        events.append(("cg", used, args[-1], float(np.abs(args[1]).max())))
        return step, used

    def counted_preconditioner(*args):
        events.append(("formed",))
        return coupled(*args)

    monkeypatch.setattr(readout, "_conjugate_gradient", counted_cg)
    monkeypatch.setattr(readout, "_coupled_preconditioner", counted_preconditioner)
    F, Y = _eight_classes()
    res = _newton(F, Y, None, 1e-6)
    assert res.converged and res.n_preconditioners > 1
    assert sum(e[0] == "formed" for e in events) == res.n_preconditioners
    expected, fresh, last, g_fresh = [], None, None, None
    for e in events:
        if e[0] != "cg":
            continue
        used, cap, gmax = e[1:]
        stale = last is not None and (
            last > max(2 * fresh, readout.STALE_CG)
            or last >= cap
            or gmax * readout.STALE_DECREASE < g_fresh
        )
        expected.append(last is None or stale)
        if expected[-1]:
            fresh, g_fresh = used, gmax
        last = used
    # per Newton step: was a preconditioner formed just before its conjugate gradients
    formed = [i > 0 and events[i - 1][0] == "formed" for i, e in enumerate(events) if e[0] == "cg"]
    assert formed == expected and sum(expected) == res.n_preconditioners


def test_refresh_must_be_lazy_or_every():
    F, y = _features(n_rows=200)
    Y = _indicators(y, np.unique(y))
    with get_backend("serial") as be, pytest.raises(ValueError, match="refresh"):
        fit_log_loss_readout(
            F, Y, None, [slice(0, 200)], be, 1.0, initial_readout(Y, None, be, 24), refresh="x"
        )


@pytest.mark.parametrize("offset", [0, 8192 * 3])
def test_curvature_sample_is_one_slice_per_chunk(monkeypatch, offset):
    """The sample is every s-th row by global index, and each chunk's whole sample goes to
    its first block (one weighted Gram product per chunk, the same sum on any partition);
    without enough rows to sample, every row of the chunk."""
    from types import SimpleNamespace

    from skadmm.backends import CHUNK_ROWS

    with get_backend("serial") as be:
        be.blocks_per_chunk = CHUNK_ROWS // 256
        n = 3 * CHUNK_ROWS + 1000  # three whole chunks and a partial one
        blocks = [rows for _, rows in blocks_for(offset, n, 256)]
        for per_feature, stride in [(8, 0), (1000, 1)]:
            monkeypatch.setattr(output, "SAMPLE_ROWS_PER_FEATURE", per_feature)
            st = SimpleNamespace(backend=be, n_rows=n, blocks=blocks, offset=offset)
            out = output._LogLossOutput(st, SolverOptions(), None)
            sample = out.curvature_sample(101)
            stride = stride or n // (per_feature * 101)
            assert len(sample) == len(blocks)
            picked = np.concatenate([np.arange(n)[s] for s in sample])
            np.testing.assert_array_equal(
                picked, np.arange((-offset) % stride, n, stride) if stride > 1 else np.arange(n)
            )
            # non-empty only at the first block of each chunk, spanning the whole chunk
            firsts = range(0, len(blocks), be.blocks_per_chunk)
            for k, s in enumerate(sample):
                rows = range(n)[s]
                assert (len(rows) > 0) == (k in firsts)
                if k in firsts:  # the chunk's sample, from its first rows to its last
                    chunk = blocks[k : k + be.blocks_per_chunk]
                    assert rows[0] - chunk[0].start < stride
                    assert chunk[-1].stop - rows[-1] <= stride


def test_stale_rule_clauses():
    """Each clause of the lazy refresh on its own: a tenfold fall of the gradient, a
    truncated step, a step of more than twice the fresh one's iterations (and more than
    STALE_CG)."""
    from skadmm._readout import STALE_CG, STALE_DECREASE, _stale

    fresh = dict(fresh_cg=3, cg_cap=50, g_fresh=1.0)
    assert not _stale(last_cg=3, gmax=0.5, **fresh)
    assert _stale(last_cg=3, gmax=0.99 / STALE_DECREASE, **fresh)
    assert not _stale(last_cg=3, gmax=1.01 / STALE_DECREASE, **fresh)
    assert _stale(last_cg=50, gmax=0.5, fresh_cg=40, cg_cap=50, g_fresh=1.0)
    assert _stale(last_cg=7, gmax=0.5, **fresh) and not _stale(last_cg=6, gmax=0.5, **fresh)
    low = dict(fresh_cg=1, cg_cap=50, g_fresh=1.0, gmax=0.5)
    assert not _stale(last_cg=STALE_CG, **low) and _stale(last_cg=STALE_CG + 1, **low)


def test_breakdown_with_an_earlier_preconditioner_forms_it_again(monkeypatch):
    """When the conjugate gradients return no descent direction at a step whose
    preconditioner was formed earlier, it is formed again at this iterate before the
    preconditioned gradient is taken; the fit still converges."""
    import skadmm._readout as readout

    events, cg, plain = [], readout._conjugate_gradient, readout._preconditioner

    def breaking(hessian_product, grad, solve, rtol, max_iter):
        step, used = cg(hessian_product, grad, solve, rtol, max_iter)
        stale = events[-1] == "evaluated"  # no preconditioner formed for this step
        events.append("cg")
        if stale and "broken" not in events:  # an ascent direction, once
            events.append("broken")
            return np.abs(step) * np.sign(grad), used
        return step, used

    def counted(*args):
        events.append("formed")
        return plain(*args)

    terms = K.log_loss_terms

    def evaluated(*args):  # the objective's evaluations (the line search's trials)
        if events and events[-1] != "evaluated":
            events.append("evaluated")
        return terms(*args)

    monkeypatch.setattr(readout, "_conjugate_gradient", breaking)
    monkeypatch.setattr(readout, "_preconditioner", counted)
    monkeypatch.setattr(K, "log_loss_terms", evaluated)
    F, y = _features()
    Y = _indicators(y, np.unique(y))
    res = _newton(F, Y, None, 1e-3)
    assert res.converged and "broken" in events
    broken = events.index("broken")
    # not formed by the lazy rule for that step (its conjugate gradients followed the
    # last line search), but after the breakdown, before its line search
    assert events[broken - 2 : broken] == ["evaluated", "cg"]
    assert events[broken + 1 : broken + 3] == ["formed", "evaluated"]
    assert events.count("formed") == res.n_preconditioners
