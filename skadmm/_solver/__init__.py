"""The only ADMM / Bregman iteration loop.  Free of scikit-learn.

:func:`admm_fit` runs Algorithm 1 of Taylor et al. (2016), or the default
solver's relaxation search, over the rows a backend gives it and returns an
:class:`ADMMResult`; the estimators turn that into fitted attributes and
warnings.

The package, in the order its imports run (each module imports only from
those below it):

``_fit``
    :func:`admm_fit`: grow the network (``_grown``) or fit it (``_network``).
``_grown``
    :func:`~skadmm._solver._grown._grown_fit`: a deep network grown from one
    hidden layer, in stages (the first layer, layer-wise stages, the full
    network where ``full_stage`` says).
``_network``
    One fit: the state, the update rule, the loop, the output layer.
``_loop``
    The one iteration loop: diagnostics, stopping rules, best iterate.
``_paper``, ``_search``
    The update rules: Algorithm 1 (``variant="paper"``/``"multipliers"``) and
    the relaxation search (``variant="search"``, the default).
``_output``, ``_init``
    The classifiers' log-loss output layer; the initial state.
``_state``, ``_rule``, ``_options``, ``_checks``
    The per-sample state and its two sweeps (forward, and eq. (6)/(7)
    back); what the loop asks of a rule; the settings and the result; sums
    and finiteness checks.

Data flow: solver -> ``backend.map_blocks`` / ``backend.reduce_blocks`` ->
kernels.  The solver owns the per-sample state (``a_l``, ``z_l``,
``lambda``) of its local rows; the kernels are pure and the backends only
place rows and move sums.
"""

from .. import _kernels as K
from ._checks import DivergenceError
from ._fit import admm_fit
from ._grown import _grown_fit
from ._init import gaussian_rows, random_weights
from ._options import SOLVERS, ADMMResult, SolverOptions
from ._search import _proximal_alpha, _search_sweep

__all__ = [
    "SOLVERS",
    "ADMMResult",
    "DivergenceError",
    "SolverOptions",
    "admm_fit",
    "gaussian_rows",
    "random_weights",
]
# also importable from here: the kernels the solver calls (K) and the internals the
# docs and tests name
_REEXPORTED = (K, _grown_fit, _proximal_alpha, _search_sweep)
