"""Sums and checks shared by every part of the solver."""

import numpy as np

__all__ = ["DivergenceError", "check_finite", "check_sums", "sqsum", "sum_parts", "worst", "wsum"]


class DivergenceError(ValueError):
    """A non-finite value appeared in the ADMM iterates.

    Raised at the iteration where it appears; the message names the layer,
    the quantity and the iteration, and suggests a fix.
    """


def check_finite(value, what, layer, iteration):
    """Raise :class:`DivergenceError` when ``value`` holds a NaN or an infinity."""
    if not np.all(np.isfinite(value)):
        when = f"at iteration {iteration}" if iteration else "before the first iteration"
        raise DivergenceError(
            f"non-finite {what} in layer {layer} {when}. "
            "Standardise the features (e.g. StandardScaler), raise alpha, or lower "
            "beta relative to gamma; float64 input also helps."
        )


def check_sums(gram, cross, layer, iteration):
    """Check the Gram and cross products of a layer's weight update."""
    check_finite(gram, "activations a_{l-1} (Gram matrix)", layer, iteration)
    check_finite(cross, "pre-activations z_l (cross products)", layer, iteration)


def worst(values):
    """1-based index of the first non-finite entry (for error messages)."""
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) + 1 if bad.size else 1


def wsum(values, weight):
    """``sum(values * weight)`` in float64 (``weight`` None: unweighted)."""
    if weight is None:
        return float(np.sum(values, dtype=np.float64))
    return float(np.sum(values * weight, dtype=np.float64))


def sqsum(values, weight):
    """Weighted sum of squares without a squared temporary (a BLAS dot)."""
    flat = values.ravel()
    if weight is None:
        return float(np.dot(flat, flat))
    return float(np.dot(flat, (values * weight).ravel()))


def sum_parts(backend, parts):
    """Exact sum over every worker of the rows of ``parts`` (per-chunk local sums)."""
    parts = np.asarray(parts, dtype=np.float64)
    return backend.reduce_parts(list(parts), parts.shape[1:])
