"""scikit-learn's callback API (SLEP023, ``sklearn.callback``) on the ADMM estimators."""

import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm.datasets import load_dataset, load_higgs

callback = pytest.importorskip("sklearn.callback")
ScoringMonitor, ProgressBar = callback.ScoringMonitor, callback.ProgressBar

SMALL = dict(hidden_layer_sizes=(8,), max_iter=6, random_state=0)


@pytest.fixture(scope="module")
def higgs():
    X, y = load_higgs(return_X_y=True)
    return StandardScaler().fit_transform(X[:1500]), y[:1500]


@pytest.fixture(scope="module")
def housing():
    X, _, y, _ = load_dataset("california_housing")
    X = StandardScaler().fit_transform(X)[:1500]
    return X, ((y - y.mean()) / y.std())[:1500]


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def _rows(monitor, task_name):
    return [row for row in monitor.get_logs().data if row["task_name"] == task_name]


class Recorder:
    """Records every hook call; keeps each iteration's ``fitted_estimator``."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.events, self.fitted, self.estimator_fitted = [], [], []

    def setup(self, estimator, context):
        self.events.append("setup")

    def teardown(self, estimator, context):
        self.events.append("teardown")

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name == "iteration":
            self.fitted.append(fitted_estimator)
            self.estimator_fitted.append(hasattr(estimator, "coefs_"))
            return self.stop_at is not None and context.task_id + 1 == self.stop_at
        return False


# ---- one entry per iteration; the model at each iteration ------------------------
@pytest.mark.parametrize(
    "Est, data, scoring",
    [(ADMMClassifier, "higgs", "accuracy"), (ADMMRegressor, "housing", "r2")],
)
def test_scoring_monitor_logs_one_entry_per_iteration(Est, data, scoring, request):
    X, y = request.getfixturevalue(data)
    monitor = ScoringMonitor(scoring=scoring)
    est = _fit(Est(**SMALL).set_callbacks(monitor), X, y)
    iterations = _rows(monitor, "iteration")
    assert len(iterations) == est.n_iter_ > 1
    assert [row["task_id"] for row in iterations] == list(range(est.n_iter_))
    assert all(np.isfinite(row[scoring]) for row in iterations)
    # the root task's entry is the fitted model's score
    (root,) = _rows(monitor, "fit")
    assert root[scoring] == pytest.approx(est.score(X, y))


def test_fitted_estimator_predicts_with_each_iterations_weights(higgs):
    X, y = higgs
    weights = []

    def legacy(iteration, info):
        weights.append([w.copy() for w in info["coefs"]])

    rec, monitor = Recorder(), ScoringMonitor(scoring="accuracy")
    clf = _fit(ADMMClassifier(**SMALL, callback=legacy).set_callbacks(rec, monitor), X, y)
    scores = [row["accuracy"] for row in _rows(monitor, "iteration")]
    assert len(rec.fitted) == len(weights) == len(scores) == clf.n_iter_
    # the estimator being fitted gets its fitted attributes only at the end
    assert not any(rec.estimator_fitted)
    for k, (fitted, w, score) in enumerate(zip(rec.fitted, weights, scores)):
        assert fitted is not clf and fitted.n_iter_ == k + 1
        for a, b in zip(fitted.coefs_, w):
            np.testing.assert_array_equal(a, b)
        assert accuracy_score(y, fitted.predict(X)) == pytest.approx(score)
    # the iterations moved the model, and the fitted attributes are the fit's result
    # (output layer refitted on the hidden features), not the last iteration's copy
    assert len(set(scores)) > 1
    assert clf.readout_n_iter_ > 0
    # the hidden layers are those of the iterate early stopping kept (the last without it)
    kept = int(np.argmax(clf.validation_scores_)) if clf.do_early_stopping_ else -1
    np.testing.assert_array_equal(clf.coefs_[0], rec.fitted[kept].coefs_[0])
    assert not np.array_equal(clf.coefs_[-1], rec.fitted[kept].coefs_[-1])


def test_task_tree_and_lifecycle(higgs):
    X, y = higgs
    rec = Recorder()
    clf = _fit(ADMMClassifier(**SMALL).set_callbacks(rec), X, y)
    n = clf.n_iter_
    iterations = [e for e in rec.events if e[1:2] == ("iteration",)]
    assert iterations == [(kind, "iteration", k) for k in range(n) for kind in ("begin", "end")]
    assert rec.events[:2] == ["setup", ("begin", "fit", 0)]
    assert rec.events[-3:] == [("end", "readout", n), ("end", "fit", 0), "teardown"]
    assert not hasattr(clf, "_callback_fit_ctx")


def test_failed_fit_tears_callbacks_down_and_keeps_the_model(higgs):
    X, y = higgs
    rec = Recorder()
    clf = _fit(ADMMClassifier(**SMALL).set_callbacks(rec), X, y)
    coefs = [w.copy() for w in clf.coefs_]
    rec.events.clear()
    with pytest.raises(ValueError):
        clf.fit(X, y[:10])  # a bad input: nothing changes
    assert rec.events == ["setup", "teardown"]
    assert not hasattr(clf, "_callback_fit_ctx") and clf._skl_callbacks == [rec]
    for a, b in zip(clf.coefs_, coefs):
        np.testing.assert_array_equal(a, b)


# ---- stopping -------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["admm", "paper"])
def test_stopping_callback_ends_the_fit_at_the_iteration_it_names(higgs, solver):
    X, y = higgs
    rec = Recorder(stop_at=3)
    params = {**SMALL, "max_iter": 20, "early_stopping": False, "solver": solver}
    clf = ADMMClassifier(**params).set_callbacks(rec).fit(X, y)
    assert clf.n_iter_ == 3 and len(rec.fitted) == 3 and len(clf.loss_curve_) == 3
    assert clf.converged_ and "callback" in clf.stop_reason_
    last = rec.fitted[-1]
    # the hidden layers are those of the last complete iteration (every classifier's
    # output layer is then fitted to the log-loss on their features)
    for a, b in zip(clf.coefs_[:-1], last.coefs_[:-1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(clf.coefs_[-1], last.coefs_[-1])


# ---- meta-estimators ----------------------------------------------------------------
def test_scoring_monitor_on_admm_in_a_pipeline_in_a_grid_search(higgs):
    X, y = higgs
    monitor = ScoringMonitor(scoring="accuracy")
    pipe = make_pipeline(StandardScaler(), ADMMClassifier(**SMALL).set_callbacks(monitor))
    grid = GridSearchCV(pipe, {"admmclassifier__beta": [0.5, 1.0]}, cv=2)
    _fit(grid, X, y)
    log = monitor.get_logs()
    assert log.estimator_name == "GridSearchCV"
    iterations = [row for row in log.data if row["task_name"] == "iteration"]
    fits = [row for row in log.data if row["estimator_name"] == "ADMMClassifier"]
    # 2 candidates x 2 folds + the refit, each with its iterations
    roots = {row["parent_task_id_path"] for row in iterations}
    assert len(roots) == 5 and all(np.isfinite(row["accuracy"]) for row in iterations)
    assert len(fits) > len(iterations)
    n_refit = grid.best_estimator_[-1].n_iter_
    refit_root = max(roots)
    assert sum(row["parent_task_id_path"] == refit_root for row in iterations) == n_refit


def test_scoring_monitor_reports_from_joblib_worker_processes(higgs):
    # the unfitted clones travel pickled with their callbacks (fitted models drop them)
    X, y = higgs
    monitor = ScoringMonitor(scoring="accuracy")
    pipe = make_pipeline(StandardScaler(), ADMMClassifier(**SMALL).set_callbacks(monitor))
    grid = GridSearchCV(pipe, {"admmclassifier__beta": [0.5, 1.0]}, cv=2, n_jobs=2)
    _fit(grid, X, y)
    iterations = [row for row in monitor.get_logs().data if row["task_name"] == "iteration"]
    assert len({row["parent_task_id_path"] for row in iterations}) == 5


def test_progress_bar_on_grid_search_over_a_pipeline_reaches_admm(higgs, capsys):
    pytest.importorskip("rich")
    X, y = higgs
    pipe = make_pipeline(StandardScaler(), ADMMClassifier(**SMALL))
    grid = GridSearchCV(pipe, {"admmclassifier__beta": [0.5, 1.0]}, cv=2)
    grid.set_callbacks(ProgressBar(max_propagation_depth=None))
    _fit(grid, X, y)
    out = capsys.readouterr().out
    assert "GridSearchCV - fit" in out
    assert "ADMMClassifier - fit" in out
    assert "100%" in out
    assert not hasattr(grid.best_estimator_[-1], "_skl_callbacks")


def test_progress_bar_on_the_estimator(higgs, capsys):
    pytest.importorskip("rich")
    X, y = higgs
    _fit(ADMMRegressor(**SMALL).set_callbacks(ProgressBar()), X, y)
    out = capsys.readouterr().out
    assert "ADMMRegressor - fit" in out and "100%" in out


# ---- the legacy callback= and pickling ---------------------------------------
def test_legacy_callback_and_set_callbacks_together(higgs):
    X, y = higgs
    seen = []
    monitor = ScoringMonitor(scoring="accuracy")
    clf = ADMMClassifier(**{**SMALL, "max_iter": 20}, callback=lambda it, info: seen.append(it))
    clf.set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # callback= is not deprecated
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert (
        seen
        == list(range(1, clf.n_iter_ + 1))
        == [row["task_id"] + 1 for row in _rows(monitor, "iteration")]
    )
    # the legacy callback's stop request still stops the fit
    clf.set_params(callback=lambda it, info: it == 2).fit(X, y)
    assert clf.n_iter_ == 2 and len(_rows(monitor, "iteration")) == 2


def test_pickling_a_fitted_estimator_drops_its_callbacks(higgs):
    X, y = higgs
    monitor = ScoringMonitor(scoring="accuracy")
    clf = _fit(ADMMClassifier(**SMALL).set_callbacks(monitor, Recorder()), X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert not hasattr(restored, "_skl_callbacks")
    assert len(clf._skl_callbacks) == 2  # the original keeps them
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    # an unfitted estimator keeps them (joblib workers of a grid search report back)
    unfitted = pickle.loads(pickle.dumps(clone(clf)))
    assert [type(cb) for cb in unfitted._skl_callbacks] == [ScoringMonitor, Recorder]
    # the restored model refits and reports through new callbacks
    other = ScoringMonitor(scoring="accuracy")
    restored = _fit(restored.set_callbacks(other), X, y)
    assert len(_rows(other, "iteration")) == restored.n_iter_


# ---- scikit-learn without sklearn.callback (before 1.9) ---------------------------
def test_without_sklearn_callback_everything_else_works():
    code = textwrap.dedent(
        """
        import sys, warnings
        import sklearn.base, sklearn.model_selection, sklearn.callback._callback_support
        sys.modules["sklearn.callback"] = None   # as in scikit-learn < 1.9
        for name in [m for m in sys.modules if m.startswith("skadmm")]:
            del sys.modules[name]
        import skadmm._compat
        from skadmm import ADMMClassifier
        from skadmm.datasets import load_higgs
        assert not skadmm._compat.HAS_CALLBACKS
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                             callback=lambda it, info: None)
        assert not hasattr(clf, "set_callbacks")
        X, y = load_higgs(return_X_y=True)
        warnings.simplefilter("ignore")
        clf.fit(X[:500], y[:500])
        assert clf.n_iter_ == 3 and clf.predict(X[:5]).shape == (5,)
        import pickle; pickle.loads(pickle.dumps(clf.set_params(callback=None)))
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
