"""Real data: the paper's HIGGS experiment (section 7.2) on the shared sample."""

import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def higgs_split():
    try:
        return load_dataset("higgs")  # fixed 80/20 split, stratified, random_state=0
    except FileNotFoundError as exc:  # pragma: no cover - data folder missing
        pytest.skip(str(exc))


@pytest.mark.parametrize("solver", ["paper", "admm"])
def test_paper_settings_reach_the_papers_64_percent(higgs_split, solver):
    """Paper settings: 300 ReLU units, gamma=10, beta=1, 10 warm-start iterations."""
    X_train, X_test, y_train, y_test = higgs_split
    clf = make_pipeline(
        StandardScaler(),
        ADMMClassifier(
            hidden_layer_sizes=(300,),
            solver=solver,
            gamma=10.0,
            beta=1.0,
            n_warmup_iter=10,
            max_iter=30,
            early_stopping=False,  # the paper trains on every row
            random_state=0,
        ),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(f"\nHIGGS solver={solver}: test accuracy {accuracy:.4f} in {elapsed:.1f} s")
    assert accuracy >= 0.64


def test_default_solver_matches_backprop_on_higgs(higgs_split):
    """Issue 6's target on HIGGS: the default ADMMClassifier is within one point of
    MLPClassifier(early_stopping=True) with the same hidden layer, mean over seeds 0-2
    (benchmarks/results/accuracy.md: 0.6844 and 0.6890, gap -0.0046; one seed alone
    moves by up to half a point)."""
    from sklearn.neural_network import MLPClassifier

    X_train, X_test, y_train, y_test = higgs_split
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    gaps = []
    for seed in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            admm = ADMMClassifier(random_state=seed).fit(X_train, y_train)
            mlp = MLPClassifier(early_stopping=True, random_state=seed).fit(X_train, y_train)
        assert admm.do_early_stopping_  # 16,777 rows: "auto" turns it on
        gaps.append(admm.score(X_test, y_test) - mlp.score(X_test, y_test))
    print(f"\nHIGGS default ADMM minus MLP(early stopping), seeds 0-2: {np.round(gaps, 4)}")
    assert np.mean(gaps) >= -0.01
