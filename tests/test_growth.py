"""Growth of deep networks: identities (skadmm._growth), layer-wise stages, the stages' fit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._activations import ACTIVATIONS
from skadmm._growth import identity_piece, insert_layers
from skadmm._kernels import forward

PIECEWISE = ["relu", "leaky_relu", "hard_tanh", "hard_sigmoid", "identity"]


def shallow_net(rng, n_in, width, n_out):
    W = [rng.normal(size=(n_in, width)), rng.normal(size=(width, n_out))]
    c = [rng.normal(size=width), rng.normal(size=n_out)]
    return W, c


def random_init(rng, sizes):
    return (
        [rng.normal(size=(sizes[i], sizes[i + 1])) for i in range(len(sizes) - 1)],
        [rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)],
    )


def test_identity_piece():
    assert identity_piece(ACTIVATIONS["relu"]) == (1.0, 0.0, 0.0, np.inf)
    # leaky ReLU: of its two unbounded pieces the steeper one
    assert identity_piece(ACTIVATIONS["leaky_relu"])[:3] == (1.0, 0.0, 0.0)
    slope, offset, lo, hi = identity_piece(ACTIVATIONS["hard_tanh"])
    assert (lo, hi) == (-1.0, 1.0)
    assert identity_piece(ACTIVATIONS["tanh"]) is None
    with pytest.raises(ValueError, match="piecewise-linear"):
        insert_layers(
            [np.eye(2)] * 2,
            [np.zeros(2)] * 2,
            [2, 2, 2, 2],
            ACTIVATIONS["tanh"],
            np.zeros(2),
            None,
            np.float64,
        )


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(PIECEWISE),
    width=st.integers(1, 8),
    inserted=st.lists(st.integers(3, 9), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_inserted_layers_compute_the_shallow_function(name, width, inserted, seed):
    """Inserted layers of any width down to the output's: the same function on the rows
    whose minima and output range were given."""
    rng = np.random.default_rng(seed)
    h = ACTIVATIONS[name]
    X = rng.normal(size=(200, 4))
    W, c = shallow_net(rng, 4, width, 3)
    low = h(X @ W[0] + c[0]).min(axis=0)
    f0 = forward(X, W, c, h)
    sizes = [4, width, *inserted, 3]
    out_range = (f0.min(axis=0), f0.max(axis=0))
    W2, c2 = insert_layers(W, c, sizes, h, low, random_init(rng, sizes), np.float64, out_range)
    assert [w.shape for w in W2] == [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    f = forward(X, W2, c2, h)
    scale = max(1.0, np.abs(f0).max())
    np.testing.assert_allclose(f, f0, rtol=0, atol=1e-11 * scale * len(sizes))


def test_layer_narrower_than_the_output_keeps_the_units_the_output_uses():
    """Below the output's width the function is lost; the units of least outgoing
    weight go first, so it is kept when those carry none."""
    rng = np.random.default_rng(0)
    h = ACTIVATIONS["relu"]
    X = rng.normal(size=(100, 4))
    W, c = shallow_net(rng, 4, 6, 5)
    W[1][[1, 4]] = 0.0  # two units the output layer ignores
    sizes = [4, 6, 4, 5]
    W2, c2 = insert_layers(W, c, sizes, h, np.zeros(6), random_init(rng, sizes), np.float64)
    np.testing.assert_allclose(forward(X, W2, c2, h), forward(X, W, c, h), atol=1e-12)
    W[1][[1, 4]] = 1.0
    W2, c2 = insert_layers(W, c, sizes, h, np.zeros(6), random_init(rng, sizes), np.float64)
    assert not np.allclose(forward(X, W2, c2, h), forward(X, W, c, h))


def test_leaky_relu_needs_the_minima():
    """Leaky ReLU's activations reach below its slope-1 piece: the shift uses the minima."""
    rng = np.random.default_rng(1)
    h = ACTIVATIONS["leaky_relu"]
    X = rng.normal(size=(300, 4))
    W, c = shallow_net(rng, 4, 5, 2)
    sizes = [4, 5, 5, 2]
    init = random_init(rng, sizes)
    right = insert_layers(W, c, sizes, h, h(X @ W[0] + c[0]).min(axis=0), init, np.float64)
    wrong = insert_layers(W, c, sizes, h, np.zeros(5), init, np.float64)
    f0 = forward(X, W, c, h)
    np.testing.assert_allclose(forward(X, *right, h), f0, atol=1e-12)
    assert not np.allclose(forward(X, *wrong, h), f0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "hard_tanh"])
def test_stage_two_starts_at_the_shallow_model(higgs_small, activation):
    """With the iteration budget spent in stage 1, the deep model is the shallow one
    with identity layers: the same predictions, and the curves run on."""
    X, y = higgs_small
    kw = dict(max_iter=3, early_stopping=False, random_state=0, activation=activation)
    shallow = ADMMClassifier(hidden_layer_sizes=(16,), **kw).fit(X, y)
    deep = ADMMClassifier(hidden_layer_sizes=(16, 16, 16), **kw).fit(X, y)
    assert shallow.n_iter_ == deep.n_iter_ == 3
    assert [w.shape for w in deep.coefs_] == [(X.shape[1], 16), (16, 16), (16, 16), (16, 1)]
    np.testing.assert_allclose(deep.predict_proba(X), shallow.predict_proba(X), atol=1e-9)
    np.testing.assert_allclose(deep.loss_curve_, shallow.loss_curve_)


@pytest.mark.parametrize("full_stage", [None, "always"])
@pytest.mark.parametrize("Estimator", [ADMMClassifier, ADMMRegressor])
def test_deep_fit_continues_the_shallow_one(higgs_small, monkeypatch, Estimator, full_stage):
    """Stage 1 is the shallow fit's own iteration (the same validation scores: for the
    binary classifier its output read as logits, as the shallow fit scores it), and the
    deep model's validation score never falls below the shallow one's best.  With a
    validation split the default (None: full_stage="without-split") ends with the
    layer-wise stage; "always" goes on with the full network's stage."""
    import skadmm._base as base
    from skadmm._solver import SolverOptions

    X, y = higgs_small
    y = y if Estimator is ADMMClassifier else y.astype(float)
    kw = dict(early_stopping=True, random_state=0, max_iter=60)
    shallow = Estimator(hidden_layer_sizes=(16,), **kw).fit(X, y)
    if full_stage is not None:
        options = lambda **o: SolverOptions(**{**o, "full_stage": full_stage})  # noqa: E731
        monkeypatch.setattr(base, "SolverOptions", options)
    deep = Estimator(hidden_layer_sizes=(16, 16), **kw).fit(X, y)
    n1 = len(shallow.validation_scores_)
    assert deep.n_iter_ > n1
    np.testing.assert_array_equal(deep.validation_scores_[:n1], shallow.validation_scores_)
    assert max(deep.validation_scores_) >= max(shallow.validation_scores_)
    # per-layer curves: stage 1 has no entry for the second layer, the layer-wise
    # stage none for the first (fixed below it), the full network's stage all
    r = deep.constraint_residuals_
    assert np.isnan(r[:n1, 1]).all() and np.isfinite(r[:n1, [0, 2]]).all()
    layerwise = np.isnan(r[n1:, 0])
    n2 = n1 + int(layerwise.sum())
    assert n2 > n1 and layerwise[: n2 - n1].all()  # one run of rows, right after stage 1
    assert np.isfinite(r[n1:n2, 1:]).all()
    assert np.isnan(deep.relaxation_factors_[n1:n2, 0]).all()
    assert np.isnan(deep.activation_residuals_[n1:n2, 0]).all()
    if full_stage is None:
        assert n2 == deep.n_iter_  # no full-network iteration
    else:
        assert n2 < deep.n_iter_ and np.isfinite(r[n2:]).all()


def _fit(X, Y, hidden, options, validation=None, stage=None, seed=0):
    from skadmm._solver import admm_fit
    from skadmm._solver._network import Stage, fit_network
    from skadmm.backends import get_backend

    backend = get_backend("serial", None)
    kw = dict(
        hidden_layer_sizes=hidden,
        activation=ACTIVATIONS["relu"],
        loss="squared",
        options=options,
        backend=backend,
        seed=seed,
        validation=validation,
    )
    with backend:
        if stage is None:
            return admm_fit(X, Y, **kw)
        return fit_network(X, Y, stage=Stage(**stage), **kw)


def test_a_layerwise_stage_is_the_one_layer_fit_on_standardised_features(higgs_small):
    """A layer-wise stage on the fixed layers ``lower`` is the one-hidden-layer fit on
    their features of ``X`` standardised with the weighted training statistics (``X``
    itself is not modified); its model is the
    whole network, the standardisation folded into its first layer (:func:`stacked`)."""
    from skadmm._solver import SolverOptions
    from skadmm._solver._network import stacked

    X, y = higgs_small
    Y = y.astype(float)[:, None]
    rng = np.random.default_rng(0)
    lower = ([rng.normal(size=(X.shape[1], 12))], [rng.normal(size=12)])
    lower[1][0][3] = -1e3  # a unit that never fires keeps the scale 1
    F = np.maximum(X @ lower[0][0] + lower[1][0], 0.0)
    assert not F[:, 3].any()
    opts = SolverOptions(variant="search", init="forward", max_iter=4, tol=0)
    X0 = X.copy()
    staged = _fit(X, Y, [6], opts, stage=dict(lower=lower, final=False))
    mean, sd = F.mean(axis=0), F.std(axis=0)
    sd[3] = 1.0
    own = _fit((F - mean) / sd, Y, [6], opts, stage=dict(final=False))
    want_W, want_c = stacked(lower, mean, sd, own.coefs, own.intercepts)
    assert len(staged.coefs) == 3
    for got, want in zip(staged.coefs + staged.intercepts, want_W + want_c):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(staged.loss_curve, own.loss_curve, rtol=1e-9)
    # the folded network computes the stage's function on the raw rows
    f = forward(X, staged.coefs, staged.intercepts, ACTIVATIONS["relu"])
    g = forward((F - mean) / sd, own.coefs, own.intercepts, ACTIVATIONS["relu"])
    np.testing.assert_allclose(f, g, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(X, X0)


def test_layerwise_stages_need_a_validation_split(higgs_small):
    """Without held-out rows to judge them, the layers above the first start as
    identities (the full network's stage follows stage 1 directly); with them, a
    layer-wise stage per further layer runs between the two."""
    X, y = higgs_small
    kw = dict(hidden_layer_sizes=(12, 12, 12), random_state=0, max_iter=40)
    plain = ADMMRegressor(early_stopping=False, **kw).fit(X, y.astype(float))
    f = plain.relaxation_factors_
    n1 = int(np.isnan(f[:, 1]).sum())
    assert n1 > 0 and np.isnan(f[:n1, 1:]).all() and np.isfinite(f[n1:]).all()
    held = ADMMRegressor(early_stopping=True, **kw).fit(X, y.astype(float))
    f = held.relaxation_factors_
    only = [tuple(np.flatnonzero(np.isfinite(row))) for row in f]
    assert (0,) in only and (1,) in only  # stage 1, then layer 2's own stage
    first = {k: only.index(k) for k in set(only)}
    assert first[(0,)] < first[(1,)] < first.get((2,), np.inf)


def test_a_callback_stop_in_stage_one_ends_the_fit(higgs_small):
    X, y = higgs_small
    seen = []

    def stop_at_3(it, info):
        seen.append(it)
        return it == 3

    clf = ADMMClassifier(hidden_layer_sizes=(8, 8), callback=stop_at_3, random_state=0)
    clf.fit(X, y)
    assert seen == [1, 2, 3] and clf.n_iter_ == 3
    assert [w.shape[1] for w in clf.coefs_] == [8, 8, 1]
    assert "callback" in clf.stop_reason_


def test_growth_is_the_default_of_the_default_solver_only(higgs_small):
    """solver="paper" stays Algorithm 1 (no stage 1), and a warm start does not grow."""
    X, y = higgs_small
    paper = ADMMClassifier(hidden_layer_sizes=(8, 8), solver="paper", max_iter=5).fit(X, y)
    assert paper.n_iter_ == 5 and np.isfinite(paper.constraint_residuals_).all()
    clf = ADMMClassifier(hidden_layer_sizes=(8, 8), max_iter=5, early_stopping=False).fit(X, y)
    clf.set_params(warm_start=True, max_iter=3).fit(X, y)
    assert clf.n_iter_ == 3 and np.isfinite(clf.constraint_residuals_).all()
    # a smooth activation has no exact identity: its deep nets start from the random pass
    tanh = ADMMClassifier(hidden_layer_sizes=(8, 8), activation="tanh", max_iter=3)
    tanh.set_params(early_stopping=False).fit(X, y)
    assert tanh.n_iter_ == 3 and np.isfinite(tanh.constraint_residuals_).all()


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "hard_tanh"])
@pytest.mark.parametrize("widths", [(10, 8, 12), (10, 8, 4)])
def test_identities_on_a_stack_of_two_layers_keep_its_function(higgs_small, activation, widths):
    """When the layer-wise stages stop below the full depth, the missing layers are
    inserted as identities on a stack of several layers (wider or narrower than the
    last one, with leaky ReLU's per-unit shift): the grown network computes the stack's
    function on the training rows."""
    from skadmm._solver._grown import _unit_ranges
    from skadmm._solver._init import random_weights
    from skadmm.backends import get_backend

    X, _ = higgs_small
    rng = np.random.default_rng(1)
    h = ACTIVATIONS[activation]
    sizes = [X.shape[1], *widths, 2]
    stack = (
        [rng.normal(size=(X.shape[1], widths[0])) / 5, rng.normal(size=widths[:2]) / 3],
        [rng.normal(size=widths[0]) / 5, rng.normal(size=widths[1]) / 3],
    )
    stack[0].append(rng.normal(size=(widths[1], 2)))
    stack[1].append(rng.normal(size=2))
    backend = get_backend("serial", None)
    with backend:
        low, out_range = _unit_ranges(X, stack, sizes, h, backend)
    assert low.shape == (widths[1],)
    assert out_range is not None or widths[2] >= widths[1]  # a narrower layer needs it
    grown = insert_layers(
        *stack, sizes, h, low, random_weights(0, sizes, X.dtype), X.dtype, out_range
    )
    assert [w.shape for w in grown[0]] == list(zip(sizes[:-1], sizes[1:]))
    np.testing.assert_allclose(forward(X, *grown, h), forward(X, *stack, h), rtol=1e-9, atol=1e-9)


def test_a_callback_stop_in_a_layerwise_stage_returns_the_full_network(higgs_small):
    X, y = higgs_small
    kw = dict(hidden_layer_sizes=(12, 8, 6), early_stopping=True, random_state=0, max_iter=40)
    free = ADMMClassifier(**kw).fit(X, y)
    n1 = int(np.isnan(free.relaxation_factors_[:, 1]).sum())  # stage 1's iterations
    assert np.isnan(free.relaxation_factors_[n1 + 1, 0])  # iteration n1 + 2: layer-wise
    stop = ADMMClassifier(callback=lambda it, info: it == n1 + 2, **kw).fit(X, y)
    assert stop.n_iter_ == n1 + 2 and "callback" in stop.stop_reason_
    assert [w.shape[1] for w in stop.coefs_] == [12, 8, 6, 1]
    np.testing.assert_array_equal(stop.validation_scores_, free.validation_scores_[: n1 + 2])
    assert np.all(np.isfinite(stop.predict_proba(X)))


def _fit_with_full_stage(monkeypatch, value, data, **kw):
    """An ADMMClassifier fitted with SolverOptions(full_stage=value) and the stages'
    (Stage, result) pairs (value None: the estimator's own options)."""
    import skadmm._base as base
    import skadmm._solver._grown as grown
    from skadmm._solver import SolverOptions

    stages = []
    original = grown.fit_network

    def spy(*args, **kwargs):
        res = original(*args, **kwargs)
        stages.append((kwargs["stage"], res))
        return res

    with monkeypatch.context() as m:
        m.setattr(grown, "fit_network", spy)
        if value is not None:
            m.setattr(
                base, "SolverOptions", lambda **o: SolverOptions(**{**o, "full_stage": value})
            )
        return ADMMClassifier(**kw).fit(*data), stages


@pytest.mark.parametrize("value", ["unless-identities", "without-split"])
def test_the_full_stage_option_returns_the_grown_start(higgs_small, monkeypatch, value):
    """SolverOptions(full_stage=...): where the full network's stage does not run
    ("unless-identities": the held-out rows rejected the first layer-wise stage;
    "without-split": always, with a validation split), the model is the grown start
    (stage 1's network with the second layer an identity on its features when the
    layer-wise stage was rejected, the layer-wise stack when it was kept), its output
    layer fitted, and n_iter and the stop reason are the layer-wise stage's (no
    ConvergenceWarning).  Where it runs, the fit is bitwise the "always" one."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    relu = ACTIVATIONS["relu"]
    seen, switched = {"rejected": 0, "kept": 0}, 0
    for seed in range(4):
        kw = dict(hidden_layer_sizes=(12, 12), random_state=seed)
        always, stages = _fit_with_full_stage(monkeypatch, "always", higgs_small, **kw)
        (s1, r1), (s2, r2), (s3, r3) = stages
        rejected = len(r2.coefs) != 3  # the layer-wise stage returned stage 1's network
        seen["rejected" if rejected else "kept"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            clf, _ = _fit_with_full_stage(monkeypatch, value, higgs_small, **kw)
        if not rejected and value == "unless-identities":
            for a, b in zip(clf.coefs_ + clf.intercepts_, always.coefs_ + always.intercepts_):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(clf.validation_scores_, always.validation_scores_)
            assert clf.n_iter_ == always.n_iter_ and clf.stop_reason_ == always.stop_reason_
            continue
        X = higgs_small[0]
        assert clf.readout_n_iter_ > 0  # the output layer was fitted
        assert clf.n_iter_ == r2.n_iter < always.n_iter_
        assert len(clf.validation_scores_) == clf.n_iter_
        assert clf.stop_reason_ == r2.message and clf.converged_ == r2.converged
        # the hidden targets' switch is the layer-wise stage's (it ran the last iteration)
        assert clf.squared_targets_from_ == r2.squared_targets_from
        switched += r2.squared_targets_from is not None
        # no row of the per-layer curves has both hidden layers: no full-network iteration
        assert not np.isfinite(clf.relaxation_factors_).all(axis=1).any()
        if rejected:
            a1 = relu(X @ clf.coefs_[0] + clf.intercepts_[0])
            out = relu(a1 @ clf.coefs_[1] + clf.intercepts_[1])
            np.testing.assert_allclose(out, a1, atol=1e-12)
            np.testing.assert_array_equal(clf.coefs_[0], r1.coefs[0])
        else:  # the layer-wise stack
            for k in (0, 1):
                np.testing.assert_array_equal(clf.coefs_[k], r2.coefs[k])
                np.testing.assert_array_equal(clf.intercepts_[k], r2.intercepts[k])
    assert seen["rejected"] > 0 and seen["kept"] > 0 and switched > 0


def test_the_default_full_stage_runs_only_without_a_split(higgs_small, monkeypatch):
    """The estimators' default is full_stage="without-split": with a validation split a
    deep fit is the "without-split" one (bitwise) and runs no full-network iteration;
    without one (early_stopping=False) it is the "always" one and does."""
    from skadmm._solver import SolverOptions

    assert SolverOptions().full_stage == "without-split"
    with pytest.raises(ValueError, match="full_stage"):
        SolverOptions(full_stage="never")
    kw = dict(hidden_layer_sizes=(12, 12), random_state=0)
    split, _ = _fit_with_full_stage(monkeypatch, None, higgs_small, **kw)
    other, _ = _fit_with_full_stage(monkeypatch, "without-split", higgs_small, **kw)
    np.testing.assert_array_equal(split.coefs_[1], other.coefs_[1])
    assert not np.isfinite(split.relaxation_factors_).all(axis=1).any()
    kw["early_stopping"] = False
    free, stages = _fit_with_full_stage(monkeypatch, None, higgs_small, **kw)
    always, _ = _fit_with_full_stage(monkeypatch, "always", higgs_small, **kw)
    assert len(stages) == 2  # stage 1 and the full network (no layer-wise stage)
    assert free.n_iter_ == always.n_iter_ > stages[0][1].n_iter  # the full stage iterated
    for a, b in zip(free.coefs_ + free.intercepts_, always.coefs_ + always.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(free.relaxation_factors_).all(axis=1).sum() > 0


def test_without_layerwise_stages_the_full_stage_runs_with_a_split(higgs_small, monkeypatch):
    """full_stage="without-split" skips the full network only where layer-wise stages were
    judged: with SolverOptions(layerwise=False) and a validation split the layers above
    the first start as identities and the full network's stage iterates."""
    import skadmm._base as base
    from skadmm._solver import SolverOptions

    options = lambda **o: SolverOptions(**{**o, "layerwise": False})  # noqa: E731
    monkeypatch.setattr(base, "SolverOptions", options)
    clf = ADMMClassifier(hidden_layer_sizes=(12, 12), random_state=0).fit(*higgs_small)
    assert clf.validation_scores_ is not None  # a split
    full = np.isfinite(clf.relaxation_factors_).all(axis=1)
    assert full.sum() > 0 and full[-1]


def test_layerwise_stages_take_the_squared_targets_from_their_start(higgs_small, monkeypatch):
    """SolverOptions.layerwise_targets="squared" (the default): a layer-wise stage has one
    phase, its hidden targets from the squared output update from its first iteration
    (squared_targets_from_ is that iteration); with None it runs the fit's own two phases,
    hinge targets first, and the fit is another one."""
    import skadmm._base as base
    from skadmm._solver import SolverOptions

    with pytest.raises(ValueError, match="layerwise_targets"):
        SolverOptions(layerwise_targets="hinge")
    kw = dict(hidden_layer_sizes=(12, 12), random_state=0)
    clf, stages = _fit_with_full_stage(monkeypatch, None, higgs_small, **kw)
    (s1, r1), (s2, r2), _ = stages
    assert r2.n_iter > r1.n_iter and clf.squared_targets_from_ == r1.n_iter + 1
    options = lambda **o: SolverOptions(**{**o, "layerwise_targets": None})  # noqa: E731
    with monkeypatch.context() as m:
        m.setattr(base, "SolverOptions", options)
        both = ADMMClassifier(**kw).fit(*higgs_small)
    assert both.squared_targets_from_ is None or both.squared_targets_from_ > r1.n_iter + 1
    assert both.n_iter_ != clf.n_iter_ or not np.array_equal(both.coefs_[1], clf.coefs_[1])
