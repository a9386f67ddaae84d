"""skadmm: neural networks trained without gradients, by ADMM, behind scikit-learn's API.

Taylor et al., "Training Neural Networks Without Gradients: A Scalable ADMM
Approach", ICML 2016.  This module never imports mpi4py (that would start
MPI); ``backend="mpi"`` imports it inside ``fit``.
"""

from ._config import config_context, get_config
from ._estimators import ADMMClassifier, ADMMRegressor
from ._solver import DivergenceError
from .backends import RankFailedError

__version__ = "0.1.0"

__all__ = [
    "ADMMClassifier",
    "ADMMRegressor",
    "DivergenceError",
    "RankFailedError",
    "__version__",
    "config_context",
    "get_config",
]
