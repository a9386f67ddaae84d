"""The only ADMM / Bregman iteration loop.  Free of scikit-learn.

:func:`admm_fit` runs Algorithm 1 of Taylor et al. (2016) over the rows a
backend gives it and returns an :class:`ADMMResult`; the estimators turn that
into fitted attributes and warnings.

Data flow: solver -> ``backend.map_blocks`` / ``backend.reduce_blocks`` ->
kernels.  The solver owns the per-sample state (``a_l``, ``z_l``,
``lambda``) of its local rows; the kernels are pure and the backends only
place rows and move sums.
"""

import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from . import _kernels as K
from ._activations import LOSSES
from ._growth import identity_piece, insert_layers
from ._readout import (
    fit_log_loss_readout,
    fit_readout_path,
    fit_temperature,
    initial_readout,
    temperature_terms,
)
from .backends import BLOCK_ROWS, block_rows_for, blocks_for

__all__ = ["ADMMResult", "DivergenceError", "SolverOptions", "admm_fit"]


class DivergenceError(ValueError):
    """A non-finite value appeared in the ADMM iterates.

    Raised at the iteration where it appears; the message names the layer,
    the quantity and the iteration, and suggests a fix.
    """


def _proximal_alpha(gram, alpha, beta, damping):
    """The ridge of a hidden layer's step with its proximal term (``step_damping``).

    The step solves ``min ||[a 1] [dW; dc] - (z - m)||^2 + alpha / (2 beta)
    ||dW||^2 + damping * g ||dW||^2`` with ``g`` the mean of the Gram
    matrix's diagonal (the inputs' mean square, times the number of rows):
    a proximal term on the weight change, in the inputs' own scale, which
    leans the step from the whitened (Gauss-Newton-like) direction towards
    the plain one.  Returns the ``alpha`` to hand to
    :func:`~skadmm._kernels.weight_update` for that system.
    """
    if not damping:
        return alpha
    d = gram.shape[0] - 1
    return alpha + 2.0 * beta * damping * float(np.mean(np.diag(gram)[:d]))


@dataclass(frozen=True)
class SolverOptions:
    """Settings of the iteration (see the estimators for their meaning).

    ``variant`` selects the update rules:

    ``"paper"``
        Algorithm 1 exactly: ``W_L <- z_L a_{L-1}^+`` ignores the multiplier
        and the multiplier step is ``beta`` (eq. (8)).
    ``"admm"``
        Differs in the output layer only: the weight update minimises the
        augmented Lagrangian including ``<lambda, z_L - W_L a_{L-1}>`` (the
        target becomes ``z_L + lambda / (2 beta)``) and the multiplier step
        is ``2 beta``, the method-of-multipliers step for the penalty
        ``beta ||.||^2``.  Its fixed points satisfy the optimality
        conditions of the training problem's output layer exactly (with no
        hidden layer and the squared loss it converges to ``Ridge``).

    ``"search"``
        :func:`_search_sweep`: Algorithm 1's closed-form sub-steps give each
        hidden layer a weight update; the solver applies it with a
        relaxation factor chosen among ``relaxation_start`` times powers of
        ``relaxation_factors`` (and ``0``) by the exact objective of the
        network with its output layer refitted (variable projection), plus
        ``momentum`` times the layer's previous update (heavy ball).  For
        the hinge loss the hidden targets switch to the squared output
        update once the search slows down (``search_targets``).

    ``init``: ``"gaussian"`` (paper section 6: unit Gaussian ``z``, zero
    weights), ``"forward"`` (a forward pass of :func:`random_weights` with
    spread hidden biases) or ``"glorot"`` (the same with plain Glorot
    biases).  ``sweep``: ``"forward"`` (Algorithm 1's layer order) or
    ``"backward"`` (:func:`_backward_sweep`).  ``penalty_start`` and
    ``penalty_growth``: continuation of gamma and beta.  ``readout_iter``:
    iterations of the final output-layer refit (:func:`_refit_readout`),
    0 for none.  ``relaxation_*``: the candidates (``relaxation_start``
    times ``relaxation_factors``, the factor kept from one iteration to the
    next and multiplied by ``relaxation_shrink`` after a rejection) and the
    stopping rule of the ``"search"`` variant: a *phase* of the search ends
    after ``relaxation_patience`` iterations in a row that lower the
    objective by no more than ``slow_tol`` (relative; a rejection lowers it
    by 0; the estimators' ``search_tol``, one value for every problem:
    ``benchmarks/results/search_rule.md``; ``None``: the search never ends a
    phase itself).  ``search_targets``: ``"loss"`` (the hidden layers' targets start
    from the output update of the fit's loss; one phase), ``"squared"``
    (from the squared loss the search minimises; one phase) or
    ``"then-squared"`` (the first until its phase ends or the stopping
    rule's patience runs out, then the second; see :func:`_switch_targets`;
    for the squared loss it is ``"loss"``); ``momentum``: weight of each hidden layer's
    previous accepted update in its candidates (heavy ball,
    :func:`~skadmm._kernels.relaxed_step`; 0 for none); ``refresh_steps``:
    solve each hidden layer's step again on its new inputs once a layer
    below it has moved (one more reduction per such layer); ``step_damping``:
    proximal term on each hidden layer's step, relative to its inputs' mean
    square (:func:`_proximal_alpha`; one value for every problem, chosen
    with ``slow_tol``).  ``readout``: how the returned
    output layer is fitted: ``"admm"`` (``readout_iter`` iterations of the
    same ADMM on the output layer alone, :func:`_refit_readout`, for the
    fit's loss) or ``"log-loss"`` (the classifiers: logistic or softmax
    regression on the network's own hidden features, solved by Newton-CG,
    :func:`~skadmm._readout.fit_log_loss_readout`, once, on the hidden
    layers the fit returns; with a validation split its ridge is chosen
    there along a path and then its temperature fitted there, and the
    returned model's validation score replaces the best iterate's).  ``growth``
    (``variant="search"`` with two or more hidden layers of a piecewise-linear
    activation and no warm start): fit the first hidden layer alone, then
    the full network from it with the other layers inserted as identities
    (:func:`_grown_fit`).  The estimators'
    ``solver="paper"`` is
    ``variant="paper", init="gaussian", readout_iter=0``; ``solver="plain"``
    is ``variant="admm", init="forward", readout_iter=50``; their default
    ``solver="admm"`` is ``variant="search", init="forward",
    readout_iter=50`` (the search always starts from a forward pass), with
    ``search_targets="then-squared"`` under early stopping and ``"loss"``
    without (the second phase needs a validation split to stop it).
    """

    gamma: float = 10.0
    beta: float = 1.0
    alpha: float = 1e-4
    n_warmup_iter: int = 10
    max_iter: int = 100
    tol: float = 1e-4
    n_iter_no_change: int = 10
    variant: str = "admm"
    init: str = "gaussian"
    sweep: str = "forward"
    penalty_start: float = 1.0
    penalty_growth: float = 1.0
    readout_iter: int = 0
    relaxation_start: float = 256.0
    relaxation_factors: tuple = (1.0, 8.0)
    relaxation_patience: int = 3
    relaxation_shrink: float = 1 / 8
    relaxation_refit: bool = True
    search_targets: str = "then-squared"
    momentum: float = 0.8
    slow_tol: float = 0.02
    step_damping: float = 1.0
    refresh_steps: bool = True
    readout: str = "admm"
    growth: bool = True

    def penalty_scale(self, iteration):
        """Continuation: gamma and beta are scaled by min(1, start * growth^(k-1))."""
        if self.penalty_growth <= 1.0 and self.penalty_start >= 1.0:
            return 1.0
        return min(1.0, self.penalty_start * self.penalty_growth ** (iteration - 1))

    def multiplier_step(self, beta):
        return beta if self.variant == "paper" else 2.0 * beta

    def __post_init__(self):
        if self.variant not in ("paper", "admm", "search"):
            raise ValueError(f"unknown variant {self.variant!r}")
        if self.readout not in ("admm", "log-loss"):
            raise ValueError(f"unknown readout {self.readout!r}")

    @property
    def multiplier_in_weights(self):
        return self.variant != "paper"


@dataclass
class ADMMResult:
    """What :func:`admm_fit` returns.

    Attributes
    ----------
    coefs, intercepts : list of ndarray
        Final weights (the best ones on the validation set when a
        validation function was given).
    n_iter : int
        Iterations run.
    converged : bool
        True when the fit stopped on ``tol`` / ``n_iter_no_change`` or a
        callback, False when it hit ``max_iter`` (or was interrupted).
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
        search minimises (:func:`_search_sweep`) after that iteration; its
        relative decrease from the previous entry is what ``slow_tol``
        bounds (the first iteration of a fit, or of a grown fit's second
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
        output layer's fit: the features' Gram, per Newton step the
        preconditioner, per objective evaluation (Armijo trials included)
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
        update; None when the search never stalled before the end.
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


def _sum_parts(backend, parts):
    """Exact sum over every worker of the rows of ``parts`` (per-chunk local sums)."""
    parts = np.asarray(parts, dtype=np.float64)
    return backend.reduce_parts(list(parts), parts.shape[1:])


def gaussian_rows(seed, stream, offset, n_local, width, dtype):
    """Standard normal rows ``offset`` to ``offset + n_local - 1`` of a virtual global array.

    Row ``i`` of the global array depends only on ``(seed, stream, i)``:
    block ``k`` of :data:`~skadmm.backends.BLOCK_ROWS` rows is drawn from a
    generator seeded by ``(seed, stream, k)``, and a generator fills rows in
    order.  So any partition of the rows over workers draws the same
    initial state: the paper's Gaussian initialisation (section 6), made
    independent of the number of workers.
    """
    out = np.empty((n_local, width), dtype=dtype)
    for k, rows in blocks_for(offset, n_local, BLOCK_ROWS):
        first = offset + rows.start - k * BLOCK_ROWS
        stop = first + (rows.stop - rows.start)
        rng = np.random.default_rng([seed, stream, k])
        out[rows] = rng.standard_normal((stop, width), dtype=dtype)[first:]
    return out


def random_weights(seed, sizes, dtype, spread_biases=True):
    """Random weights for the forward initialisation (``init="forward"``).

    Glorot-uniform weights, as scikit-learn's MLP draws them.  With
    ``spread_biases`` the hidden biases are drawn uniformly in
    ``[-s, 2 s]``, with ``s`` the scale of the unit's pre-activation on
    standardised inputs: most ReLU units start in their linear regime, so
    the features keep the input's linear information, while the kinks of
    the others fall inside the data.  (Measured on the shared datasets in
    ``benchmarks/bench_ablation.py``: plain Glorot biases lose 2.5 points on
    HIGGS, a Gaussian ``z`` loses 50 on Fashion-MNIST.)
    """
    rng = np.random.default_rng([seed, 2**31 - 1])
    coefs, intercepts = [], []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        bias = rng.uniform(-bound, bound, fan_out)
        if spread_biases and layer < len(sizes) - 2:
            scale = bound * np.sqrt(fan_in / 3.0)
            bias = rng.uniform(-scale, 2.0 * scale, fan_out)
        intercepts.append(bias.astype(dtype))
    return coefs, intercepts


class _State:
    """Per-sample iterates of the local rows: ``a_l``, ``z_l``, ``lambda``."""

    def __init__(self, X, Y, sample_weight, sizes, dtype):
        self.X = X
        self.Y = Y
        self.sw = sample_weight
        self.sizes = sizes  # [n_features, hidden..., n_outputs]
        self.dtype = dtype
        self.a = [X] + [None] * (len(sizes) - 2)
        self.z = [None] * (len(sizes) - 1)
        self.lam = None


def _check_finite(value, what, layer, iteration):
    if not np.all(np.isfinite(value)):
        when = f"at iteration {iteration}" if iteration else "before the first iteration"
        raise DivergenceError(
            f"non-finite {what} in layer {layer} {when}. "
            "Standardise the features (e.g. StandardScaler), raise alpha, or lower "
            "beta relative to gamma; float64 input also helps."
        )


def admm_fit(
    X,
    Y,
    *,
    hidden_layer_sizes,
    activation,
    loss,
    options,
    backend,
    seed,
    sample_weight=None,
    init_coefs=None,
    validation=None,
    callback=None,
    verbose=False,
    task_hook=None,
    _stage=None,
):
    """Train a feed-forward network by ADMM / Bregman iteration (paper Algorithm 1).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_local, n_features)
        This process's rows; float32 or float64 (the iterates use its dtype).
    Y : ndarray of shape (n_local, n_outputs)
        Targets: 0/1 indicators for the hinge loss, values for the squared loss.
    hidden_layer_sizes : tuple of int
    activation : PiecewiseLinear or ScaledTanh
    loss : {"hinge", "squared"}
    options : SolverOptions
    backend : Backend
        An *entered* backend.
    seed : int
        Seed of the Gaussian initial state (broadcast from rank 0).
    sample_weight : ndarray of shape (n_local,), default=None
        Scales every term of a sample's objective (loss and penalties), so
        it enters only the weight update's sums.
    init_coefs : tuple (coefs, intercepts), default=None
        Warm start: the state is initialised by a forward pass of these
        weights (``z_l = W_l a_{l-1}``, ``a_l = h(z_l)``, ``lambda = 0``).
    validation : tuple (stats_fn, score_fn[, logits_fn]), default=None
        ``stats_fn(coefs, intercepts)`` returns an array of shape
        ``(n_parts, k)``: sums over this process's validation rows, one row
        per part (the estimators: per chunk of validation rows, every
        process starting on a chunk); ``score_fn(global_sums)`` turns their
        exact sum over every part and process into a score (higher is
        better).  Enables early stopping with restoration of the best
        weights.  With ``readout="log-loss"``, ``logits_fn(coefs,
        intercepts)`` returns the local validation rows' ``(logits,
        indicators, sample_weight, parts)`` (``parts``: the row slices whose
        sums are added exactly), on which the returned model's output-layer
        ridge is chosen and its temperature fitted.
    callback : callable, default=None
        ``callback(iteration, info)`` after every iteration; ``info`` is a
        dict of the current diagnostics.  Returning True stops the fit.
    verbose : bool
        Print one line per iteration on rank 0.
    task_hook : callable, default=None
        ``task_hook(name)`` as a task begins: ``"iteration"`` at the top of
        every iteration (it ends with ``callback``), ``"readout"`` before the
        readout refit (scikit-learn's callback tasks, :mod:`skadmm._callbacks`).

    Returns
    -------
    ADMMResult
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}")
    if (
        _stage is None
        and options.variant == "search"
        and options.growth
        and init_coefs is None
        and len(hidden_layer_sizes) >= 2
        and identity_piece(activation) is not None
    ):
        return _grown_fit(
            X,
            Y,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            loss=loss,
            options=options,
            backend=backend,
            seed=seed,
            sample_weight=sample_weight,
            validation=validation,
            callback=callback,
            verbose=verbose,
            task_hook=task_hook,
        )
    dtype = X.dtype
    sizes = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    L = len(sizes) - 1
    alpha = options.alpha
    block_rows = block_rows_for(sizes, np.dtype(dtype).itemsize)
    # under MPI each rank then starts on a chunk of the reproducible sums
    X, Y, sample_weight = backend.align_rows(block_rows, X, Y, sample_weight)
    n_local = X.shape[0]
    offset = backend.row_offset(n_local)
    blocks = [rows for _, rows in blocks_for(offset, n_local, block_rows)]
    seed = int(backend.bcast(seed))
    sw = sample_weight
    Yd = Y.astype(dtype, copy=False)
    st = _State(X, Yd, sw, sizes, dtype)
    sw_total = float(
        backend.reduce_parts(
            [np.array([r.stop - r.start if sw is None else sw[r].sum()]) for r in blocks], (1,)
        )[0]
    )

    # ---- initial state ---------------------------------------------------
    # the backward sweep and the search start from a forward pass: they have
    # no use for an auxiliary state that is not the network's own
    from_weights = options.sweep == "backward" or options.variant == "search"
    # a fitted model's weights (the random start and a grown one are not)
    warm_model = init_coefs if _stage is None else None
    if init_coefs is None and (options.init != "gaussian" or from_weights):
        init_coefs = random_weights(seed, sizes, dtype, spread_biases=options.init != "glorot")
    if init_coefs is not None:
        W = [np.asarray(w, dtype=dtype) for w in init_coefs[0]]
        c = [np.asarray(v, dtype=dtype) for v in init_coefs[1]]
        for i in range(L):
            st.z[i] = np.empty((n_local, sizes[i + 1]), dtype=dtype)
            if i < L - 1:
                st.a[i + 1] = np.empty((n_local, sizes[i + 1]), dtype=dtype)

        def _init_block(rows):
            a = X[rows]
            for i in range(L):
                m = K.linear(a, W[i], c[i])
                st.z[i][rows] = m
                if i < L - 1:
                    a = activation(m)
                    st.a[i + 1][rows] = a

        backend.map_blocks(_init_block, blocks)
    else:
        # Paper section 6: i.i.d. unit Gaussian z_l.  The weights need no
        # initialisation (the W update comes first); W_{l+1} = 0 makes the
        # first activation update a_l = h(z_l), so the Gaussian a_l the
        # paper also draws would never be read and is not drawn.
        W = [np.zeros((sizes[i], sizes[i + 1]), dtype=dtype) for i in range(L)]
        c = [np.zeros(sizes[i + 1], dtype=dtype) for i in range(L)]
        for i in range(L):
            st.z[i] = gaussian_rows(seed, i, offset, n_local, sizes[i + 1], dtype)
            if i < L - 1:
                st.a[i + 1] = np.empty((n_local, sizes[i + 1]), dtype=dtype)
    st.lam = np.zeros((n_local, sizes[-1]), dtype=dtype)

    result = ADMMResult(coefs=W, intercepts=c)
    # the classifiers' output layer (readout="log-loss"), fitted once at the end
    log_output = None
    last_stage = _stage is None or _stage.get("final", True)
    if options.readout == "log-loss" and last_stage:
        log_output = _LogLossOutput(
            st, blocks, backend, activation, alpha, options.tol, warm_model
        )
    last_good = None  # weights after the last complete iteration
    residuals, act_residuals = [], []
    best = None  # (score, coefs, intercepts)
    no_improve = 0
    best_loss = np.inf
    val_scores = [] if validation is not None else None
    t0 = time.perf_counter()
    n_iter = 0
    first = 1
    if _stage is not None and "before" in _stage:
        # the second stage of a grown fit: its iterations, curves and clock go on
        # from the shallow network's, whose best model (the grown start computes
        # its function) is the first candidate of early stopping
        before = _stage["before"]
        n_iter = first = before.n_iter
        first += 1
        t0 -= before.total_time
        for name in (
            "loss_curve",
            "objective_curve",
            "search_objective_curve",
            "times",
            "bytes_reduced",
        ):
            getattr(result, name).extend(getattr(before, name))
        pad = np.full((before.n_iter, L - before.residuals.shape[1]), np.nan)
        residuals = list(np.hstack([before.residuals[:, :-1], pad, before.residuals[:, -1:]]))
        act_residuals = list(np.hstack([before.activation_residuals, pad]))
        best_loss = before.best_loss
        if validation is not None:
            val_scores = list(before.validation_scores)
            if before.best_validation_score is not None:
                best = (before.best_validation_score, *_stage["start"])
    message = f"max_iter={options.max_iter} reached"
    converged = False
    lam_target = options.multiplier_in_weights
    search = None
    if options.variant == "search" and L >= 2:
        search = {"stalls": 0, "omegas": [], "curve": result.search_objective_curve}
        if _stage is not None and "before" in _stage:
            search["omegas"] = [
                list(row) + [np.nan] * (L - 2) for row in _stage["before"].relaxation_factors
            ]
    stalled = False

    def weights_sq():
        return sum(float(np.sum(np.square(w, dtype=np.float64))) for w in W)

    def input_gram(bi):
        rows = blocks[bi]
        G, _ = K.weight_statistics(X[rows], st.Y[rows][:, :0], None if sw is None else sw[rows])
        return (G,)

    # The first layer's input a_0 = X is fixed: one reduction before the loop
    # instead of one per iteration (for wide inputs the largest product).
    (gram0,) = backend.reduce_blocks(input_gram, range(len(blocks)), [(sizes[0] + 1,) * 2])
    _check_finite(gram0, "inputs X (Gram matrix)", 1, 0)

    try:
        for it in range(first, options.max_iter + 1):
            if task_hook is not None:
                task_hook("iteration")
            bytes_before = backend.bytes_reduced
            # the warm-up delays the multiplier; the search has none
            warm = search is None and it <= options.n_warmup_iter
            scale = options.penalty_scale(it)
            g, b = options.gamma * scale, options.beta * scale
            step = options.multiplier_step(b)
            diag_blocks = [np.zeros(2 * L + 1) for _ in blocks]
            # diag layout per block: [sum (z_l - m_l)^2 for l] +
            #   [sum (a_l - h(z_l))^2 for hidden l] + [loss(z_L)] + [<lam, z_L - m_L>]
            if search is not None:
                stalled = _search_sweep(
                    st,
                    W,
                    c,
                    blocks,
                    backend,
                    activation,
                    loss,
                    options,
                    g,
                    b,
                    diag_blocks,
                    it,
                    gram0,
                    search,
                )
            elif options.sweep == "backward":
                _backward_sweep(
                    st,
                    W,
                    c,
                    blocks,
                    backend,
                    activation,
                    loss,
                    options,
                    g,
                    b,
                    step,
                    warm,
                    diag_blocks,
                    it,
                    gram0,
                )
            else:
                for i in range(L):
                    last = i == L - 1
                    a_prev = st.a[i]

                    def stats(bi, a_prev=a_prev, i=i, last=last):
                        rows = blocks[bi]
                        t = st.z[i][rows]
                        if last and lam_target:
                            t = t + st.lam[rows] * (0.5 / b)
                        return K.weight_statistics(
                            a_prev[rows], t, None if sw is None else sw[rows], gram=i > 0
                        )

                    cross_shape = (sizes[i] + 1, sizes[i + 1])
                    if i == 0:  # X never changes: its Gram matrix was reduced once
                        gram = gram0
                        (cross,) = backend.reduce_blocks(stats, range(len(blocks)), [cross_shape])
                    else:
                        gram, cross = backend.reduce_blocks(
                            stats,
                            range(len(blocks)),
                            [(sizes[i] + 1, sizes[i] + 1), cross_shape],
                        )
                    _check_finite(gram, "activations a_{l-1} (Gram matrix)", i + 1, it)
                    _check_finite(cross, "pre-activations z_l (cross products)", i + 1, it)
                    W[i], c[i] = K.weight_update(gram, cross, alpha, b, dtype=dtype)
                    _check_finite(W[i], "weights", i + 1, it)

                    if not last:
                        _check_finite(W[i + 1], "weights", i + 2, it)
                        op = K.activation_operator(W[i + 1], b, g, dtype=dtype)

                        shift = lam_target and i + 1 == L - 1

                        def hidden(bi, a_prev=a_prev, i=i, op=op, shift=shift):
                            rows = blocks[bi]
                            h_z = activation(st.z[i][rows])
                            z_next = st.z[i + 1][rows]
                            if shift:
                                z_next = z_next + st.lam[rows] * (0.5 / b)
                            # results go straight into this block's rows of the state
                            a_new = K.activation_update(
                                z_next,
                                W[i + 1],
                                c[i + 1],
                                h_z,
                                b,
                                g,
                                op=op,
                                out=st.a[i + 1][rows],
                            )
                            m = K.linear(a_prev[rows], W[i], c[i])
                            z_new = K.preactivation_update(
                                a_new, m, activation, b, g, out=st.z[i][rows]
                            )
                            d = diag_blocks[bi]
                            wr = None if sw is None else sw[rows, None]
                            d[i] = _sqsum(z_new - m, wr)
                            d[L + i] = _sqsum(a_new - activation(z_new), wr)

                        backend.map_blocks(hidden, range(len(blocks)))
                    else:

                        def output(bi, a_prev=a_prev, i=i, warm=warm):
                            rows = blocks[bi]
                            m = K.linear(a_prev[rows], W[i], c[i])
                            lam = st.lam[rows]
                            z_new = K.output_update(m, st.Y[rows], lam, b, loss)
                            st.z[i][rows] = z_new
                            r = z_new - m
                            d = diag_blocks[bi]
                            wr = None if sw is None else sw[rows, None]
                            d[i] = _sqsum(r, wr)
                            d[2 * L - 1] = _wsum(LOSSES[loss](z_new, st.Y[rows]), wr)
                            d[2 * L] = _wsum(lam * r, wr)
                            if not warm:
                                st.lam[rows] = K.multiplier_update(lam, z_new, m, step)

                        backend.map_blocks(output, range(len(blocks)))

            # what validation and callbacks see: the iterate, its own output
            # layer read as logits (0/1 targets: the threshold 1/2 moves to 0)
            model = (W, c)
            if options.readout == "log-loss" and Y.shape[1] == 1:
                model = (W, c[:-1] + [c[-1] - np.asarray(0.5, dtype=dtype)])

            # ---- diagnostics: one reduction of a few scalars --------------
            def train_loss(bi):
                rows = blocks[bi]
                if search is not None:  # the search keeps the forward state current
                    f = K.linear(st.a[L - 1][rows], W[-1], c[-1])
                else:
                    f = K.forward(X[rows], W, c, activation)
                wr = None if sw is None else sw[rows, None]
                return (np.array([_wsum(LOSSES[loss](f, st.Y[rows]), wr)]),)

            fwd = backend.map_blocks(train_loss, range(len(blocks)))
            extra = np.zeros((0, 0))
            if validation is not None:  # per validation chunk
                extra = np.atleast_2d(np.asarray(validation[0](*model), dtype=np.float64))
            # per-block sums, added exactly: the same whatever the partition
            none = np.zeros(extra.shape[1])
            parts = [np.concatenate([d, f[0], none]) for d, f in zip(diag_blocks, fwd)]
            parts.extend(np.concatenate([np.zeros(2 * L + 2), e]) for e in extra)
            packed = backend.reduce_parts(parts, (2 * L + 2 + extra.shape[1],))
            d = packed[: 2 * L + 1]
            wsq = weights_sq()
            denom = max(sw_total, np.finfo(float).tiny)
            train = (packed[2 * L + 1] + 0.5 * alpha * wsq) / denom
            objective = (
                d[2 * L - 1]
                + d[2 * L]
                + b * d[:L].sum()
                + g * d[L : 2 * L - 1].sum()
                + 0.5 * alpha * wsq
            )
            _check_finite(d[:L], "constraint residual z_l - W_l a_{l-1}", _worst(d[:L]), it)
            _check_finite(d[L : 2 * L - 1], "activations a_l", 1 + _worst(d[L : 2 * L - 1]), it)
            _check_finite(d[2 * L - 1 :], "output z_L or multiplier lambda", L, it)
            _check_finite(train, "network output (forward pass)", L, it)
            n_iter = it
            residuals.append(np.sqrt(d[:L] / max(1, sw_total) / np.array(sizes[1:])))
            act_residuals.append(
                np.sqrt(d[L : 2 * L - 1] / max(1, sw_total) / np.array(sizes[1:-1]))
            )
            result.loss_curve.append(float(train))
            result.objective_curve.append(float(objective))
            elapsed = time.perf_counter() - t0
            result.times.append(elapsed)

            # ---- stopping (scikit-learn MLP's rule) ------------------------
            score = None
            if validation is not None:
                score = float(validation[1](packed[2 * L + 2 :]))
                val_scores.append(score)
                # against the best *before* this iteration, as scikit-learn's MLP
                if not warm:
                    worse = best is not None and score < best[0] + options.tol
                    no_improve = no_improve + 1 if worse else 0
                if best is None or score > best[0]:
                    best = (score, [w.copy() for w in model[0]], [v.copy() for v in model[1]])
            elif not warm:
                no_improve = no_improve + 1 if train > best_loss - options.tol else 0
            best_loss = min(best_loss, train)
            result.bytes_reduced.append(backend.bytes_reduced - bytes_before)
            last_good = ([w.copy() for w in model[0]], [v.copy() for v in model[1]])

            if verbose and backend.is_root:
                left = elapsed / it * (options.max_iter - it)
                line = (
                    f"Iteration {it}, loss = {train:.8f}, objective = {objective:.6g}, "
                    f"output residual = {residuals[-1][-1]:.3e}"
                )
                if score is not None:
                    line += f", validation score = {score:.6f}"
                line += f", elapsed = {elapsed:.2f}s"
                if elapsed > 5:
                    line += f", at most {left:.0f}s left"
                print(line, flush=True)

            if callback is not None:
                info = {
                    "loss": float(train),
                    "objective": float(objective),
                    "residuals": residuals[-1].copy(),
                    "activation_residuals": act_residuals[-1].copy(),
                    "validation_score": score,
                    "elapsed": elapsed,
                    "coefs": model[0],
                    "intercepts": model[1],
                }
                if callback(it, info):
                    converged, message = True, f"callback stopped the fit at iteration {it}"
                    result.callback_stopped = True
                    break
            if search is not None and search.get("fallback_from") == it + 1:
                # new targets, a new phase: it gets the full patience
                no_improve = 0
            if stalled:
                converged = True
                message = (
                    f"the relaxation search lowered its objective by at most "
                    f"{options.slow_tol:g} (relative) for "
                    f"{options.relaxation_patience} consecutive iterations"
                )
                break
            if (
                no_improve > options.n_iter_no_change
                and search is not None
                and _switch_targets(search, it, loss, options)
            ):
                # the first phase of the search is spent: the second gets the full patience
                no_improve = 0
            if no_improve > options.n_iter_no_change:
                what = "validation score" if validation is not None else "training loss"
                converged = True
                message = (
                    f"{what} did not improve more than tol={options.tol} for "
                    f"{options.n_iter_no_change} consecutive iterations"
                )
                break
    except KeyboardInterrupt:
        result.interrupted = True
        message = f"interrupted by KeyboardInterrupt after {n_iter} iterations"
        warnings.warn(
            "Training interrupted by the user; keeping the best weights reached.",
            RuntimeWarning,
            stacklevel=2,
        )
        if last_good is None:
            raise
        W, c = last_good

    if best is not None:
        result.best_validation_score = best[0]
        W, c = best[1], best[2]
    elif not last_stage and last_good is not None:
        W, c = last_good
    if log_output is not None:
        if task_hook is not None:
            task_hook("readout")
        # the iterates' state is not needed any more: a_{L-1}'s storage takes
        # the features of the returned hidden layers
        held_out = validation[2] if validation is not None and len(validation) > 2 else None
        W, c = log_output.fit(W, c, into=st.a[L - 1] if L >= 2 else None, held_out=held_out)
        result.readout_n_iter = log_output.n_iter
        result.readout_reductions = log_output.reductions
        result.readout_alpha = log_output.ridge
        if log_output.held_out_counts is not None:
            # the held-out rows calibrate the confidence (no prediction changes),
            # and the score reported is the returned model's
            z_val, y_val, sw_val, parts = held_out(W, c)

            def terms(s):  # per validation chunk, added exactly
                return [
                    temperature_terms(z_val[r], y_val[r], s, None if sw_val is None else sw_val[r])
                    for r in parts
                ]

            s = fit_temperature(terms, backend)
            W, c = list(W), list(c)
            W[-1] = (W[-1] * s).astype(dtype, copy=False)
            c[-1] = (c[-1] * s).astype(dtype, copy=False)
            result.temperature = 1.0 / s
            final = _sum_parts(backend, validation[0](W, c))
            result.best_validation_score = float(validation[1](final))
    elif options.readout_iter and L >= 2 and n_iter > 0 and last_stage:
        if task_hook is not None:
            task_hook("readout")
        W, c, result.readout_n_iter = _refit_readout(
            st, W, c, blocks, backend, activation, loss, options, seed
        )
    result.coefs, result.intercepts = W, c
    result.total_time = time.perf_counter() - t0
    result.n_iter = n_iter
    result.converged = converged
    result.message = message
    result.best_loss = best_loss
    result.validation_scores = val_scores
    result.residuals = np.array(residuals, dtype=float).reshape(n_iter, L)
    result.activation_residuals = np.array(act_residuals, dtype=float).reshape(n_iter, L - 1)
    if search is not None and search.get("fallback_from", n_iter + 1) <= n_iter:
        result.squared_targets_from = search["fallback_from"]
    result.relaxation_factors = (
        np.zeros((0, 0))
        if search is None
        else np.array(search["omegas"], dtype=float).reshape(len(search["omegas"]), L - 1)
    )
    return result


def _grown_fit(X, Y, *, hidden_layer_sizes, activation, options, backend, seed, **kw):
    """The default solver on two or more hidden layers of a piecewise-linear activation.

    Stage 1 fits the network with the first hidden layer only (the same
    options, rows, validation and callbacks; no final output-layer fit).
    Stage 2 fits the full network from the stage-1 model with the other
    hidden layers inserted as identities on their inputs
    (:func:`~skadmm._growth.insert_layers`): it starts by computing the
    shallow network's function, and with a validation split that start,
    scored as stage 1's best, is the first candidate of early stopping, so
    the returned network is never worse there than the shallow one.  The
    stages share ``max_iter``; iterations, curves and times run on across
    them (the stage-1 rows of per-layer curves hold NaN for the inserted
    layers).  Costs, between the stages, one forward pass of the shallow
    network and one allgather of three short rows (only for leaky ReLU or a
    layer narrower than the one below it: the per-unit minima and the
    outputs' range, :func:`~skadmm._growth.insert_layers`), and stage 1's
    iterations, the cheapest ones: one hidden layer.
    """
    shallow = admm_fit(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes[:1],
        activation=activation,
        options=options,
        backend=backend,
        seed=seed,
        _stage={"final": False},
        **kw,
    )
    sizes = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    dtype = X.dtype
    W, c = shallow.coefs, shallow.intercepts
    piece = identity_piece(activation)
    width = hidden_layer_sizes[0]
    low = np.zeros(width)
    image_low = min(
        p.slope * (p.lo if p.slope > 0 else p.hi) + p.offset for p in activation.pieces
    )
    shift = np.isfinite(piece[2]) and image_low < piece[2]
    narrows = any(b < a for a, b in zip(hidden_layer_sizes, hidden_layer_sizes[1:]))
    out_range = None
    if shift or narrows:
        # per unit, the least first-layer activation on the training rows (leaky
        # ReLU: the piece does not reach it, and the inserted layers shift each
        # unit by it); per output, the range of the network's outputs (a narrower
        # layer carries the outputs themselves): one allgather of a few rows
        parts = [np.full(width, np.inf), np.full(Y.shape[1], np.inf), np.full(Y.shape[1], -np.inf)]
        for start in range(0, X.shape[0], BLOCK_ROWS):
            a = activation(K.linear(X[start : start + BLOCK_ROWS], W[0], c[0]))
            f = K.linear(a, W[1], c[1])
            parts[0] = np.minimum(parts[0], a.min(axis=0))
            parts[1] = np.minimum(parts[1], f.min(axis=0))
            parts[2] = np.maximum(parts[2], f.max(axis=0))
        gathered = backend.allgather(parts)
        low = np.min([g[0] for g in gathered], axis=0) if shift else low
        low = np.where(np.isfinite(low), low, 0.0)
        f_lo = np.min([g[1] for g in gathered], axis=0)
        f_hi = np.max([g[2] for g in gathered], axis=0)
        if np.all(np.isfinite(f_lo)) and np.all(np.isfinite(f_hi)):
            out_range = (f_lo, f_hi)
    grown = insert_layers(
        W, c, sizes, activation, low, random_weights(seed, sizes, dtype), dtype, out_range
    )
    # a fit stopped in stage 1 (by a callback or the user) returns the grown start
    halted = shallow.interrupted or shallow.callback_stopped
    deep = admm_fit(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes,
        activation=activation,
        options=replace(options, max_iter=shallow.n_iter) if halted else options,
        backend=backend,
        seed=seed,
        init_coefs=grown,
        _stage={"before": shallow, "start": grown},
        **kw,
    )
    if halted:
        deep.message, deep.converged = shallow.message, shallow.converged
        deep.interrupted, deep.callback_stopped = shallow.interrupted, shallow.callback_stopped
    return deep


class _LogLossOutput:
    """The classifiers' output layer (``readout="log-loss"``), fitted once after the iterations.

    :meth:`fit` solves the output layer's log-loss problem on the features
    of the hidden layers ``W[:-1]`` (:func:`~skadmm._readout.fit_log_loss_readout`),
    started from a warm-started model's output layer or the class prior:
    at ``alpha`` without held-out rows, along the ridge path chosen on them
    otherwise (:func:`~skadmm._readout.fit_readout_path`); it returns the
    model, the hidden layers with that output layer.  The iterates' own
    output layer ``W[-1]`` (the search's least-squares one) is not used.
    """

    def __init__(self, st, blocks, backend, activation, alpha, tol, init_coefs):
        self.st, self.blocks, self.backend = st, blocks, backend
        self.activation, self.alpha, self.tol = activation, alpha, tol
        self.theta = None
        if init_coefs is not None:
            self.theta = np.vstack(
                [
                    np.asarray(init_coefs[0][-1], np.float64),
                    np.asarray(init_coefs[1][-1], np.float64),
                ]
            )
        self.n_iter = self.reductions = 0
        self.ridge = alpha
        self.held_out_counts = None  # set when a held-out split chooses the ridge

    def features(self, W, c, into):
        """The last hidden layer's activations of the local rows, written into ``into``
        (``X`` itself without a hidden layer)."""
        st = self.st
        if len(W) == 1:
            return st.X

        def fill(bi):
            rows = self.blocks[bi]
            a = st.X[rows]
            for i in range(len(W) - 1):
                a = self.activation(K.linear(a, W[i], c[i]))
            into[rows] = a

        self.backend.map_blocks(fill, range(len(self.blocks)))
        return into

    def fit(self, W, c, into=None, held_out=None):
        """Fit the output layer on the features of ``W[:-1]``; returns the model.

        With ``held_out`` (the validation rows' ``logits_fn``) the ridge is
        chosen on them (:func:`~skadmm._readout.fit_readout_path`), else it
        is ``alpha``.  At most 100 Newton steps for ``alpha`` alone, 30 per
        ridge of a path (its points need not be optima: the held-out loss
        judges each, and they are solved to a gradient of ``1e-4``; the
        chosen one is then solved to the default tolerance), 50
        conjugate-gradient iterations per step.
        """
        budget = (100, 50) if held_out is None else (30, 50)
        st = self.st
        features = self.features(W, c, into)
        d = features.shape[1]
        if self.theta is None or held_out is not None:
            # a path starts under a ridge that holds the weights at the class
            # prior: a warm start's layer is no nearer its first optimum
            self.theta = initial_readout(st.Y, st.sw, self.backend, d)
        (gram,) = self.backend.reduce_blocks(
            lambda bi: K.weight_statistics(
                features[self.blocks[bi]],
                st.Y[self.blocks[bi]][:, :0],
                None if st.sw is None else st.sw[self.blocks[bi]],
            ),
            range(len(self.blocks)),
            [(d + 1, d + 1)],
        )
        self.reductions += 1

        def solve(ridge, theta, tol=None):
            res = fit_log_loss_readout(
                features,
                st.Y,
                st.sw,
                self.blocks,
                self.backend,
                ridge,
                theta,
                gram=gram,
                max_iter=budget[0],
                max_cg=budget[1],
                tol=tol,
            )
            self.n_iter += res.n_iter
            self.reductions += res.n_reductions
            return res

        def model(res):
            return list(W[:-1]) + [res.coef], list(c[:-1]) + [res.intercept]

        if held_out is not None:
            # the held-out rows' weight per class, over every worker: without
            # any there is nothing to choose on
            _, y, w, parts = held_out(W, c)
            cols = y if y.shape[1] > 1 else np.hstack([1.0 - y, y])
            if w is not None:
                cols = cols * w[:, None]
            counts = _sum_parts(
                self.backend, [np.sum(cols[r], axis=0, dtype=np.float64) for r in parts]
            )
            self.reductions += 1
            if counts.sum() > 0:
                self.held_out_counts = counts
            else:
                held_out = None
        if held_out is None:
            res, self.ridge = solve(self.alpha, self.theta), self.alpha
        else:

            def validation_loss(res):
                """Mean log-loss over every worker's validation rows."""
                z, y, w, parts = held_out(*model(res))
                local = [
                    [
                        temperature_terms(z[r], y[r], 1.0, None if w is None else w[r])[0],
                        float(z[r].shape[0] if w is None else np.sum(w[r])),
                    ]
                    for r in parts
                ]
                self.reductions += 1
                loss, weight = _sum_parts(self.backend, local)
                return loss / max(weight, np.finfo(float).tiny)

            total = float(gram[d, d])
            res, self.ridge, _ = fit_readout_path(
                solve, validation_loss, self.alpha, total, self.theta, tol=self.tol
            )
        return model(res)


def _refit_readout(st, W, c, blocks, backend, activation, loss, options, seed):
    """Refit the output layer on the network's own hidden features (``readout_iter``).

    The iterations fit ``W_L`` to the auxiliary activations ``a_{L-1}``,
    which differ from the features ``h(W_{L-1} ...)`` the network computes
    at prediction time.  With the hidden layers fixed, the output layer's
    problem ``sum loss(F W_L + c_L, y) + alpha / 2 ||W_L||^2`` on the
    forward features ``F`` is convex; this runs the same ADMM iteration on
    it (no hidden layer, multiplier in the weight update), which converges
    to its exact minimiser (the Ridge oracle of the tests is the squared-
    loss case).  Same kernels, one reduction per iteration, and ``F`` is
    written over ``a_{L-1}``'s storage, so no memory is added.
    """
    L = len(W)
    F = st.a[L - 1]

    def features(bi):
        rows = blocks[bi]
        a = st.X[rows]
        for i in range(L - 1):
            a = activation(K.linear(a, W[i], c[i]))
        F[rows] = a

    backend.map_blocks(features, range(len(blocks)))
    st.z = st.a = None  # the hidden state is no longer needed
    sub = SolverOptions(
        gamma=options.gamma,
        beta=options.beta,
        alpha=options.alpha,
        n_warmup_iter=0,
        max_iter=options.readout_iter,
        tol=options.tol,
        n_iter_no_change=options.n_iter_no_change,
        variant="admm",
    )
    res = admm_fit(
        F,
        st.Y,
        hidden_layer_sizes=[],
        activation=activation,
        loss=loss,
        options=sub,
        backend=backend,
        seed=seed,
        sample_weight=st.sw,
        init_coefs=([W[-1]], [c[-1]]),
    )
    return W[:-1] + res.coefs, c[:-1] + res.intercepts, res.n_iter


def _backward_sweep(
    st, W, c, blocks, backend, activation, loss, options, g, b, step, warm, diag_blocks, it, gram0
):
    """One iteration in backward-then-forward order (the ``sweep="backward"`` variant).

    Per block of rows, with no communication: a forward pass resets the
    state to the network's own values (``z_l = W_l a_{l-1}``,
    ``a_l = h(z_l)``); the output update (Algorithm 1's ``z_L`` step) sets
    the output target; then, from the last hidden layer down, the
    activation update (eq. (6)) and the pre-activation update (eq. (7))
    turn the target above into targets for this layer.  Then every weight
    update (normal equations, the transpose reduction) with one reduction
    for all layers, and the multiplier update (eq. (8)).  Same kernels,
    different order: the hidden layers see the output's target every
    iteration instead of an auxiliary state that has drifted from the
    network.
    """
    X, L = st.X, len(W)
    sizes = st.sizes
    sw = st.sw
    for i in range(1, L):
        _check_finite(W[i], "weights", i + 1, it)
    ops = [K.activation_operator(W[i + 1], b, g, dtype=st.dtype) for i in range(L - 1)]
    shift = options.multiplier_in_weights

    def targets(bi):
        rows = blocks[bi]
        a = X[rows]
        hs, ms = [], []
        for i in range(L):
            m = K.linear(a, W[i], c[i])
            ms.append(m)
            if i < L - 1:
                a = activation(m)
                hs.append(a)
        lam = st.lam[rows]
        z_out = K.output_update(ms[-1], st.Y[rows], lam, b, loss)
        st.z[L - 1][rows] = z_out
        d = diag_blocks[bi]
        wr = None if sw is None else sw[rows, None]
        r = z_out - ms[-1]
        d[L - 1] = _sqsum(r, wr)
        d[2 * L - 1] = _wsum(LOSSES[loss](z_out, st.Y[rows]), wr)
        d[2 * L] = _wsum(lam * r, wr)
        z_next = z_out + lam * (0.5 / b) if shift else z_out
        for i in range(L - 2, -1, -1):
            a_new = K.activation_update(z_next, W[i + 1], c[i + 1], hs[i], b, g, op=ops[i])
            z_new = K.preactivation_update(a_new, ms[i], activation, b, g)
            st.a[i + 1][rows] = a_new
            st.z[i][rows] = z_new
            d[i] = _sqsum(z_new - ms[i], wr)
            d[L + i] = _sqsum(a_new - activation(z_new), wr)
            z_next = z_new
        out = []
        for i in range(L):
            t = st.z[i][rows]
            if i == L - 1 and shift:
                t = t + lam * (0.5 / b)
            out.extend(
                K.weight_statistics(st.a[i][rows], t, None if sw is None else sw[rows], gram=i > 0)
            )
        return out

    shapes = [(sizes[0] + 1, sizes[1])]
    for i in range(1, L):
        shapes += [(sizes[i] + 1, sizes[i] + 1), (sizes[i] + 1, sizes[i + 1])]
    sums = [gram0] + backend.reduce_blocks(targets, range(len(blocks)), shapes)
    for i in range(L):
        gram, cross = sums[2 * i], sums[2 * i + 1]
        _check_finite(gram, "activations a_{l-1} (Gram matrix)", i + 1, it)
        _check_finite(cross, "pre-activations z_l (cross products)", i + 1, it)
        W[i], c[i] = K.weight_update(gram, cross, options.alpha, b, dtype=st.dtype)
        _check_finite(W[i], "weights", i + 1, it)
    if not warm:

        def multiplier(bi):
            rows = blocks[bi]
            m = K.linear(st.a[L - 1][rows], W[L - 1], c[L - 1])
            st.lam[rows] = K.multiplier_update(st.lam[rows], st.z[L - 1][rows], m, step)

        backend.map_blocks(multiplier, range(len(blocks)))


def _search_sweep(
    st, W, c, blocks, backend, activation, loss, options, g, b, diag_blocks, it, gram0, search
):
    """One iteration of the relaxed solver (``variant="search"``, the default ``solver="admm"``).

    1. Forward pass per block (no communication): ``m_l = W_l a_{l-1}``,
       ``a_l = h(m_l)`` into the state.  The output layer is the exact
       ridge least-squares fit to the targets on these features (variable
       projection); it is known from the previous iteration's search, and
       reduced here only at the first iteration.
    2. Per block, Algorithm 1's sub-steps from the output down: the output
       update (closed form, ``lambda = 0``), then for each hidden layer the
       activation update (eq. (6)) and the pre-activation update (eq. (7)),
       which give every hidden layer a target ``z_l``.  One reduction of the
       weight statistics of all hidden layers; the normal equations give
       each its closed-form update, as the step ``W_l^+ - W_l``.
    3. Relaxation, layer by layer from the first: the candidates
       ``W_l + omega (W_l^+ - W_l) + mu U_l`` for ``omega`` in ``{0} U
       omega_l * relaxation_factors`` (``omega_l`` the layer's previous
       factor, times ``relaxation_shrink`` after a rejection; ``U_l`` its
       previous accepted update and ``mu`` the ``momentum``, dropped after a
       rejected search or a target switch); per
       block their features' Gram and cross sums (float64), all candidates
       in one reduction; per candidate the exact output-layer refit and its
       objective (:func:`~skadmm._kernels.readout_objective`, plus the
       hidden layers' ridge).  The best is kept only if it lowers the
       objective, so the objective never increases, and the state above the
       layer is brought forward before the next layer's search.  Each layer
       gets its own factor: the steps of eq. (6) shrink by a different
       ``||W_{l+1}||^2`` at every layer.  The step has no pull towards 0
       (``alpha`` damps its normal equations; see the comment below).

    Per-sample work stays communication-free; the iteration costs one
    reduction for the steps and one per hidden layer for the search (plus
    one at the first iteration), of small matrices whatever the number of
    rows.  Returns True when the search's last phase is spent:
    ``relaxation_patience`` consecutive iterations lowered the objective by
    no more than ``slow_tol`` (relative), or none of them lowered it at all.
    """
    X, L, sizes, sw, dtype = st.X, len(W), st.sizes, st.sw, st.dtype
    hidden = range(L - 1)
    Y64 = st.Y.astype(np.float64, copy=False)
    shapes = [(sizes[-2] + 1,) * 2, (sizes[-2] + 1, sizes[-1])]

    def inputs(i, rows):
        return X[rows] if i == 0 else st.a[i][rows]

    def refresh(rows, start):
        """State of layers ``start..L-2`` from the current weights (one block)."""
        a = inputs(start, rows) if start < L - 1 else st.a[L - 1][rows]
        for i in range(start, L - 1):
            m = K.linear(a, W[i], c[i])
            st.z[i][rows] = m
            a = activation(m)
            st.a[i + 1][rows] = a
        return a

    def hidden_ridge(Ws):
        """alpha/2 sum ||W_l||^2 of the hidden layers: the search minimises the
        regularised objective, so no step can buy a lower loss with unbounded
        weights (interpolating data would otherwise reward ever larger factors)."""
        return 0.5 * options.alpha * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in Ws)

    def readout_sums(F, rows):
        return K.weight_statistics(
            F.astype(np.float64), Y64[rows], None if sw is None else sw[rows]
        )

    if "yy" not in search:
        search["yy"] = float(
            backend.reduce_parts(
                [
                    np.array([_wsum(np.square(Y64[rows]), None if sw is None else sw[rows, None])])
                    for rows in blocks
                ],
                (1,),
            )[0]
        )
        search["omega"] = [options.relaxation_start] * (L - 1)
        G, R = backend.reduce_blocks(
            lambda bi: readout_sums(refresh(blocks[bi], 0), blocks[bi]),
            range(len(blocks)),
            shapes,
        )
        W[-1], c[-1] = K.weight_update(G, R, options.alpha, 0.5, dtype=dtype)
        search["objective"] = K.readout_objective(
            G, R, search["yy"], W[-1], c[-1], options.alpha
        ) + hidden_ridge(W[:-1])
    # otherwise the state is current: the previous search refreshed it
    start = search["objective"]
    for i in range(L):
        _check_finite(W[i], "weights", i + 1, it)
    ops = [K.activation_operator(W[i + 1], b, g, dtype=dtype) for i in hidden]
    # the output update that starts the targets: the fit's loss, or the
    # squared loss of the search's own objective (an ablation lever)
    squared = options.search_targets == "squared" or search.get("fallback", False)
    target_loss = "squared" if squared else loss

    def targets(bi):
        rows = blocks[bi]
        d = diag_blocks[bi]
        wr = None if sw is None else sw[rows, None]
        w = None if sw is None else sw[rows]
        m_out = K.linear(st.a[L - 1][rows], W[-1], c[-1])
        z_next = K.output_update(m_out, st.Y[rows], st.lam[rows], b, target_loss)
        d[L - 1] = _sqsum(z_next - m_out, wr)
        d[2 * L - 1] = _wsum(LOSSES[loss](z_next, st.Y[rows]), wr)
        out = [None] * (L - 1)
        for i in range(L - 2, -1, -1):
            m = st.z[i][rows]
            a_new = K.activation_update(
                z_next, W[i + 1], c[i + 1], st.a[i + 1][rows], b, g, op=ops[i]
            )
            z_next = K.preactivation_update(a_new, m, activation, b, g)
            d[L + i] = _sqsum(a_new - activation(z_next), wr)
            # the step is computed from the target's displacement directly,
            # not as the difference of two nearly equal weight matrices
            shift = z_next - m
            if restep and i > 0:
                search["target"][i][rows] = z_next
            d[i] = _sqsum(shift, wr)
            out[i] = K.weight_statistics(inputs(i, rows), shift, w, gram=i > 0)
        return [x for stats in out for x in stats]

    # Layers are searched from the first up: once a layer below has moved, the
    # next layer's step is solved again on its new inputs, for the same targets
    # (kept from the targets' pass), before its search.
    restep = options.refresh_steps and L > 2
    if restep and search.get("target") is None:
        search["target"] = [None] + [
            np.empty((X.shape[0], sizes[i + 1]), dtype=dtype) for i in range(1, L - 1)
        ]
    tshapes = [(sizes[0] + 1, sizes[1])]
    for i in range(1, L - 1):
        tshapes += [(sizes[i] + 1, sizes[i] + 1), (sizes[i] + 1, sizes[i + 1])]
    sums = [gram0] + backend.reduce_blocks(targets, range(len(blocks)), tshapes)
    damping = options.step_damping
    steps = []
    for i in hidden:
        gram, cross = sums[2 * i], sums[2 * i + 1]
        _check_finite(gram, "activations a_{l-1} (Gram matrix)", i + 1, it)
        _check_finite(cross, "pre-activations z_l (cross products)", i + 1, it)
        # The step solves the weight update's normal equations for the
        # targets' displacement: (G + alpha / (2 beta) D) dW = [a 1]^T (z - m).
        # alpha damps the step; there is no pull towards 0 (W^+ - W would
        # also hold -alpha / (2 beta) (G + ...)^{-1} W, which the relaxation
        # factor would amplify: where the inputs have no variance that part
        # is -W itself, and W would grow by |1 - omega| per iteration).
        step_alpha = _proximal_alpha(gram, options.alpha, b, damping)
        dW, dc = K.weight_update(gram, cross, step_alpha, b, dtype=dtype)
        _check_finite(dW, "weights", i + 1, it)
        steps.append((dW, dc))

    # a_{l-1} dW_l of the layer being searched, for the refresh of the chosen
    # candidate without a second product
    if search.get("move") is None:
        search["move"] = np.empty((X.shape[0], max(sizes[1:-1])), dtype=dtype)
    move = search["move"]
    # Heavy ball: each layer's candidates start from W_l + mu U_l, with U_l
    # its last accepted update (None after a rejected search: restart).  The
    # pre-activations' share a_{l-1} U_l is kept per layer: for the first
    # layer (a_0 = X) it stays exact and saves an X-sized product; above, the
    # inputs have moved since, so it is recomputed (a hidden-width product).
    mu = options.momentum
    if mu and search.get("previous") is None:
        search["previous"] = [None] * (L - 1)
        search["previous_move"] = [
            np.empty((X.shape[0], sizes[i + 1]), dtype=dtype) for i in hidden
        ]
    previous = search.get("previous") or [None] * (L - 1)
    chosen = []
    moved_below = False
    for i in hidden:
        if restep and i > 0 and moved_below:

            def fresh(bi, i=i):
                rows = blocks[bi]
                return K.weight_statistics(
                    st.a[i][rows],
                    search["target"][i][rows] - st.z[i][rows],
                    None if sw is None else sw[rows],
                )

            G, R = backend.reduce_blocks(
                fresh, range(len(blocks)), [(sizes[i] + 1,) * 2, (sizes[i] + 1, sizes[i + 1])]
            )
            _check_finite(G, "activations a_{l-1} (Gram matrix)", i + 1, it)
            _check_finite(R, "pre-activations z_l (cross products)", i + 1, it)
            step_alpha = _proximal_alpha(G, options.alpha, b, damping)
            steps[i] = K.weight_update(G, R, step_alpha, b, dtype=dtype)
        omegas = [search["omega"][i] * f for f in options.relaxation_factors]
        prev = previous[i]

        # The layer's input is fixed during its search, so the candidates'
        # pre-activations are m_l + omega a_{l-1} dW (+ mu a_{l-1} U_l): one
        # product for all, kept for the refresh of the chosen one.
        def candidates(bi, i=i, omegas=omegas, prev=prev):
            rows = blocks[bi]
            m = st.z[i][rows]
            step = K.linear(inputs(i, rows), *steps[i])
            move[rows, : step.shape[1]] = step
            if prev is not None:
                pm = search["previous_move"][i]
                if i > 0:
                    pm[rows] = K.linear(inputs(i, rows), *prev)
                m = m + mu * pm[rows]
            out = []
            for omega in omegas:
                a = activation(m + omega * step)
                for j in range(i + 1, L - 1):
                    a = activation(K.linear(a, W[j], c[j]))
                if options.relaxation_refit:
                    out.extend(readout_sums(a, rows))
                else:  # with the current output layer: a residual, no Gram
                    r = K.linear(a, W[-1], c[-1])
                    r -= Y64[rows]
                    out.append(np.array([_sqsum(r, None if sw is None else sw[rows, None])]))
            return out

        if options.relaxation_refit:
            cshapes = shapes * len(omegas)
        else:
            cshapes = [(1,)] * len(omegas)
        csums = backend.reduce_blocks(candidates, range(len(blocks)), cshapes)
        # A candidate must lower the objective (and beat the candidates before
        # it) by more than rounding can: sums in another order, on another
        # number of processes or with rows repeated instead of weighted, must
        # make the same choice.
        best = (search["objective"], 0.0, None, None)
        ridge_out = 0.5 * options.alpha * float(np.sum(np.square(W[-1], dtype=np.float64)))
        for k, omega in enumerate(omegas):
            ridge = hidden_ridge(
                [
                    K.relaxed_step(W[j], steps[j][0], omega, prev and prev[0], mu)
                    if j == i
                    else W[j]
                    for j in hidden
                ]
            )
            if options.relaxation_refit:
                G, R = csums[2 * k], csums[2 * k + 1]
                if not (np.all(np.isfinite(G)) and np.all(np.isfinite(R))):
                    continue
                Wo, co = K.weight_update(G, R, options.alpha, 0.5, dtype=dtype)
                obj = K.readout_objective(G, R, search["yy"], Wo, co, options.alpha) + ridge
            else:
                Wo, co = W[-1], c[-1]
                obj = 0.5 * float(csums[k][0]) + ridge_out + ridge
            if obj < best[0] - 1e-9 * abs(best[0]):
                best = (obj, omega, Wo, co)
        chosen.append(best[1])
        if best[2] is None:
            search["omega"][i] *= options.relaxation_shrink
            if mu:
                previous[i] = None
            continue
        search["omega"][i] = best[1]
        moved_below = True
        update = [K.relaxed_update(steps[i][k], best[1], prev and prev[k], mu) for k in range(2)]
        W[i] = W[i] + update[0]
        c[i] = c[i] + update[1]
        if mu:
            previous[i] = update

        def accept(bi, i=i, omega=best[1], prev=prev):
            rows = blocks[bi]
            m = st.z[i][rows]
            shift = omega * move[rows, : m.shape[1]]
            if prev is not None:
                shift += mu * search["previous_move"][i][rows]
            if mu:
                search["previous_move"][i][rows] = shift
            m += shift
            st.z[i][rows] = m
            st.a[i + 1][rows] = activation(m)
            return refresh(rows, i + 1)

        # the next layer's search (and the next iteration) start from the new
        # state; without the candidates' refits, the output layer is refitted
        # to it in the same pass (variable projection: the objective only drops)
        if options.relaxation_refit:
            search["objective"] = best[0]
            W[-1], c[-1] = best[2], best[3]
            backend.map_blocks(accept, range(len(blocks)))
        else:
            G, R = backend.reduce_blocks(
                lambda bi: readout_sums(accept(bi), blocks[bi]),
                range(len(blocks)),
                shapes,
            )
            W[-1], c[-1] = K.weight_update(G, R, options.alpha, 0.5, dtype=dtype)
            search["objective"] = K.readout_objective(
                G, R, search["yy"], W[-1], c[-1], options.alpha
            ) + hidden_ridge(W[:-1])
    search["omegas"].append(chosen)
    search["curve"].append(search["objective"])
    search["stalls"] = 0 if any(chosen) else search["stalls"] + 1
    if options.slow_tol is None:  # the search's own rule is off
        return False
    # slow: the objective fell by no more than slow_tol (relative); a stall is slow.
    # relaxation_patience slow iterations in a row end a phase of the search.
    decrease = (start - search["objective"]) / max(abs(start), np.finfo(float).tiny)
    slow = decrease <= options.slow_tol
    search["slow"] = search.get("slow", 0) + 1 if slow else 0
    if search["slow"] >= options.relaxation_patience:
        # the phase is spent: the first one switches the targets, the last one ends
        return not _switch_targets(search, it, loss, options)
    return search["stalls"] >= options.relaxation_patience


def _switch_targets(search, it, loss, options):
    """End the search's first phase: from the next iteration the hidden targets come from
    the squared output update (``search_targets="then-squared"``).  Returns False when
    there is nothing to switch to (another setting, the squared loss, already switched)."""
    if (
        options.search_targets != "then-squared"
        or loss == "squared"  # its targets are the squared ones already
        or search.get("fallback")
    ):
        return False
    search["fallback"] = True
    search["fallback_from"] = it + 1
    search["stalls"] = search["slow"] = 0
    if search.get("previous") is not None:  # a new direction field: no momentum
        search["previous"] = [None] * len(search["previous"])
    search["omega"] = [options.relaxation_start] * len(search["omega"])
    return True


def _wsum(values, weight):
    if weight is None:
        return float(np.sum(values, dtype=np.float64))
    return float(np.sum(values * weight, dtype=np.float64))


def _sqsum(values, weight):
    """Weighted sum of squares without a squared temporary (a BLAS dot)."""
    flat = values.ravel()
    if weight is None:
        return float(np.dot(flat, flat))
    return float(np.dot(flat, (values * weight).ravel()))


def _worst(values):
    """1-based index of the first non-finite entry (for error messages)."""
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) + 1 if bad.size else 1
