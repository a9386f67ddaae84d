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
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as K
from ._activations import LOSSES
from .backends import BLOCK_ROWS, block_rows_for, blocks_for

__all__ = ["ADMMResult", "DivergenceError", "SolverOptions", "admm_fit"]


class DivergenceError(ValueError):
    """A non-finite value appeared in the ADMM iterates.

    Raised at the iteration where it appears; the message names the layer,
    the quantity and the iteration, and suggests a fix.
    """


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

    ``init``: ``"gaussian"`` (paper section 6: unit Gaussian ``z``, zero
    weights), ``"forward"`` (a forward pass of :func:`random_weights` with
    spread hidden biases) or ``"glorot"`` (the same with plain Glorot
    biases).  ``sweep``: ``"forward"`` (Algorithm 1's layer order) or
    ``"backward"`` (:func:`_backward_sweep`).  ``penalty_start`` and
    ``penalty_growth``: continuation of gamma and beta.  ``readout_iter``:
    iterations of the final output-layer refit (:func:`_refit_readout`),
    0 for none.  The estimators' ``solver="paper"`` is
    ``variant="paper", init="gaussian", readout_iter=0``; their default
    ``solver="admm"`` is ``variant="admm", init="forward", readout_iter=50``.
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

    def penalty_scale(self, iteration):
        """Continuation: gamma and beta are scaled by min(1, start * growth^(k-1))."""
        if self.penalty_growth <= 1.0 and self.penalty_start >= 1.0:
            return 1.0
        return min(1.0, self.penalty_start * self.penalty_growth ** (iteration - 1))

    def multiplier_step(self, beta):
        return beta if self.variant == "paper" else 2.0 * beta

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
        ``alpha / (2 sum(w)) * sum ||W||^2``), as ``MLPClassifier.loss_curve_``.
    objective_curve : list of float
        Per iteration, the augmented objective (paper eq. (5)) of the
        iterates, with the multiplier term ``<lambda, z_L - W_L a_{L-1}>``.
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
        Iterations of the final readout refit (0: none).
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
    residuals: np.ndarray = None
    activation_residuals: np.ndarray = None
    validation_scores: list = None
    best_validation_score: float = None
    best_loss: float = np.inf
    bytes_reduced: list = field(default_factory=list)
    times: list = field(default_factory=list)
    interrupted: bool = False
    readout_n_iter: int = 0
    total_time: float = 0.0


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
):
    """Train a feed-forward network by ADMM / Bregman iteration (paper Algorithm 1).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_local, n_features)
        This process's rows; float32 or float64 (the iterates use its dtype).
    Y : ndarray of shape (n_local, n_outputs)
        Targets: 0/1 indicators for the hinge loss, values for the squared loss.
    hidden_layer_sizes : tuple of int
    activation : PiecewiseLinear
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
    validation : tuple (stats_fn, score_fn), default=None
        ``stats_fn(coefs, intercepts)`` returns an array of local sums over
        this process's validation rows; ``score_fn(global_sums)`` turns
        their all-reduced value into a score (higher is better).  Enables
        early stopping with restoration of the best weights.
    callback : callable, default=None
        ``callback(iteration, info)`` after every iteration; ``info`` is a
        dict of the current diagnostics.  Returning True stops the fit.
    verbose : bool
        Print one line per iteration on rank 0.

    Returns
    -------
    ADMMResult
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}")
    dtype = X.dtype
    n_local = X.shape[0]
    sizes = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    L = len(sizes) - 1
    alpha = options.alpha
    offset = backend.row_offset(n_local)
    block_rows = block_rows_for(sizes, np.dtype(dtype).itemsize)
    blocks = [rows for _, rows in blocks_for(offset, n_local, block_rows)]
    seed = int(backend.bcast(seed))
    sw = sample_weight
    Yd = Y.astype(dtype, copy=False)
    st = _State(X, Yd, sw, sizes, dtype)
    sw_total = float(backend.allreduce(np.array([n_local if sw is None else float(sw.sum())]))[0])

    # ---- initial state ---------------------------------------------------
    if init_coefs is None and (options.init != "gaussian" or options.sweep == "backward"):
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
    last_good = None  # weights after the last complete iteration
    residuals, act_residuals = [], []
    best = None  # (score, coefs, intercepts)
    no_improve = 0
    best_loss = np.inf
    val_scores = [] if validation is not None else None
    t0 = time.perf_counter()
    n_iter = 0
    message = f"max_iter={options.max_iter} reached"
    converged = False
    lam_target = options.multiplier_in_weights

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
        for it in range(1, options.max_iter + 1):
            bytes_before = backend.bytes_reduced
            warm = it <= options.n_warmup_iter
            scale = options.penalty_scale(it)
            g, b = options.gamma * scale, options.beta * scale
            step = options.multiplier_step(b)
            diag_blocks = [np.zeros(2 * L + 1) for _ in blocks]
            # diag layout per block: [sum (z_l - m_l)^2 for l] +
            #   [sum (a_l - h(z_l))^2 for hidden l] + [loss(z_L)] + [<lam, z_L - m_L>]
            if options.sweep == "backward":
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

            # ---- diagnostics: one reduction of a few scalars --------------
            def train_loss(bi):
                rows = blocks[bi]
                f = K.forward(X[rows], W, c, activation)
                wr = None if sw is None else sw[rows, None]
                return (np.array([_wsum(LOSSES[loss](f, st.Y[rows]), wr)]),)

            local = np.sum(diag_blocks, axis=0) if blocks else np.zeros(2 * L + 1)
            fwd = backend.map_blocks(train_loss, range(len(blocks)))
            fwd_sum = float(np.sum([x[0][0] for x in fwd])) if fwd else 0.0
            extra = np.zeros(0)
            if validation is not None:
                extra = np.asarray(validation[0](W, c), dtype=np.float64)
            packed = backend.allreduce(np.concatenate([local, [fwd_sum], extra]))
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
                if best is None or score > best[0]:
                    best = (score, [w.copy() for w in W], [v.copy() for v in c])
                if not warm:
                    no_improve = no_improve + 1 if score < best[0] + options.tol else 0
            elif not warm:
                no_improve = no_improve + 1 if train > best_loss - options.tol else 0
            best_loss = min(best_loss, train)
            result.bytes_reduced.append(backend.bytes_reduced - bytes_before)
            last_good = ([w.copy() for w in W], [v.copy() for v in c])

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
                    "coefs": W,
                    "intercepts": c,
                }
                if callback(it, info):
                    converged, message = True, f"callback stopped the fit at iteration {it}"
                    break
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
    if options.readout_iter and L >= 2 and n_iter > 0:
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
    return result


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
