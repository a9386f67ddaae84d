"""Activation functions and output losses, as tables of small functions.

An activation is one small frozen object that serves two purposes:

* the forward map ``h`` (prediction, the activation update's ``h(z_l)``),
* the description :func:`skadmm._kernels.preactivation_update` needs to solve
  the paper's pre-activation sub-problem (eq. (7)) exactly and entrywise,
  globally (or, for a piecewise-linear one with ``local=True``, over the
  pieces that hold the entry's current pre-activation).

Two kinds exist:

* :class:`PiecewiseLinear` (``relu``, ``hard_sigmoid``, ``hard_tanh``,
  ``leaky_relu``, ``identity``): on each interval ``[lo, hi]`` of its domain
  ``h(z) = slope * z + offset``, so eq. (7) is a convex quadratic per piece
  with a closed-form minimiser;
* :class:`ScaledTanh` (``tanh``, ``logistic``, scikit-learn's MLP names):
  ``h(z) = offset + scale * tanh(rate * z)``; eq. (7) is a smooth 1-D problem
  with up to two local minima, solved by bracketed Newton steps in each basin
  (see :func:`skadmm._kernels.smooth_preactivation_update`).

Losses are written per entry; the output update (the paper's ``z_L`` step)
solves each in closed form in :mod:`skadmm._kernels`.
"""

from dataclasses import dataclass

import numpy as np
import scipy.special

__all__ = ["ACTIVATIONS", "LOSSES", "Piece", "PiecewiseLinear", "ScaledTanh"]


@dataclass(frozen=True)
class Piece:
    """One linear piece ``h(z) = slope * z + offset`` on ``lo <= z <= hi``."""

    lo: float
    hi: float
    slope: float
    offset: float


@dataclass(frozen=True)
class PiecewiseLinear:
    """A continuous piecewise-linear activation ``h``.

    Parameters
    ----------
    name : str
        The name used by the estimators' ``activation`` parameter.
    pieces : tuple of Piece
        Pieces covering the real line, in increasing order of ``lo``.
    """

    name: str
    pieces: tuple
    fast: object = None

    def __call__(self, z):
        """Apply ``h`` entrywise; returns a new array of ``z``'s dtype."""
        if self.fast is not None:
            return self.fast(z)
        out = np.empty_like(z)
        for piece in self.pieces:
            mask = (z >= piece.lo) & (z <= piece.hi)
            if piece.slope == 1.0 and piece.offset == 0.0:
                out[mask] = z[mask]
            else:
                out[mask] = piece.slope * z[mask] + piece.offset
        return out


@dataclass(frozen=True)
class ScaledTanh:
    """A smooth sigmoid ``h(z) = offset + scale * tanh(rate * z)``.

    ``tanh`` is ``(0, 1, 1)``; the logistic function ``1 / (1 + exp(-z))`` is
    ``(1/2, 1/2, 1/2)``.  The affine form lets one eq. (7) solver, written for
    ``tanh``, serve the whole family: with ``w = rate * z`` the entrywise
    problem ``gamma (a - h(z))^2 + beta (z - m)^2`` becomes
    ``gamma scale^2 (a' - tanh w)^2 + beta / rate^2 (w - rate m)^2`` with
    ``a' = (a - offset) / scale``.

    Parameters
    ----------
    name : str
        The name used by the estimators' ``activation`` parameter.
    offset, scale, rate : float
    fast : callable
        The forward map, entrywise, keeping the dtype.
    """

    name: str
    offset: float
    scale: float
    rate: float
    fast: object

    def __call__(self, z):
        """Apply ``h`` entrywise; returns a new array of ``z``'s dtype."""
        return self.fast(z)


_INF = np.inf

ACTIVATIONS = {
    "identity": PiecewiseLinear("identity", (Piece(-_INF, _INF, 1.0, 0.0),), np.array),
    "relu": PiecewiseLinear(
        "relu",
        (Piece(-_INF, 0.0, 0.0, 0.0), Piece(0.0, _INF, 1.0, 0.0)),
        lambda z: np.maximum(z, 0),
    ),
    # The paper's h_sig (section 3.1): 0 below 0, z on [0, 1], 1 above 1.
    "hard_sigmoid": PiecewiseLinear(
        "hard_sigmoid",
        (
            Piece(-_INF, 0.0, 0.0, 0.0),
            Piece(0.0, 1.0, 1.0, 0.0),
            Piece(1.0, _INF, 0.0, 1.0),
        ),
        lambda z: np.clip(z, 0, 1),
    ),
    "hard_tanh": PiecewiseLinear(
        "hard_tanh",
        (
            Piece(-_INF, -1.0, 0.0, -1.0),
            Piece(-1.0, 1.0, 1.0, 0.0),
            Piece(1.0, _INF, 0.0, 1.0),
        ),
        lambda z: np.clip(z, -1, 1),
    ),
    # Slope 0.01 below zero, as in most deep-learning libraries.
    "leaky_relu": PiecewiseLinear(
        "leaky_relu", (Piece(-_INF, 0.0, 0.01, 0.0), Piece(0.0, _INF, 1.0, 0.0))
    ),
    # Smooth activations, with scikit-learn MLP's names.
    "tanh": ScaledTanh("tanh", 0.0, 1.0, 1.0, np.tanh),
    "logistic": ScaledTanh("logistic", 0.5, 0.5, 0.5, scipy.special.expit),
}


def hinge_loss(z, y):
    """The paper's 0/1 hinge (section 6): ``max(1 - z, 0)`` if y = 1, else ``max(z, 0)``."""
    return np.where(y > 0.5, np.maximum(1.0 - z, 0.0), np.maximum(z, 0.0))


def squared_loss(z, y):
    """Half the squared error, ``(z - y)^2 / 2``, as scikit-learn's MLP uses."""
    return 0.5 * (z - y) ** 2


LOSSES = {"hinge": hinge_loss, "squared": squared_loss}
