"""One fit of one network: the state, the update rule, the loop, the output layer."""

import time
from dataclasses import dataclass

import numpy as np

from .. import _kernels as K
from ..backends import block_rows_for, blocks_for
from ._checks import check_finite, sum_parts
from ._init import initialise
from ._loop import Loop, Progress
from ._options import ADMMResult, SolverOptions
from ._output import fit_output_layer
from ._paper import Algorithm1, BackwardSweep
from ._search import Search
from ._state import State, hidden_features

__all__ = ["Stage", "fit_network", "stacked"]


@dataclass(frozen=True)
class Stage:
    """Which stage of a grown fit (:func:`~skadmm._solver._grown._grown_fit`) this is.

    ``before``: the previous stage's result (this one goes on from it),
    ``start``: the previous stage's model ``(coefs, intercepts)`` (the
    first candidate of early stopping), ``final``: whether the returned
    output layer's fit follows.  ``lower``: a layer-wise stage, whose inputs
    are the features of the rows ``X`` through the fixed hidden layers
    ``lower = (coefs, intercepts)`` below it (:func:`_features`, a new
    array), standardised in place (the reproducible weighted Gram sums,
    :func:`_standardize`); validation, callbacks and the returned
    weights see the whole network, the lower layers and the standardisation
    folded into the stage's first layer (:func:`stacked`).  The default is
    a fit of its own.
    """

    before: ADMMResult = None
    start: tuple = None
    final: bool = True
    lower: tuple = None


def fit_network(
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
    stage=Stage(),
):
    """:func:`~skadmm._solver.admm_fit` on one network, without growth (same parameters)."""
    lower = stage.lower
    if lower is not None and stage.final:
        raise ValueError("a layer-wise stage has no output-layer fit of its own (final=False)")
    n_in = X.shape[1] if lower is None else lower[0][-1].shape[1]
    sizes = [n_in, *hidden_layer_sizes, Y.shape[1]]
    block_rows = block_rows_for(sizes, np.dtype(X.dtype).itemsize)
    # under MPI each rank then starts on a chunk of the reproducible sums
    X, Y, sample_weight = backend.align_rows(block_rows, X, Y, sample_weight)
    if lower is not None:  # a layer-wise stage: its rows are the lower layers' features
        X = _features(X, lower, activation, backend, block_rows)
    st = State(X, Y, sample_weight, sizes, activation, backend, block_rows)
    seed = int(backend.bcast(seed))
    st.sw_total = st.weight_total()
    view = _view(options, Y.shape[1], st.dtype)
    if stage.lower is not None:  # a layer-wise stage: its inputs standardised first
        mean, scale = _standardize(st, st.input_gram())

        def view(W, c, own=view):
            return stacked(stage.lower, mean, scale, *own(W, c))

    initialise(st, options, seed, init_coefs)
    result = ADMMResult(coefs=st.W, intercepts=st.c)
    progress = Progress(
        message=f"max_iter={options.max_iter} reached",
        validation_scores=[] if validation is not None else None,
    )
    if stage.before is not None:
        progress.resume(stage.before, stage.start, st.n_layers, result)
    # The first layer's input a_0 = X is fixed: one reduction before the loop
    # instead of one per iteration (for wide inputs the largest product).
    gram0 = st.input_gram()
    check_finite(gram0, "inputs X (Gram matrix)", 1, 0)
    rule = _rule_for(st, options, loss, gram0, stage)
    loop = Loop(
        st,
        rule,
        options,
        validation=validation,
        callback=callback,
        verbose=verbose,
        task_hook=task_hook,
        view=view,
    )
    loop.run(progress, result)
    W, c = _returned_weights(st, progress, result, stage.final)
    if stage.lower is not None and W is st.W:  # no iterate was kept: the stage's own
        W, c = view(W, c)
    if stage.final and (options.readout == "log-loss" or _refits(options, st, progress)):
        if task_hook is not None:
            task_hook("readout")
        if options.readout == "log-loss":
            warm_model = init_coefs if stage.before is None else None  # a fitted model
            W, c = fit_output_layer(st, W, c, options, warm_model, validation, result)
        else:
            W, c, result.readout_n_iter = _refit_readout(st, W, c, loss, options, seed)
            if validation is not None:  # the score reported is the returned model's
                final = sum_parts(st.backend, validation[0](W, c))
                result.best_validation_score = float(validation[1](final))
    _finish(result, st, rule, progress, W, c)
    return result


def _features(X, lower, activation, backend, block_rows):
    """A layer-wise stage's inputs: the last hidden features of the fixed layers
    ``lower`` on the rows ``X``, a new array, computed on the same global blocks as every
    per-sample pass (so a product's rounding does not depend on the partition)."""
    W, c = lower
    F = np.empty((X.shape[0], W[-1].shape[1]), dtype=X.dtype)
    for _, rows in blocks_for(backend.row_offset(X.shape[0]), X.shape[0], block_rows):
        a = X[rows]
        for w, b in zip(W, c):
            a = activation(K.linear(a, w, b))
        F[rows] = a
    return F


def _standardize(st, gram):
    """Standardise a layer-wise stage's inputs ``st.X`` in place, per column.

    The weighted means and standard deviations come from ``gram``, the
    Gram matrix of ``[X 1]`` as the reductions sum it (its last row holds
    ``sum w x`` and ``sum w``, its diagonal ``sum w x^2``), so they are the
    same on every backend and partition (in float32 the one-pass variance
    is as precise as the data's dtype: the scale only conditions the
    stage, the folding into the weights is exact algebra).  A column with
    no spread (a unit that never fires) keeps the scale 1.  Returns
    ``(mean, scale)`` in the inputs' dtype.
    """
    d = gram.shape[0] - 1
    total = max(float(gram[d, d]), np.finfo(float).tiny)
    mean = gram[d, :d] / total
    var = np.maximum(np.diag(gram)[:d] / total - mean**2, 0.0)
    scale = np.sqrt(var)
    scale = np.where(scale > 1e-6 * max(1.0, float(np.max(np.abs(mean), initial=0.0))), scale, 1.0)
    mean, scale = mean.astype(st.dtype), scale.astype(st.dtype)

    def apply(k, rows):
        x = st.X[rows]
        x -= mean
        x /= scale

    st.map(apply)
    return mean, scale


def stacked(lower, mean, scale, W, c):
    """The whole network of a layer-wise stage: the fixed hidden layers ``lower``, then
    the stage's layers ``(W, c)`` read on inputs standardised by ``mean``, ``scale``
    (folded into its first layer: ``((a - mean) / scale) W = a (W / scale) - (mean /
    scale) W``)."""
    first = W[0] / scale[:, None]
    bias = c[0] - (mean / scale) @ W[0]
    return (
        list(lower[0]) + [first.astype(W[0].dtype)] + list(W[1:]),
        list(lower[1]) + [bias.astype(c[0].dtype)] + list(c[1:]),
    )


def _rule_for(st, options, loss, gram0, stage):
    """The update rule of ``options.variant`` (and ``sweep``)."""
    if options.variant == "search" and st.n_layers >= 2:
        history = () if stage.before is None else stage.before.relaxation_factors
        return Search(st, options, loss, gram0, history)
    if options.sweep == "backward":
        return BackwardSweep(st, options, loss, gram0)
    return Algorithm1(st, options, loss, gram0)


def _view(options, n_outputs, dtype):
    """The model validation and callbacks see: the iterate, its own output layer read
    as logits (0/1 targets: the threshold 1/2 moves to 0)."""
    if options.readout == "log-loss" and n_outputs == 1:
        return lambda W, c: (W, c[:-1] + [c[-1] - np.asarray(0.5, dtype=dtype)])
    return lambda W, c: (W, c)


def _refits(options, st, progress):
    """Whether the ADMM readout refit (``readout_iter``) follows the iterations."""
    return bool(options.readout_iter) and st.n_layers >= 2 and progress.n_iter > 0


def _returned_weights(st, progress, result, final):
    """The best validation iterate, else (interrupted, or a first stage) the last
    complete one, else the last."""
    W, c = st.W, st.c
    if result.interrupted:
        W, c = progress.last_good
    if progress.best is not None:
        result.best_validation_score = progress.best[0]
        W, c = progress.best[1], progress.best[2]
    elif not final and progress.last_good is not None:
        W, c = progress.last_good
    return W, c


def _finish(result, st, rule, progress, W, c):
    L, n_iter = st.n_layers, progress.n_iter
    result.coefs, result.intercepts = W, c
    result.total_time = time.perf_counter() - progress.t0
    result.n_iter = n_iter
    result.converged = progress.converged
    result.message = progress.message
    result.best_loss = progress.best_loss
    result.validation_scores = progress.validation_scores
    result.residuals = np.array(progress.residuals, dtype=float).reshape(n_iter, L)
    result.activation_residuals = np.array(progress.activation_residuals, dtype=float).reshape(
        n_iter, L - 1
    )
    rule.report(result)


def _refit_readout(st, W, c, loss, options, seed):
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
    F = st.a[len(W) - 1]

    def features(k, rows):
        F[rows] = hidden_features(st.X[rows], W, c, st.activation)

    st.map(features)
    st.z = st.a = None  # the hidden state is no longer needed
    sub = SolverOptions(
        gamma=options.gamma,
        beta=options.beta,
        alpha=options.alpha,
        n_warmup_iter=0,
        max_iter=options.readout_iter,
        tol=options.tol,
        n_iter_no_change=options.n_iter_no_change,
        variant="multipliers",
    )
    res = fit_network(
        F,
        st.Y,
        hidden_layer_sizes=[],
        activation=st.activation,
        loss=loss,
        options=sub,
        backend=st.backend,
        seed=seed,
        sample_weight=st.sw,
        init_coefs=([W[-1]], [c[-1]]),
    )
    return W[:-1] + res.coefs, c[:-1] + res.intercepts, res.n_iter
