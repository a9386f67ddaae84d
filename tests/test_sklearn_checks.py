"""scikit-learn's estimator contract, through parametrize_with_checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skadmm import ADMMClassifier, ADMMRegressor

#: Checks that ADMM cannot pass by design, each with its reason.
_WEIGHTS = (
    "A sample weight scales every term of its sample's objective, which enters only the "
    "weight update's sums (exactly as a repeated row would there), but each repeated row "
    "also gets its own random initial state and its own per-sample iterates, so the "
    "iterates differ from the weighted fit's; the two agree only at convergence of a "
    "convex (linear) model, which tests/test_estimators.py checks."
)
EXPECTED_FAILURES = {
    name: {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHTS,
    }
    for name in ("ADMMClassifier", "ADMMRegressor")
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [ADMMClassifier(random_state=0), ADMMRegressor(random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
