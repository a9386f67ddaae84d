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
    Then, with ``layerwise`` (the default) and a validation split, one
    layer-wise stage per further hidden layer: layer ``l`` is fitted as the
    one hidden layer of a network on the standardised features of the fixed
    layers below it, from a random forward start (Belilovsky et al. 2019's
    greedy layer-wise training: each stage is the one-hidden-layer problem
    the solver does well), with ``options.layerwise_targets`` as its
    ``search_targets`` (the estimators': ``"squared"``, one phase).  A stage's
    validation scores and callbacks see the whole network; its first
    candidate of early stopping is the network before it, and a stage that
    does not beat it ends the layer-wise stages.  Any hidden layer the
    stages did not reach is then inserted below the output layer as an
    identity on its inputs (:func:`~skadmm._growth.insert_layers`).  The
    last stage fits the full network from that grown start; by
    ``options.full_stage`` (the estimators': ``"without-split"``) it runs
    only where no layer-wise stage could be judged (without a validation
    split, or with ``layerwise=False``), and otherwise runs no iteration:
    the grown start is returned, its output layer fitted, with the stop
    reason of the last stage that ran (measured in
    ``benchmarks/results/full_stage.md``, at 2 and 3 hidden layers: on the
    validation splits of every classification dataset the full stage after
    the layer-wise ones raised the mean accuracy by 0.08 point at 2.4 times
    the fit time, and on those of the two regressors that hold out a split
    the mean R^2 by 0.0004 at 2.3 times the time).  Where it runs, it starts
    by computing the grown start's function (with a validation split, under
    ``"always"``, that start, scored as the stages' best, is again the
    first candidate of early stopping).  By default, with a validation
    split, each layer of the returned network above the first is a layer-wise stage's
    that beat the stack below it there, or an identity.

    Why not identities alone: a layer inserted as the identity below the
    output layer is a stationary point of the objective the search
    minimises (the output layer is its least-squares fit, so the residual
    is orthogonal to the features the inserted layer passes on, and so is
    every step of eq. (6)/(7) and the least-squares weight update: it
    vanishes, up to the units at a kink).  Measured on the shared
    datasets' validation splits (``benchmarks/results/growth.md``, its
    identities-only column, in the version of that table before the
    progress-relative stopping rule, commit 92c4d6c): identities alone kept
    2 and 3 hidden layers within 0.1 point of the one-layer network's score
    on 9 of the 11 classification sets.

    The stages share ``max_iter``; iterations, curves and times run on across
    them (per-layer curves hold NaN for the layers a stage does not fit).
    Each layer-wise stage costs one forward pass of the stack and one
    reduction of its inputs' Gram matrix (for the standardisation), plus
    its iterations, those of one hidden layer; the identities cost one
    allgather of three short rows (only for leaky ReLU or a layer narrower
    than the one below it, :func:`_unit_ranges`).
    """
    common = dict(activation=activation, backend=backend, **kw)
    n_hidden = len(hidden_layer_sizes)
    sizes = [X.shape[1], *hidden_layer_sizes, Y.shape[1]]
    last = fit_network(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes[:1],
        options=options,
        seed=seed,
        stage=Stage(final=False),
        **common,
    )
    curves = _Curves(n_hidden)
    curves.add(last, 0)
    stack = (last.coefs, last.intercepts)
    # a layer-wise stage is kept only where held-out rows judge it better than the stack
    # below (without them every stage lowers the training loss: puma8NH's R^2 fell by
    # 0.18 at 3 layers); without a validation split the layers above are identities
    judged = options.layerwise and kw.get("validation") is not None
    identities = False  # the first layer-wise stage did not beat its start
    layerwise = options
    if options.layerwise_targets is not None:
        layerwise = replace(options, search_targets=options.layerwise_targets)
    for k in range(1, n_hidden if judged else 1):
        if _halted(last) or last.n_iter >= options.max_iter:
            break
        lower = (stack[0][:-1], stack[1][:-1])
        res = fit_network(
            X,
            Y,
            hidden_layer_sizes=hidden_layer_sizes[k : k + 1],
            options=layerwise,
            seed=seed + k,
            stage=Stage(before=last, start=stack, final=False, lower=lower),
            **common,
        )
        curves.add(res, k)
        last = res
        if len(res.coefs) != k + 2:  # the stack below stayed the best: stop here
            identities = k == 1
            break
        stack = (res.coefs, res.intercepts)
    grown = stack
    if len(stack[0]) < n_hidden + 1:
        low, out_range = _unit_ranges(X, stack, sizes, activation, backend)
        fresh = random_weights(seed, sizes, X.dtype)
        grown = insert_layers(*stack, sizes, activation, low, fresh, X.dtype, out_range)
    # a fit stopped by a callback or the user returns the grown start, and so does
    # one whose full stage the option skips (_skips_full_stage)
    halted = _halted(last) or _skips_full_stage(options.full_stage, judged, identities)
    before = curves.result(last)
    deep = fit_network(
        X,
        Y,
        hidden_layer_sizes=hidden_layer_sizes,
        options=replace(options, max_iter=last.n_iter) if halted else options,
        seed=seed,
        init_coefs=grown,
        stage=Stage(before=before, start=grown),
        **common,
    )
    if deep.n_iter == last.n_iter:  # no iteration of its own: the switch is the
        deep.squared_targets_from = last.squared_targets_from  # last stage's that ran
    if halted:  # the last stage that ran speaks for the fit
        deep.message, deep.converged = last.message, last.converged
        deep.interrupted, deep.callback_stopped = last.interrupted, last.callback_stopped
    return deep


def _skips_full_stage(full_stage, judged, identities):
    """Whether the full network's stage runs no iteration (``SolverOptions.full_stage``)."""
    if full_stage == "unless-identities":
        return identities
    return full_stage == "without-split" and judged


def _halted(result):
    return result.interrupted or result.callback_stopped


class _Curves:
    """The per-layer curves of the stages before the last, in the full network's columns.

    Each stage's result holds them in its own network's columns (one hidden
    layer and the output); the last stage goes on from the full-width ones.
    """

    def __init__(self, n_hidden):
        self.n_hidden, self.rows = n_hidden, 0
        self.residuals, self.activation, self.factors = [], [], []

    def add(self, result, layer):
        new = slice(self.rows, result.n_iter)
        r = result.residuals[new]
        full = np.full((r.shape[0], self.n_hidden + 1), np.nan)
        full[:, layer], full[:, -1] = r[:, 0], r[:, -1]
        self.residuals.append(full)
        for store, part in (
            (self.activation, result.activation_residuals[new]),
            (self.factors, result.relaxation_factors[new]),
        ):
            wide = np.full((part.shape[0], self.n_hidden), np.nan)
            wide[:, layer] = part[:, 0]
            store.append(wide)
        self.rows = result.n_iter

    def result(self, last):
        """``last`` with the stages' per-layer curves in the full network's columns."""
        return replace(
            last,
            residuals=np.vstack(self.residuals),
            activation_residuals=np.vstack(self.activation),
            relaxation_factors=np.vstack(self.factors),
        )


def _unit_ranges(X, stack, sizes, activation, backend):
    """What :func:`~skadmm._growth.insert_layers` needs of the stack's rows.

    Per unit, the least activation of the stack's last hidden layer on the
    training rows (leaky ReLU: the piece does not reach it, and the inserted
    layers shift each unit by it); per output, the range of the network's
    outputs (a narrower layer carries the outputs themselves): one
    allgather of a few rows, only when one of the two is needed.  Returns
    ``(low, out_range)``.  ``sizes``: the deep network's layer sizes.
    """
    W, c = stack
    hidden, kept = sizes[1:-1], len(W) - 1
    piece = identity_piece(activation)
    width = W[-1].shape[0]
    low = np.zeros(width)
    image_low = min(
        p.slope * (p.lo if p.slope > 0 else p.hi) + p.offset for p in activation.pieces
    )
    shift = np.isfinite(piece[2]) and image_low < piece[2]
    narrows = any(b < a for a, b in zip(hidden[kept - 1 :], hidden[kept:]))
    if not (shift or narrows):
        return low, None
    n_out = W[-1].shape[1]
    parts = [np.full(width, np.inf), np.full(n_out, np.inf), np.full(n_out, -np.inf)]
    for start in range(0, X.shape[0], BLOCK_ROWS):
        a = hidden_features(X[start : start + BLOCK_ROWS], W, c, activation)
        f = K.linear(a, W[-1], c[-1])
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
