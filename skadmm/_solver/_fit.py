"""The solver's entry point, :func:`admm_fit`."""

from .._activations import LOSSES
from ._grown import _grown_fit, grows
from ._network import fit_network

__all__ = ["admm_fit"]


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
    kw = dict(
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
    if grows(options, hidden_layer_sizes, activation, init_coefs):
        return _grown_fit(X, Y, **kw)
    return fit_network(X, Y, init_coefs=init_coefs, **kw)
