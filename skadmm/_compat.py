"""The one place that imports scikit-learn's semi-private helpers.

``sklearn.callback`` (SLEP023) exists from scikit-learn 1.9 on; on older
versions :class:`CallbackSupportMixin` is an empty base, so the estimators
have no ``set_callbacks`` and everything else works as before.
"""

from sklearn.base import _fit_context
from sklearn.metrics._scorer import _BaseScorer
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import _check_sample_weight, validate_data

try:
    from sklearn.callback import CallbackSupportMixin, ProgressBar, ScoringMonitor
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:
        """Stand-in for ``sklearn.callback.CallbackSupportMixin`` (scikit-learn < 1.9)."""

    ProgressBar = ScoringMonitor = None

HAS_CALLBACKS = ProgressBar is not None

__all__ = [
    "HAS_CALLBACKS",
    "CallbackSupportMixin",
    "Interval",
    "InvalidParameterError",
    "ProgressBar",
    "ScoringMonitor",
    "StrOptions",
    "_BaseScorer",
    "_check_sample_weight",
    "_fit_context",
    "validate_data",
]
