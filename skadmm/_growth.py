"""Function-preserving growth: a deep network that starts where a shallow one ended.

The default solver trains a network of ``L - 1 >= 2`` hidden layers in
stages (:func:`skadmm._solver._grown._grown_fit`): the network with the first
hidden layer only, then (with a validation split) layer-wise stages; the
deepest stack reached gets the missing layers inserted below its output
layer as identities on their inputs (Net2Net, Chen, Goodfellow & Shlens
2016), and without a validation split the full network is fitted from there.
The grown network computes the stack's function on the training rows, so
where the full network is fitted from it, a search that only accepts
decreases of its objective, and early stopping that counts the start among
its candidates, return a deep network no worse than the stack on the rows
they judge.  (Identities alone do not train the inserted layers: see
:func:`~skadmm._solver._grown._grown_fit`.)

For a piecewise-linear activation ``h`` the identity is exact: on one of its
linear pieces ``h(z) = slope * z + offset``; a layer with weights
``I / slope`` and biases ``(t - offset) / slope`` maps every activation
``a`` of the layer below to ``h(...) = a + t`` as long as ``a + t`` stays in
that piece's output range, and the next layer's bias absorbs ``-t``.  For
ReLU, hard tanh and hard sigmoid ``t = 0`` (their outputs lie in the image of
one linear piece); for leaky ReLU ``t`` is the (global) minimum of each
unit's training activations below 0.  A smooth sigmoid (tanh, logistic)
has no linear piece, and a near-identity in its centre,
``h(eps (a - centre) / h'(0))``, shrinks the features the output layer is
fitted on by ``eps`` (measured: the classifier's probabilities moved by up
to 0.2 on HIGGS at ``eps = 0.02``, through the output layer's ridge): the
default solver does not grow those networks; they start from the random
forward pass (:func:`insert_layers` refuses them).

Widths: where an inserted layer is wider than its input, its extra units get
the random forward-pass weights (:func:`skadmm._solver.random_weights`) and
zero outgoing weights, so the function is unchanged and the output layer's
first refit can use them.  Where it is narrower but at least as wide as the
output, its first units carry the network's outputs themselves, shifted
(and, for a bounded piece, scaled) into the piece by their range on the
training rows (``out_range``): the function is again unchanged, and its
other units carry the input units of largest outgoing weight, with no
outgoing weight of their own.  Only a layer narrower than the output loses
the function: it keeps the units of largest outgoing weight, and the output
layer's first refit makes the best of them.
"""

import numpy as np

from ._activations import PiecewiseLinear

__all__ = ["identity_piece", "insert_layers"]


def identity_piece(activation):
    """The linear piece of ``activation`` an inserted layer works on, or None.

    Returns ``(slope, offset, lo, hi)``: the piece ``h(z) = slope z + offset``
    whose output range ``[lo, hi]`` is widest among the pieces of positive
    slope, the steepest among equals (for ReLU and leaky ReLU the piece
    ``z >= 0``; for hard tanh ``|z| <= 1``).  None
    for an activation that is not piecewise linear.
    """
    if not isinstance(activation, PiecewiseLinear):
        return None
    best = None
    for p in activation.pieces:
        if p.slope <= 0:
            continue
        lo, hi = p.slope * p.lo + p.offset, p.slope * p.hi + p.offset
        key = (hi - lo, p.slope)
        if best is None or key > best[0]:
            best = (key, (p.slope, p.offset, lo, hi))
    return None if best is None else best[1]


def insert_layers(coefs, intercepts, sizes, activation, low, random_init, dtype, out_range=None):
    """The weights of the deep network that starts as the shallow one.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        The shallow network: its hidden layers and its output layer.
    sizes : sequence of int
        The deep network's layer sizes, inputs to outputs; the shallow
        network's hidden layers are its first ones.
    activation : PiecewiseLinear
        With a piece of positive slope (:func:`identity_piece`).
    low : ndarray of shape (sizes[k],)
        Per unit, the minimum over the training rows of the shallow
        network's last hidden activations (used for a piece that does not
        reach below them, as leaky ReLU's).
    random_init : tuple (coefs, intercepts)
        Random weights of the deep network's shape: the extra units of an
        inserted layer wider than its input take their columns.
    dtype : numpy dtype
    out_range : tuple (low, high) of ndarray of shape (sizes[-1],), default=None
        Per output, the least and greatest value of the shallow network's
        outputs on the training rows: needed for an inserted layer narrower
        than its input (and at least as wide as the output).

    Returns
    -------
    coefs, intercepts : list of ndarray
        The deep network's weights.
    """
    k = len(coefs) - 1  # hidden layers kept
    W, c = (
        [np.asarray(w, np.float64) for w in coefs[:k]],
        [np.asarray(v, np.float64) for v in intercepts[:k]],
    )
    W_out = np.asarray(coefs[k], np.float64)
    c_out = np.asarray(intercepts[k], np.float64).copy()
    piece = identity_piece(activation)
    if piece is None:
        raise ValueError(
            f"growth needs a piecewise-linear activation with a linear piece, not {activation!r}"
        )
    slope, offset, lo, hi = piece
    low = np.asarray(low, np.float64)
    for j in range(k + 1, len(sizes) - 1):
        width_in, width = sizes[j - 1], sizes[j]
        n_out = W_out.shape[1]
        Wj = np.zeros((width_in, width))
        cj = np.zeros(width)
        W_next = np.zeros((width, n_out))
        if width_in <= width or width < n_out or out_range is None:
            # pass on every input unit, or (narrower than the output) those the
            # layer above weighs most
            keep = np.arange(width_in)
            if width < width_in:
                order = np.argsort(-np.linalg.norm(W_out, axis=1), kind="stable")
                keep = np.sort(order[:width])
            n = keep.size
            # h(z) = slope z + offset on the piece: h(I a / slope + (t - offset) / slope) = a + t
            t = np.maximum(0.0, lo - low[keep]) if np.isfinite(lo) else np.zeros(n)
            Wj[keep, np.arange(n)] = 1.0 / slope
            cj[:n] = (t - offset) / slope
            W_next[:n] = W_out[keep]
            c_out = c_out - t @ W_out[keep]
            kept_low = low[keep] + t
        else:
            # narrower: the first n_out units are the outputs f, as u = s f + t in
            # the piece; the layer above reads f = (u - t) / s
            f_lo, f_hi = (np.asarray(v, np.float64) for v in out_range)
            scale = np.ones(n_out)
            if np.isfinite(hi) and np.isfinite(lo):
                spread = np.maximum(f_hi - f_lo, np.finfo(float).tiny)
                scale = np.minimum(1.0, (hi - lo) / spread)
            t_out = (lo - scale * f_lo) if np.isfinite(lo) else np.zeros(n_out)
            Wj[:, :n_out] = W_out * scale / slope
            cj[:n_out] = (c_out * scale + t_out - offset) / slope
            W_next[:n_out] = np.diag(1.0 / scale)
            c_out = -t_out / scale
            # the rest carry the input units of largest outgoing weight (none of their own)
            order = np.argsort(-np.linalg.norm(W_out, axis=1), kind="stable")
            keep = np.sort(order[: width - n_out])
            t = np.maximum(0.0, lo - low[keep]) if np.isfinite(lo) else np.zeros(keep.size)
            Wj[keep, n_out + np.arange(keep.size)] = 1.0 / slope
            cj[n_out:] = (t - offset) / slope
            floor = np.full(n_out, lo if np.isfinite(lo) else 0.0)
            kept_low = np.concatenate([floor, low[keep] + t])
            n = width
        if n < width:  # extra units: random weights, no outgoing weight
            Wj[:, n:] = np.asarray(random_init[0][j - 1], np.float64)[:, n:]
            cj[n:] = np.asarray(random_init[1][j - 1], np.float64)[n:]
        W.append(Wj)
        c.append(cj)
        W_out = W_next
        # the new layer's activations, per unit, from below (extra units carry no
        # outgoing weight: whether the next identity is exact on them does not matter)
        low = np.full(width, lo if np.isfinite(lo) else 0.0)
        low[: kept_low.size] = kept_low
    W.append(W_out)
    c.append(c_out)
    return [w.astype(dtype) for w in W], [v.astype(dtype) for v in c]
