"""The solver's settings (:class:`SolverOptions`) and what it returns (:class:`ADMMResult`)."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ADMMResult", "SOLVERS", "SolverOptions"]

#: ``SolverOptions.full_stage``'s values (see its docstring)
FULL_STAGES = ("always", "unless-identities", "without-split")

#: ``SolverOptions.search_targets``'s values (see its docstring)
SEARCH_TARGETS = ("loss", "squared", "then-squared")

#: ``SolverOptions.local_targets``'s values (see its docstring)
LOCAL_TARGETS = ("never", "always", "after-rejection")

#: ``SolverOptions.readout_products``'s values (see its docstring)
READOUT_PRODUCTS = ("float32", "data")

#: The estimators' public ``solver`` names and the :class:`SolverOptions` each one sets
#: (the rest come from the estimator's parameters).
SOLVERS = {
    "paper": {"variant": "paper", "init": "gaussian", "readout_iter": 0},
    "plain": {"variant": "multipliers", "init": "forward", "readout_iter": 50},
    "admm": {"variant": "search", "init": "forward", "readout_iter": 50},
}


@dataclass(frozen=True)
class SolverOptions:
    """Settings of the iteration (see the estimators for their meaning).

    ``variant`` selects the update rules:

    ``"paper"``
        Algorithm 1 exactly: ``W_L <- z_L a_{L-1}^+`` ignores the multiplier
        and the multiplier step is ``beta`` (eq. (8)).
    ``"multipliers"``
        Differs in the output layer only: the weight update minimises the
        augmented Lagrangian including ``<lambda, z_L - W_L a_{L-1}>`` (the
        target becomes ``z_L + lambda / (2 beta)``) and the multiplier step
        is ``2 beta``, the method-of-multipliers step for the penalty
        ``beta ||.||^2``.  Its fixed points satisfy the optimality
        conditions of the training problem's output layer exactly (with no
        hidden layer and the squared loss it converges to ``Ridge``).

    ``"search"``
        :func:`~skadmm._solver._search._search_sweep`: Algorithm 1's
        closed-form sub-steps give each hidden layer a weight update; the
        solver applies it with a
        relaxation factor chosen among ``relaxation_start`` times powers of
        ``relaxation_factors`` (and ``0``) by the exact objective of the
        network with its output layer refitted (variable projection), plus
        ``momentum`` times the layer's previous update (heavy ball).  For
        the hinge loss the hidden targets switch to the squared output
        update once the search slows down (``search_targets``).

    ``init``: ``"gaussian"`` (paper section 6: unit Gaussian ``z``, zero
    weights), ``"forward"`` (a forward pass of :func:`~skadmm._solver.random_weights` with
    spread hidden biases) or ``"glorot"`` (the same with plain Glorot
    biases).  ``sweep``: ``"forward"`` (Algorithm 1's layer order) or
    ``"backward"`` (:class:`~skadmm._solver._paper.BackwardSweep`).  ``readout_iter``:
    iterations of the final output-layer refit (:func:`~skadmm._solver._network._refit_readout`),
    0 for none.  ``relaxation_*``: the candidates (``relaxation_start``
    times ``relaxation_factors``, the factor kept from one iteration to the
    next and multiplied by ``relaxation_shrink`` after a rejection) and the
    stopping rule of the ``"search"`` variant: a *phase* of the search ends
    after ``relaxation_patience`` iterations in a row that lower the
    objective by no more than ``slow_tol`` (a rejection lowers it by 0; the
    estimators' ``search_tol``, one value for every problem:
    ``benchmarks/results/search_rule.md``; ``None``: the search never ends a
    phase itself), relative to what ``slow_reference`` names (see
    :func:`~skadmm._solver._search._relative_decrease`): ``"objective"``
    (the objective before the iteration) or ``"progress"`` (the phase's
    decrease so far, the estimators' choice with a validation split).
    ``search_targets``: ``"loss"`` (the hidden layers' targets start from
    the output update of the fit's loss; one phase), ``"squared"``
    (from the squared loss the search minimises; one phase) or
    ``"then-squared"`` (the first until its phase ends or the stopping
    rule's patience runs out, then the second; see :func:`~skadmm._solver._search._switch_targets`;
    for the squared loss it is ``"loss"``); ``momentum``: weight of each hidden layer's
    previous accepted update in its candidates (heavy ball,
    :func:`~skadmm._kernels.relaxed_step`; 0 for none); ``refresh_steps``:
    solve each hidden layer's step again on its new inputs once a layer
    below it has moved (one more reduction per such layer); ``step_damping``:
    proximal term on each hidden layer's step, relative to its inputs' mean
    square (:func:`~skadmm._solver._search._proximal_alpha`; one value for every problem, chosen
    with ``slow_tol``).  ``readout``: how the returned
    output layer is fitted: ``"admm"`` (``readout_iter`` iterations of the
    same ADMM on the output layer alone, :func:`~skadmm._solver._network._refit_readout`, for the
    fit's loss) or ``"log-loss"`` (the classifiers: logistic or softmax
    regression on the network's own hidden features, solved by Newton-CG,
    :func:`~skadmm._readout.fit_log_loss_readout`, once, on the hidden
    layers the fit returns; with a validation split its ridge is chosen
    there along a path and then its temperature fitted there, and the
    returned model's validation score replaces the best iterate's).
    ``readout_products``: the dtype of the Hessian-vector products and
    preconditioner of the ridge path's points
    (:func:`~skadmm._readout.fit_log_loss_readout`'s ``products``):
    ``"float32"`` (dense float64 features, the last hidden layer's or ``X``
    without one, are copied into float32 once per path; the objective,
    gradient and convergence test stay float64) or
    ``"data"`` (the data's dtype).  Measured in
    ``benchmarks/results/readout_products.md`` (every shared classification
    dataset, validation splits, 1 and 2 hidden layers, 66 cells): the
    same ridge in every cell, validation accuracy within 0.0008 and
    log-loss within 0.0004, the output layer's time 0.88 times in
    geometric mean (krkopt 0.68, Fashion-MNIST 0.75) and the fit's 0.95
    (krkopt 0.78).  The output layer solved at ``alpha`` without held-out
    rows always uses the data's dtype: weighted rows and the same rows
    repeated then give the same model to rounding (scikit-learn's
    sample-weight equivalence), which float32 steps, stopping elsewhere
    within the tolerance, do not.  So does a chosen path point solved on
    to a ``tol`` below ``1e-4``, as the solve at ``alpha`` would be (not
    measured with float32 products).  ``growth``
    (``variant="search"`` with two or more hidden layers of a piecewise-linear
    activation and no warm start): fit the first hidden layer alone, then
    (``layerwise``, with a validation function only) each further layer on
    the standardised features of the layers below, then the full network
    from the deepest stack, any missing layers inserted as identities
    (:func:`~skadmm._solver._grown._grown_fit`); ``full_stage``: when that
    last stage runs: ``"always"``; ``"unless-identities"`` (not when the
    held-out rows rejected the first layer-wise stage, so that every layer
    above the first would start as an identity); ``"without-split"`` (only
    where no layer-wise stage could be judged: without a validation split,
    or with ``layerwise=False``; otherwise the layer-wise stack is
    returned).  Where it does not
    run, the grown start is returned as it is, its output layer fitted;
    measured in ``benchmarks/bench_full_stage.py``.  ``layerwise_targets``:
    the ``search_targets`` of the layer-wise stages (``None``: the fit's
    own); ``"squared"``, one phase on the squared output update, as the
    searched objective (measured in ``benchmarks/bench_stage_phases.py``).
    ``local_targets`` (``variant="search"``, piecewise-linear activations
    with a kink; ``identity``, ``tanh`` and ``logistic`` keep the global form):
    which pre-activation update gives a hidden layer's target: ``"never"``,
    eq. (7)'s global minimiser; ``"always"``, eq. (7) restricted to each
    entry's current linear piece
    (:func:`~skadmm._kernels.preactivation_update` with ``local=True``);
    ``"after-rejection"``, the global form, and after a rejected search of
    the layer the restricted one, at the same factors (no shrink), until a
    search of that form is rejected in turn (then the factors shrink and
    the layer is back on the global form); a new phase of the search starts
    on the global form (measured in ``benchmarks/bench_local_targets.py``).
    The estimators'
    ``solver`` names map to ``variant``, ``init`` and ``readout_iter`` in
    :data:`SOLVERS`: ``solver="paper"`` is ``variant="paper",
    init="gaussian", readout_iter=0``; ``solver="plain"`` is
    ``variant="multipliers", init="forward", readout_iter=50``; their default
    ``solver="admm"`` is ``variant="search", init="forward",
    readout_iter=50`` (the search always starts from a forward pass), with
    ``search_targets="then-squared"`` and ``slow_reference="progress"``
    under early stopping, ``"loss"`` and ``"objective"``
    without (the second phase needs a validation split to stop it; without
    one, the search's own rule is the fit's only brake on overfitting).
    """

    gamma: float = 10.0
    beta: float = 1.0
    alpha: float = 1e-4
    n_warmup_iter: int = 10
    max_iter: int = 100
    tol: float = 1e-4
    n_iter_no_change: int = 10
    variant: str = "multipliers"
    init: str = "gaussian"
    sweep: str = "forward"
    readout_iter: int = 0
    relaxation_start: float = 256.0
    relaxation_factors: tuple = (1.0, 8.0)
    relaxation_patience: int = 3
    relaxation_shrink: float = 1 / 8
    relaxation_refit: bool = True
    search_targets: str = "then-squared"
    momentum: float = 0.8
    slow_tol: float = 0.02
    slow_reference: str = "objective"
    step_damping: float = 1.0
    refresh_steps: bool = True
    readout: str = "admm"
    growth: bool = True
    layerwise: bool = True
    full_stage: str = "without-split"
    layerwise_targets: str = "squared"
    local_targets: str = "after-rejection"
    readout_products: str = "float32"

    def multiplier_step(self, beta):
        return beta if self.variant == "paper" else 2.0 * beta

    def __post_init__(self):
        if self.variant not in ("paper", "multipliers", "search"):
            raise ValueError(f"unknown variant {self.variant!r}")
        if self.readout not in ("admm", "log-loss"):
            raise ValueError(f"unknown readout {self.readout!r}")
        if self.slow_reference not in ("objective", "progress"):
            raise ValueError(f"unknown slow_reference {self.slow_reference!r}")
        if self.full_stage not in FULL_STAGES:
            raise ValueError(f"unknown full_stage {self.full_stage!r}")
        if self.search_targets not in SEARCH_TARGETS:
            raise ValueError(f"unknown search_targets {self.search_targets!r}")
        if self.local_targets not in LOCAL_TARGETS:
            raise ValueError(f"unknown local_targets {self.local_targets!r}")
        if self.readout_products not in READOUT_PRODUCTS:
            raise ValueError(f"unknown readout_products {self.readout_products!r}")
        if self.layerwise_targets not in (None, *SEARCH_TARGETS):
            raise ValueError(f"unknown layerwise_targets {self.layerwise_targets!r}")

    @property
    def multiplier_in_weights(self):
        return self.variant != "paper"


@dataclass
class ADMMResult:
    """What :func:`~skadmm._solver.admm_fit` returns.

    Attributes
    ----------
    coefs, intercepts : list of ndarray
        Final weights (the best ones on the validation set when a
        validation function was given).
    n_iter : int
        Iterations run.
    converged : bool
        True when the fit stopped on ``tol`` / ``n_iter_no_change``, the
        search's own rule (``slow_tol``) or a callback, False when it hit
        ``max_iter`` (or was interrupted).
    message : str
        Why it stopped.
    loss_curve : list of float
        Per iteration, the training loss of the network's forward pass
        (mean loss per unit sample weight plus
        ``alpha / (2 sum(w)) * sum ||W||^2``), as ``MLPClassifier.loss_curve_``;
        for the classifiers that of the iterates' own (hinge-fitted or
        least-squares) output layer, not the returned log-loss layer.
    objective_curve : list of float
        Per iteration, the augmented objective (paper eq. (5)) of the
        iterates, with the multiplier term ``<lambda, z_L - W_L a_{L-1}>``.
    search_objective_curve : list of float
        ``variant="search"``: per iteration, the objective the relaxation
        search minimises (:func:`~skadmm._solver._search._search_sweep`) after that iteration; its
        decrease from the previous entry, relative to that entry or to the
        phase's decrease so far (``slow_reference``), is what ``slow_tol``
        bounds (the first iteration of a fit, or of a grown fit's later
        stage, is measured from that stage's starting objective, not listed).
        Empty for the other variants.
    residuals : ndarray of shape (n_iter, n_layers)
        RMS of ``z_l - W_l a_{l-1}`` per layer and iteration.
    activation_residuals : ndarray of shape (n_iter, n_layers - 1)
        RMS of ``a_l - h(z_l)`` per hidden layer and iteration.
    validation_scores : list of float or None
    best_validation_score : float or None
    best_loss : float
    bytes_reduced : list of int
        Bytes sum-reduced across processes per iteration (transpose
        reduction; independent of the number of rows).
    times : list of float
        Wall seconds since the start of the iterations at the end of each one.
    total_time : float
        Wall seconds of the iterations and the readout refit.
    readout_n_iter : int
        Iterations of the final readout refit (0: none); with
        ``readout="log-loss"`` the Newton steps of the output layer's fit,
        summed over the ridges of the path when there is one.
    readout_alpha : float or None
        ``readout="log-loss"``: the ridge of the returned output layer
        (chosen on the validation rows when there are any, else ``alpha``).
    temperature : float
        ``readout="log-loss"`` with a validation function that gives the
        validation logits: the temperature ``T`` fitted on the validation
        rows (:func:`~skadmm._readout.fit_temperature`); the returned output
        layer is the log-loss fit divided by ``T``.  1.0 otherwise.
    readout_reductions : int
        ``readout="log-loss"``: reductions of small matrices spent on the
        output layer's fit: the features' Gram, per preconditioner formed
        (lazily: :func:`~skadmm._readout.fit_log_loss_readout`'s ``refresh``)
        one, per objective evaluation (Armijo trials included)
        and per Hessian-vector product one each, the held-out class counts
        and one per ridge of the path (its validation loss).  The class
        prior's, the temperature's (one per 1-D Newton trial) and the final
        validation score's are not counted.
    relaxation_factors : ndarray of shape (n_iter, n_layers - 1)
        ``variant="search"``: the relaxation factor applied to each hidden
        layer at each iteration (``0``: no candidate lowered the objective).
    squared_targets_from : int or None
        ``search_targets="then-squared"`` (the default of ``variant="search"``):
        the first iteration whose hidden targets came from the squared output
        update; None when the search never stalled before the end.  With
        ``search_targets="squared"`` (a grown fit's layer-wise stages) and a
        loss other than the squared one: the fit's first iteration.
    callback_stopped : bool
        True when a callback asked the fit to stop.
    interrupted : bool
        True when a KeyboardInterrupt stopped the fit.
    """

    coefs: list
    intercepts: list
    n_iter: int = 0
    converged: bool = False
    message: str = ""
    loss_curve: list = field(default_factory=list)
    objective_curve: list = field(default_factory=list)
    search_objective_curve: list = field(default_factory=list)
    residuals: np.ndarray = None
    activation_residuals: np.ndarray = None
    validation_scores: list = None
    best_validation_score: float = None
    best_loss: float = np.inf
    bytes_reduced: list = field(default_factory=list)
    times: list = field(default_factory=list)
    interrupted: bool = False
    readout_n_iter: int = 0
    readout_reductions: int = 0
    temperature: float = 1.0
    readout_alpha: float = None
    callback_stopped: bool = False
    total_time: float = 0.0
    relaxation_factors: np.ndarray = None
    squared_targets_from: int = None
