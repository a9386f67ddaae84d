"""The per-sample state of the local rows, and what one iteration's rules share.

:class:`State` owns this process's rows (``X``, ``Y``, the sample weights),
their blocks, the per-sample iterates ``a_l``, ``z_l`` and ``lambda`` of
Algorithm 1 and the weights ``W_l``, ``c_l``.  Its two sweeps over a block
are the only places where the layers are chained: :meth:`State.forward`
(the network's own pass, ``z_l = W_l a_{l-1}``, ``a_l = h(z_l)``) and
:meth:`State.back_sweep` (eq. (6) and (7) from an output target down).
"""

from dataclasses import dataclass

import numpy as np

from .. import _kernels as K
from ..backends import Symmetric, blocks_for

__all__ = ["BlockSums", "Iteration", "State", "hidden_features"]


def hidden_features(a, W, c, activation, start=0):
    """``a`` carried through the hidden layers ``start..L-2`` of ``(W, c)``."""
    for i in range(start, len(W) - 1):
        a = activation(K.linear(a, W[i], c[i]))
    return a


class State:
    """This process's rows, their blocks, the iterates and the weights.

    ``a[0]`` is ``X`` itself; ``a[l]`` (``l = 1..L-1``) and ``z[l-1]``
    (``l = 1..L``) are the paper's ``a_l`` and ``z_l``; ``lam`` the
    multiplier of the output layer; ``W[l-1]``, ``c[l-1]`` layer ``l``'s
    weights.  ``blocks`` are the slices of local rows every per-sample pass
    works on, one at a time.
    """

    def __init__(self, X, Y, sample_weight, sizes, activation, backend, block_rows):
        self.X, self.sw = X, sample_weight
        self.dtype = X.dtype
        self.Y = Y.astype(self.dtype, copy=False)
        self.sizes = sizes  # [n_features, hidden..., n_outputs]
        self.activation, self.backend = activation, backend
        self.offset = backend.row_offset(X.shape[0])
        self.blocks = [rows for _, rows in blocks_for(self.offset, X.shape[0], block_rows)]
        self.a = [X] + [None] * (len(sizes) - 2)
        self.z = [None] * (len(sizes) - 1)
        self.lam = None
        self.W = self.c = None
        self.sw_total = None

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    @property
    def n_rows(self):
        return self.X.shape[0]

    def weight(self, rows):
        """The rows' sample weights (None: unweighted)."""
        return None if self.sw is None else self.sw[rows]

    def column_weight(self, rows):
        """The rows' sample weights as a column, to scale per-sample rows."""
        return None if self.sw is None else self.sw[rows, None]

    def map(self, fn):
        """``fn(k, rows)`` for every block ``k`` of local rows; results in block order."""
        return self.backend.map_blocks(lambda k: fn(k, self.blocks[k]), range(len(self.blocks)))

    def reduce(self, fn, shapes):
        """The exact sum over every block and process of the arrays ``fn(k, rows)`` returns."""
        return self.backend.reduce_blocks(
            lambda k: fn(k, self.blocks[k]), range(len(self.blocks)), shapes
        )

    def weight_total(self):
        """The sum of the sample weights (the number of rows without) over every process."""
        sw, parts = self.sw, []
        for r in self.blocks:
            parts.append(np.array([r.stop - r.start if sw is None else sw[r].sum()]))
        return float(self.backend.reduce_parts(parts, (1,))[0])

    def input_gram(self):
        """The Gram matrix of ``[X 1]``: ``a_0 = X`` never changes, so it is reduced once."""

        def gram(k, rows):
            G, _ = K.weight_statistics(self.X[rows], self.Y[rows][:, :0], self.weight(rows))
            return (G,)

        (G,) = self.reduce(gram, [Symmetric(self.sizes[0] + 1)])
        return G

    def weights_sq(self):
        """``sum_l ||W_l||^2`` (float64)."""
        return sum(float(np.sum(np.square(w, dtype=np.float64))) for w in self.W)

    def forward(self, rows, start):
        """The state of layers ``start..L-2`` of one block from the current weights.

        ``z_l = W_l a_{l-1}``, ``a_l = h(z_l)`` written into the state from
        ``a_start`` up; returns ``a_{L-1}`` of the rows.
        """
        a = self.a[start][rows]
        for i in range(start, self.n_layers - 1):
            m = K.linear(a, self.W[i], self.c[i])
            self.z[i][rows] = m
            a = self.activation(m)
            self.a[i + 1][rows] = a
        return a

    def back_sweep(self, rows, target, beta, gamma, ops, features=None, pre=None, local=False):
        """Eq. (6) and (7) from an output target down, on one block of rows.

        From ``target`` (``z_L``), for each hidden layer from the last down:
        the activation update (eq. (6), ``W_{l+1}`` fixed, ``ops`` the
        layers' :func:`~skadmm._kernels.activation_operator`) gives ``a_l``,
        and the pre-activation update (eq. (7)) gives ``z_l``, the target of
        the layer below.  ``features[i]`` and ``pre[i]`` are layer ``i + 1``'s
        current ``h(z_l)`` and ``W_l a_{l-1}`` (default: the state's ``a_l``
        and ``z_l``).  ``local``: eq. (7) restricted to each entry's current
        linear piece (:func:`~skadmm._kernels.preactivation_update`): one
        bool for every layer, or a list (or tuple) of one per hidden layer.  Yields
        ``(i, a_l, z_l, m_l)`` per layer (``i = l - 1``).
        """
        for i in range(self.n_layers - 2, -1, -1):
            m = self.z[i][rows] if pre is None else pre[i]
            h = self.a[i + 1][rows] if features is None else features[i]
            a_new = K.activation_update(
                target, self.W[i + 1], self.c[i + 1], h, beta, gamma, op=ops[i]
            )
            own = local[i] if isinstance(local, (list, tuple)) else local
            target = K.preactivation_update(a_new, m, self.activation, beta, gamma, local=own)
            yield i, a_new, target, m


class BlockSums:
    """One block's sums of an iteration's diagnostics, weighted by the sample weights.

    ``constraint[l]``: ``sum (z_l - W_l a_{l-1})^2`` per layer;
    ``activation[l]``: ``sum (a_l - h(z_l))^2`` per hidden layer; ``loss``:
    ``sum loss(z_L, y)``; ``multiplier``: ``sum <lambda, z_L - W_L a_{L-1}>``.
    """

    __slots__ = ("activation", "constraint", "loss", "multiplier")

    def __init__(self, n_layers):
        self.constraint = np.zeros(n_layers)
        self.activation = np.zeros(n_layers - 1)
        self.loss = 0.0
        self.multiplier = 0.0

    def vector(self):
        return np.concatenate([self.constraint, self.activation, [self.loss, self.multiplier]])


@dataclass
class Iteration:
    """What the update rules of one iteration share: its number, penalties and sums."""

    number: int
    gamma: float
    beta: float
    warm: bool  # the warm-up: no multiplier update yet
    sums: list  # one BlockSums per block
