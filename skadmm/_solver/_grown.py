"""The default solver's deep networks: grown from one hidden layer (:func:`_grown_fit`)."""

from dataclasses import replace

import numpy as np

from .. import _kernels as K
from .._growth import identity_piece, insert_layers
from ..backends import BLOCK_ROWS
from ._init import random_weights
from ._network import Stage, fit_network
from ._state import hidden_features

__all__ = ["grows"]


def grows(options, hidden_layer_sizes, activation, init_coefs):
    """Whether :func:`~skadmm._solver.admm_fit` grows the network (:func:`_grown_fit`)."""
    return (
        options.variant == "search"
        and options.growth
        and init_coefs is None
        and len(hidden_layer_sizes) >= 2
        and identity_piece(activation) is not None
    )


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
    common = dict(activation=activation, backend=backend, seed=seed, **kw)
    shallow = fit_network(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes[:1],
        options=options,
        stage=Stage(final=False),
        **common,
    )
    sizes = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    low, out_range = _unit_ranges(X, Y, shallow, hidden_layer_sizes, activation, backend)
    W, c = shallow.coefs, shallow.intercepts
    grown = insert_layers(
        W, c, sizes, activation, low, random_weights(seed, sizes, X.dtype), X.dtype, out_range
    )
    # a fit stopped in stage 1 (by a callback or the user) returns the grown start
    halted = shallow.interrupted or shallow.callback_stopped
    deep = fit_network(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes,
        options=replace(options, max_iter=shallow.n_iter) if halted else options,
        init_coefs=grown,
        stage=Stage(before=shallow, start=grown),
        **common,
    )
    if halted:
        deep.message, deep.converged = shallow.message, shallow.converged
        deep.interrupted, deep.callback_stopped = shallow.interrupted, shallow.callback_stopped
    return deep


def _unit_ranges(X, Y, shallow, hidden_layer_sizes, activation, backend):
    """What :func:`~skadmm._growth.insert_layers` needs of the shallow network's rows.

    Per unit, the least first-layer activation on the training rows (leaky
    ReLU: the piece does not reach it, and the inserted layers shift each
    unit by it); per output, the range of the network's outputs (a narrower
    layer carries the outputs themselves): one allgather of a few rows, only
    when one of the two is needed.  Returns ``(low, out_range)``.
    """
    W, c = shallow.coefs, shallow.intercepts
    piece = identity_piece(activation)
    width = hidden_layer_sizes[0]
    low = np.zeros(width)
    image_low = min(
        p.slope * (p.lo if p.slope > 0 else p.hi) + p.offset for p in activation.pieces
    )
    shift = np.isfinite(piece[2]) and image_low < piece[2]
    narrows = any(b < a for a, b in zip(hidden_layer_sizes, hidden_layer_sizes[1:]))
    if not (shift or narrows):
        return low, None
    parts = [np.full(width, np.inf), np.full(Y.shape[1], np.inf), np.full(Y.shape[1], -np.inf)]
    for start in range(0, X.shape[0], BLOCK_ROWS):
        a = hidden_features(X[start : start + BLOCK_ROWS], W, c, activation)
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
        return low, (f_lo, f_hi)
    return low, None
