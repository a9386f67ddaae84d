"""The paper's sub-steps, one small pure function per equation.

Layout: **sample-major** everywhere, as scikit-learn stores data.  A block
of ``n`` samples has activations ``a`` of shape ``(n, d_in)``, weights ``W``
of shape ``(d_in, d_out)`` (the layout of ``MLPClassifier.coefs_``), biases
``c`` of shape ``(d_out,)`` and pre-activations ``z = a @ W + c`` of shape
``(n, d_out)``.  The paper writes the same quantities feature-major
(``z_l = W_l a_{l-1}``); every equation below is the transpose of the one
cited.

Every kernel is pure: it never writes into its arguments, and returns new
arrays.  The kernels know nothing about backends; all backends call the same
functions on their own blocks of rows.

Penalty convention (paper eq. (5)): for every layer the objective contains
``beta * ||z_l - W_l a_{l-1}||^2`` and, for hidden layers,
``gamma * ||a_l - h(z_l)||^2``; the output layer carries the Lagrange term
``<lambda, z_L - W_L a_{L-1}>``.  The weights carry the ridge term
``alpha / 2 * ||W_l||^2`` (biases are not penalised), so that with one layer
and the squared loss the problem is exactly :class:`sklearn.linear_model.Ridge`.
"""

import numpy as np
import scipy.linalg
import scipy.special
from scipy import sparse

from ._activations import LOSSES, ScaledTanh

__all__ = [
    "activation_operator",
    "activation_update",
    "forward",
    "linear",
    "log_loss_curvature",
    "log_loss_terms",
    "multiplier_update",
    "output_log_probabilities",
    "output_probabilities",
    "output_update",
    "preactivation_update",
    "readout_objective",
    "relaxed_step",
    "relaxed_update",
    "smooth_preactivation_update",
    "weight_statistics",
    "weight_update",
]


def linear(a, W, c):
    """The layer's linear map, the constraint ``z_l = W_l a_{l-1}`` of paper eq. (3).

    Parameters
    ----------
    a : ndarray or sparse matrix of shape (n, d_in)
    W : ndarray of shape (d_in, d_out)
    c : ndarray of shape (d_out,)

    Returns
    -------
    m : ndarray of shape (n, d_out)
        ``a @ W + c``, in ``W``'s dtype.
    """
    m = a @ W
    if sparse.issparse(m):  # pragma: no cover - a sparse @ dense is dense
        m = m.toarray()
    m = np.asarray(m)
    m += c
    return m


def weight_statistics(a, target, sample_weight=None, gram=True):
    """Local sums for the weight update: the paper's transpose reduction (section 5).

    The weight update (:func:`weight_update`) needs only the two small sums
    ``G = [a 1]^T S [a 1]`` and ``R = [a 1]^T S t`` (``S`` the diagonal of
    sample weights, ``t`` the target); each is a sum over samples, so every
    worker computes them on its own rows and one sum-reduce combines them.

    Parameters
    ----------
    a : ndarray or sparse matrix of shape (n, d_in)
        Input activations ``a_{l-1}`` of the block.
    target : ndarray of shape (n, d_out)
        ``z_l``, or for the output layer of the multiplier variant
        ``z_L + lambda / (2 beta)``.
    sample_weight : ndarray of shape (n,), default=None
    gram : bool, default=True
        Whether to compute ``G``.  The first layer's input ``a_0 = X`` never
        changes, so the solver reduces its ``G`` once and afterwards asks
        only for ``R``.

    Returns
    -------
    gram : ndarray of shape (d_in + 1, d_in + 1), float64
        Only when ``gram`` is True.
    cross : ndarray of shape (d_in + 1, d_out), float64
    """
    d = a.shape[1]
    cross = np.empty((d + 1, target.shape[1]))
    if not gram:
        wt = target if sample_weight is None else _scale_rows(target, sample_weight)
        cross[:d] = a.T @ wt
        cross[d] = wt.sum(axis=0)
        return (cross,)
    # The Gram matrix as a symmetric rank-k update (BLAS syrk, half a GEMM's
    # work): numpy takes that path for ``b.T @ b`` of one array ``b``, here
    # the rows scaled by the square roots of their (non-negative) weights.
    # Everything stays in ``a``'s dtype; only the small sums are float64.
    if sample_weight is None:
        b, s, bt = a, None, target
    else:
        s = np.sqrt(sample_weight).astype(np.result_type(a.dtype, target.dtype), copy=False)
        b, bt = _scale_rows(a, s), _scale_rows(target, s)
    cross[:d] = b.T @ bt
    G = np.empty((d + 1, d + 1))
    bb = b.T @ b
    G[:d, :d] = bb.toarray() if sparse.issparse(bb) else bb
    if s is None:
        colsum = np.asarray(a.sum(axis=0)).ravel()
        cross[d] = target.sum(axis=0)
        G[d, d] = a.shape[0]
    else:
        colsum = np.asarray(b.T @ s).ravel()
        cross[d] = s @ bt
        G[d, d] = sample_weight.sum()
    G[d, :d] = colsum
    G[:d, d] = colsum
    return G, cross


def _scale_rows(a, w):
    """``diag(w) a`` in ``a``'s dtype (dense or sparse)."""
    if sparse.issparse(a):
        return sparse.diags(w.astype(a.dtype, copy=False)) @ a
    return a * w[:, None].astype(a.dtype, copy=False)


def weight_update(gram, cross, alpha, beta, dtype=np.float64):
    """Weight update ``W_l <- z_l a_{l-1}^+`` (Algorithm 1, section 3.1), by the normal equations.

    Minimises ``beta * ||t - a W - 1 c^T||^2 + alpha / 2 * ||W||^2`` over
    ``(W, c)`` from the reduced sums of :func:`weight_statistics`:
    ``(G + alpha / (2 beta) D) [W; c] = R`` with ``D`` the identity on the
    weights and zero on the bias (the bias is not penalised).  This is the
    paper's ``(z a^T)(a a^T)^{-1}`` of section 5 plus the ridge.

    The square system is solved by Cholesky.  When it is numerically
    singular (``alpha = 0`` with dead ReLU units, duplicate or constant
    columns) the Cholesky factorisation fails or its pivots span more than
    ``1 / (d * eps)``; the step then returns the *minimum-norm* solution,
    computed from an eigendecomposition of the small matrix with eigenvalues
    below ``d * eps * max_eigenvalue`` treated as zero.  For ``alpha = 0``
    that is exactly the paper's pseudo-inverse ``z a^+``; the weights are
    always finite.  No ``n``-sized matrix is ever formed or inverted.

    Parameters
    ----------
    gram, cross : ndarray
        Reduced sums from :func:`weight_statistics`.
    alpha : float
        Ridge penalty on the weights.
    beta : float
        Penalty of the constraint ``z_l = W_l a_{l-1}``.
    dtype : dtype
        dtype of the returned weights.

    Returns
    -------
    W : ndarray of shape (d_in, d_out)
    c : ndarray of shape (d_out,)
    """
    d = gram.shape[0] - 1
    lhs = gram.copy()
    lhs[np.arange(d), np.arange(d)] += alpha / (2.0 * beta)
    sol = None
    try:
        factor = scipy.linalg.cho_factor(lhs, lower=True, check_finite=False)
        pivots = np.abs(np.diag(factor[0]))
        if pivots.min() > pivots.max() * np.sqrt((d + 1) * np.finfo(float).eps):
            sol = scipy.linalg.cho_solve(factor, cross, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        sol = None
    if sol is None:
        evals, evecs = np.linalg.eigh(lhs)
        cutoff = (d + 1) * np.finfo(float).eps * max(evals.max(), 0.0)
        inv = np.where(evals > cutoff, 1.0 / np.where(evals > cutoff, evals, 1.0), 0.0)
        sol = evecs @ (inv[:, None] * (evecs.T @ cross))
    return sol[:d].astype(dtype, copy=False), sol[d].astype(dtype, copy=False)


def activation_operator(W_next, beta, gamma, dtype=None):
    """Small matrices that apply the activation update (paper eq. (6)) to any block.

    The update solves, per sample, ``min_a beta ||z_{l+1} - a W_{l+1} - c||^2
    + gamma ||a - h(z_l)||^2``.  Two equivalent forms are used, whichever
    needs fewer flops per sample:

    * *direct* (paper eq. (6)): ``a = (beta (z - c) W^T + gamma h) M^{-1}``
      with ``M = beta W W^T + gamma I`` of size ``n_l``;
    * *Woodbury / push-through*, when the next layer is narrower
      (``n_{l+1} < 0.618 n_l``, e.g. the output layer):
      ``a = h + (z - c - h W) K^{-1} beta W^T`` with
      ``K = beta W^T W + gamma I`` of size ``n_{l+1}``.

    Both small systems are symmetric positive definite with eigenvalues at
    least ``gamma``, so their Cholesky factorisations are well conditioned.

    Returns
    -------
    op : tuple
        ``("direct", B_z, B_h)`` or ``("woodbury", Q)``; pass it to
        :func:`activation_update`.
    """
    n_l, n_next = W_next.shape
    dtype = W_next.dtype if dtype is None else dtype
    W = W_next.astype(np.float64, copy=False)
    if n_next * (n_l + n_next) < n_l * n_l:
        K = beta * (W.T @ W) + gamma * np.eye(n_next)
        Q = scipy.linalg.cho_solve(scipy.linalg.cho_factor(K), beta * W.T)
        return ("woodbury", Q.astype(dtype))
    M = beta * (W @ W.T) + gamma * np.eye(n_l)
    factor = scipy.linalg.cho_factor(M)
    B_z = scipy.linalg.cho_solve(factor, beta * W).T  # (n_next, n_l) = beta W^T M^-1
    B_h = scipy.linalg.cho_solve(factor, gamma * np.eye(n_l))  # gamma M^-1
    return ("direct", B_z.astype(dtype), B_h.astype(dtype))


def activation_update(z_next, W_next, c_next, h_z, beta, gamma, op=None, out=None):
    """Activation update, paper eq. (6).

    ``a_l = (beta W^T W + gamma I)^{-1} (beta W^T z_{l+1} + gamma h(z_l))``
    in the paper's feature-major notation, with ``W = W_{l+1}`` and the next
    layer's bias subtracted from ``z_{l+1}``.

    Parameters
    ----------
    z_next : ndarray of shape (n, n_{l+1})
    W_next : ndarray of shape (n_l, n_{l+1})
    c_next : ndarray of shape (n_{l+1},)
    h_z : ndarray of shape (n, n_l)
        ``h_l(z_l)``.
    beta, gamma : float
    op : tuple, default=None
        Precomputed :func:`activation_operator` ``(W_next, beta, gamma)``;
        computed here when omitted.
    out : ndarray of shape (n, n_l), default=None
        Where to write the result (e.g. the solver's own state); never one
        of the inputs.

    Returns
    -------
    a : ndarray of shape (n, n_l)
    """
    if op is None:
        op = activation_operator(W_next, beta, gamma, dtype=h_z.dtype)
    if op[0] == "woodbury":
        r = z_next - c_next
        r -= h_z @ W_next
        a = np.matmul(r, op[1], out=out)
        a += h_z
        return a
    a = np.matmul(z_next - c_next, op[1], out=out)
    a += h_z @ op[2]
    return a


def preactivation_update(a, m, activation, beta, gamma, out=None, local=False):
    """Pre-activation update, paper eq. (7): entrywise global (or within-piece) minimiser.

    Solves ``min_z gamma (a - h(z))^2 + beta (z - m)^2`` exactly for every
    entry, with ``m = W_l a_{l-1}``.  ``h`` is piecewise linear
    (:class:`skadmm._activations.PiecewiseLinear`); on a piece
    ``h(z) = s z + o`` on ``[lo, hi]`` the objective is a convex quadratic
    whose minimiser is ``clip((gamma s (a - o) + beta m) / (gamma s^2 +
    beta), lo, hi)``.  The global minimiser is the best of these candidates
    (ties go to the first piece).

    With ``local=True`` the minimum is taken only over the pieces that
    contain ``m`` (one piece, or the two that meet at a kink ``m`` sits
    on): eq. (7) restricted to the entry's current linear piece.  A unit
    then never jumps to another piece of ``h`` (say, a ReLU unit from
    ``m < 0`` to ``z > 0``) because a target there is cheaper; it moves
    within its piece, up to its end.  A jump is a move that only pays off
    after a finite step, so a weight step fitted to many of them need not
    lower any objective (krkopt, one hidden layer, squared targets: cosine
    0.00 to 0.35 with the negative gradient of the default solver's
    searched objective with the global form, 0.58 to 0.88 with the local
    one; see the user guide).  The default solver's search
    fits a layer's step to this form after its step fitted to the global
    form was rejected (``SolverOptions.local_targets``).

    For the smooth activations (:class:`skadmm._activations.ScaledTanh`,
    ``tanh`` and ``logistic``) it calls :func:`smooth_preactivation_update`
    (global; ``local`` does not apply).

    Parameters
    ----------
    a, m : ndarray of the same shape
    activation : PiecewiseLinear or ScaledTanh
    beta, gamma : float
    out : ndarray, default=None
        Where to write the result; never one of the inputs.
    local : bool, default=False
        Minimise over ``m``'s own piece(s) only.

    Returns
    -------
    z : ndarray, same shape and dtype as ``m``
    """
    if isinstance(activation, ScaledTanh):
        return smooth_preactivation_update(a, m, activation, beta, gamma, out)
    if activation.name == "relu":
        if local:
            return _relu_local_preactivation(a, m, beta, gamma, out)
        return _relu_preactivation(a, m, beta, gamma, out)
    best_z = best_obj = None
    for piece in activation.pieces:
        s, o = piece.slope, piece.offset
        target = a - o if o else a
        cand = (gamma * s) * target + beta * m
        cand *= 1.0 / (gamma * s * s + beta)
        np.clip(cand, piece.lo, piece.hi, out=cand)
        res = target - s * cand if s else target.copy()
        obj = gamma * res * res
        dz = cand - m
        obj += beta * dz * dz
        if local:  # only the pieces that hold m compete (even where obj overflows)
            holds = (m >= piece.lo) & (m <= piece.hi)
            obj[~holds] = np.inf
        if best_z is None:
            best_z, best_obj = cand, obj
            best_holds = holds if local else None
        else:
            better = obj < best_obj
            if local:
                better |= holds & ~best_holds
                best_holds |= holds
            cand -= best_z
            cand *= better
            best_z += cand
            np.minimum(best_obj, obj, out=best_obj)
    best_z = best_z.astype(m.dtype, copy=False)
    if out is not None:
        out[...] = best_z
        return out
    return best_z


def _relu_preactivation(a, m, beta, gamma, out=None):
    """Eq. (7) for ReLU: the two-piece case of :func:`preactivation_update`, simplified.

    The ``z >= 0`` piece's minimiser is ``p = (gamma a + beta m) / (gamma +
    beta)`` (when ``p >= 0``), the ``z <= 0`` piece's is ``min(m, 0)``.
    Comparing their objective values in closed form: for ``m >= 0`` the
    first wins exactly when ``p >= 0``, i.e. ``a >= -(beta / gamma) m``; for
    ``m < 0`` exactly when ``a >= -t m`` with
    ``t = (sqrt(beta (gamma + beta)) + beta) / gamma >= beta / gamma``.  So
    ``z = p`` where ``a + min(t m, (beta / gamma) m) >= 0``, else
    ``min(m, 0)``: the same minimiser as the generic loop in a third of the
    passes over memory.
    """
    t = (np.sqrt(beta * (gamma + beta)) + beta) / gamma
    q = m * t
    np.minimum(q, m * (beta / gamma), out=q)
    q += a
    keep = q >= 0
    p = a * (gamma / (gamma + beta))
    p += m * (beta / (gamma + beta))
    z = np.minimum(m, 0, out=out)
    p -= z
    p *= keep  # arithmetic blend: a data-dependent np.where is ~10x slower here
    z += p
    return z


def _relu_local_preactivation(a, m, beta, gamma, out=None):
    """Eq. (7) for ReLU restricted to ``m``'s piece (:func:`preactivation_update`, ``local``).

    ``m < 0`` (the ``z <= 0`` piece alone, where ``h`` is 0): ``z = m``.
    ``m >= 0`` (the ``z >= 0`` piece, and at ``m = 0`` the other one too,
    whose candidate ``0`` is the first's clipped end): ``z = max(p, 0)``
    with ``p = (gamma a + beta m) / (gamma + beta)``.
    """
    p = a * (gamma / (gamma + beta))
    p += m * (beta / (gamma + beta))
    np.maximum(p, 0, out=p)
    if out is None:
        z = m.copy()
    else:
        z = out
        z[...] = m
    p -= z
    p *= m >= 0  # arithmetic blend, as in _relu_preactivation
    z += p
    return z if out is not None else z.astype(m.dtype, copy=False)


def smooth_preactivation_update(a, m, activation, beta, gamma, out=None):
    """Pre-activation update, paper eq. (7), for ``h(z) = c0 + c1 tanh(k z)``: global minimiser.

    Solves ``min_z gamma (a - h(z))^2 + beta (z - m)^2`` for every entry to
    machine precision, with no loop over entries.  With ``w = k z`` the problem
    is ``F(w) = r (A - tanh w)^2 + (w - M)^2`` (up to the factor ``beta /
    k^2``), ``A = (a - c0) / c1``, ``M = k m``, ``r = gamma c1^2 k^2 / beta``;
    ``tanh`` is odd, so flipping the signs of ``A`` and ``M`` reduces every
    entry to ``tanh(M) <= A``, where the minimiser moves right from ``M``.

    Method (the paper, after eq. (7), suggests a lookup table; this is exact
    instead).  Write ``t = tanh w``.  Every stationary point solves
    ``psi(w) = M`` with ``psi(w) = w + r (1 - t^2)(t - A)`` and lies in the
    bracket ``[M, w_hi]``, ``w_hi = min(artanh A, M + r (1 + |A|))`` (beyond
    it both terms of ``F`` grow).  ``psi' = F'' / 2 = 1 + r p(t)`` with the
    quartic ``p(t) = (1 - t^2)(1 + 2 A t - 3 t^2)``, whose roots are ``-1``,
    ``t_- < 0``, ``t_+`` and ``1``; on the bracket's ``t``-range only the gap
    ``(-1, t_-)`` can hold ``p < -1 / r``, and there ``p`` is unimodal (its
    minimum ``t_c`` is the one root of ``p'`` in the gap).  So ``F`` is
    convex, concave, convex on the bracket at most: the two inflection
    points (the roots of ``1 + r p`` on either side of ``t_c``) split it into
    two basins, in each of which ``psi`` is increasing and the local
    minimiser is the one root of ``psi = M``.  Every root (``t_c``, the
    inflection points, the two minimisers) is found on a sign-change bracket
    by safeguarded Newton steps (bisection whenever a step leaves the
    bracket), and the lower of the two candidates is returned.

    The inflection points are needed only where a cheap lower bound of
    ``F`` on the second basin is below ``F`` at the first basin's minimiser
    (a few per cent of the entries at ``gamma / beta = 10``).

    Accuracy and cost: each minimiser is converged until its Newton step is
    below ``4 eps (1 + |w|)``, so the objective is within a few ulps of the
    global minimum (``tests/test_kernels.py`` checks ``1e-10`` relative
    against a dense grid plus bounded refinement; the worst seen is
    ``3e-15``).  About 7 Newton steps per entry on average, each with one
    ``tanh``: 340-450 ns per entry on a 2-core machine, 39 to 96 times the
    memory-bound ReLU step (5-9 ns; ``benchmarks/bench_activations.py``).
    Computed in float64 internally (the inflection points near ``t = -1``
    and the Newton steps' stopping rule need it), in blocks of
    ``_SMOOTH_BLOCK`` entries that stay in cache: float32 input is converted
    one block at a time, never as a whole float64 copy, and the result is
    returned in float32.

    Parameters
    ----------
    a, m : ndarray of the same shape
    activation : ScaledTanh
    beta, gamma : float
    out : ndarray, default=None
        Where to write the result; never one of the inputs.

    Returns
    -------
    z : ndarray, same shape and dtype as ``m``

    References
    ----------
    Taylor et al., "Training Neural Networks Without Gradients: A Scalable
    ADMM Approach", ICML 2016, section 3, eq. (7).
    """
    c0, c1, k = activation.offset, activation.scale, activation.rate
    r = gamma * c1 * c1 * k * k / beta
    a_flat, m_flat = np.ravel(a), np.ravel(m)
    w = np.empty(m_flat.shape, dtype=np.float64)
    # in blocks that stay in cache: the Newton passes are many cheap array operations
    for start in range(0, w.size, _SMOOTH_BLOCK):
        block = slice(start, start + _SMOOTH_BLOCK)
        A = a_flat[block].astype(np.float64)
        if c0 or c1 != 1.0:
            A -= c0
            A *= 1.0 / c1
        M = m_flat[block].astype(np.float64)
        M *= k
        w[block] = _tanh_preactivation(A, M, r)
    if k != 1.0:
        w *= 1.0 / k
    w = w.reshape(np.shape(m)).astype(m.dtype, copy=False)
    if out is not None:
        out[...] = w
        return out
    return w


_SMOOTH_BLOCK = 16384


def _tanh_preactivation(A, M, r):
    """``argmin_w r (A - tanh w)^2 + (w - M)^2`` entrywise, float64 1-D arrays.

    The reduction and basin split of :func:`smooth_preactivation_update`.
    Returns a new array; ``A`` and ``M`` are not written.
    """
    sign = np.where(A >= np.tanh(M), 1.0, -1.0)
    A = A * sign
    M = M * sign
    # bracket [M, w_hi] of every stationary point
    w_hi = M + r * (1.0 + np.abs(A))
    inside = np.abs(A) < 1.0
    w_hi[inside] = np.minimum(w_hi[inside], np.arctanh(A[inside]))
    np.maximum(w_hi, M, out=w_hi)  # tanh(M) may round to A
    # the least curvature, at t_c in the gap (-1, t_-) of the quartic p
    t_minus = -1.0 / (A + np.sqrt(A * A + 3.0))
    t_c = _quartic_minimum(A, t_minus)
    turn = 1.0 + r * _quartic(t_c, A) < 0.0
    rr = np.full_like(A, r)
    w = np.empty_like(A)
    # convex everywhere: one basin [M, w_hi]
    one = np.flatnonzero(~turn)
    Mo = M[one]
    w[one] = _bracketed_root(_stationarity, Mo, w_hi[one], (A[one], Mo, rr[one]), start=Mo)
    two = np.flatnonzero(turn)
    if two.size:
        w[two] = _two_basins(A[two], M[two], rr[two], w_hi[two], t_c[two], t_minus[two])
    w *= sign
    return w


def _two_basins(A, M, r, w_hi, t_c, t_minus):
    """Eq. (7) where ``F`` is convex-concave-convex: the lower of the two basins' minima.

    ``w_c = artanh t_c`` is in the concave part.  If ``psi(w_c) >= M`` the
    left basin's minimiser is the one root of ``psi = M`` on ``[M, w_c]``
    (``psi`` rises then falls there), and the right basin holds one only if
    ``psi(w_2) <= M`` at its inflection point ``w_2``; otherwise the same
    with the sides swapped.  So each entry needs one inflection point.
    """
    w_c = np.clip(np.arctanh(t_c), M, w_hi)
    up = _stationarity(w_c, A, M, r)[0] >= 0.0
    lo = np.where(up, M, w_c)
    hi = np.where(up, w_c, w_hi)
    w = _bracketed_root(_stationarity, lo, hi, (A, M, r), start=np.where(up, M, w_hi))
    # The other basin lies in [w_c, w_hi] (up) or [M, w_c], where F is at
    # least (w_c - M)^2, resp. r (A - tanh w_c)^2: search it only if that
    # bound is below F at the first minimiser.
    f_1 = r * (A - np.tanh(w)) ** 2 + (w - M) ** 2
    bound = np.where(up, (w_c - M) ** 2, r * (A - np.tanh(w_c)) ** 2)
    maybe = np.flatnonzero(bound < f_1)
    if maybe.size:
        args = (w, f_1, up, A, M, r, w_hi, w_c, t_c, t_minus)
        w[maybe] = _other_basin(*(x[maybe] for x in args))
    return w


def _other_basin(w, f_1, up, A, M, r, w_hi, w_c, t_c, t_minus):
    """The second basin of :func:`_two_basins`: its minimiser where it holds one, if lower."""
    # bounded by its inflection point (a root of 1 + r p in t)
    t_in = np.empty_like(A)
    u, d = np.flatnonzero(up), np.flatnonzero(~up)
    t_in[u] = _bracketed_root(_curvature, t_c[u], t_minus[u], (A[u], r[u]))
    t_in[d] = _bracketed_root(_curvature_neg, np.full(d.size, -1.0), t_c[d], (A[d], r[d]))
    w_in = np.arctanh(np.maximum(t_in, -1.0 + 2.0**-52))
    w_in = np.where(up, np.clip(w_in, w_c, w_hi), np.clip(w_in, M, w_c))
    g_in = _stationarity(w_in, A, M, r)[0]
    other = np.flatnonzero(np.where(up, g_in < 0.0, g_in > 0.0))
    if other.size:
        uo = up[other]
        lo = np.where(uo, w_in[other], M[other])
        hi = np.where(uo, w_hi[other], w_in[other])
        start = np.where(uo, hi, lo)
        Ao, Mo, ro = A[other], M[other], r[other]
        w_o = _bracketed_root(_stationarity, lo, hi, (Ao, Mo, ro), start=start)
        f_o = ro * (Ao - np.tanh(w_o)) ** 2 + (w_o - Mo) ** 2
        w[other] = np.where(f_o < f_1[other], w_o, w[other])
    return w


def _quartic(t, A):
    """``p(t) = (1 - t^2)(1 + 2 A t - 3 t^2)``: ``d/dw [(1 - t^2)(t - A)]`` with ``t = tanh w``."""
    return (1.0 - t * t) * (1.0 + 2.0 * A * t - 3.0 * t * t)


def _quartic_minimum(A, t_minus):
    """The minimum ``t_c`` of ``p`` on ``(-1, t_-)``: the smallest root of ``p'``, in closed form.

    ``p'(t) / 12 = t^3 - (A / 2) t^2 - (2 / 3) t + A / 6`` has three real roots,
    one between each pair of consecutive roots of ``p``; with ``t = y + A / 6``
    the depressed cubic ``y^3 + P y + Q`` is solved by the trigonometric
    formula, and one Newton step, kept inside the gap, polishes the result.
    """
    P = -2.0 / 3.0 - A * A / 12.0
    Q = A * (1.0 / 18.0 - A * A / 108.0)
    rho = np.sqrt(-P / 3.0)
    cos3 = np.clip(-Q / (2.0 * rho**3), -1.0, 1.0)
    t = 2.0 * rho * np.cos((np.arccos(cos3) + 2.0 * np.pi) / 3.0) + A / 6.0
    f, df = _quartic_slope(t, A)
    with np.errstate(divide="ignore", invalid="ignore"):
        polished = t - f / df
    t = np.where(np.isfinite(polished), polished, t)
    return np.clip(t, -1.0, t_minus)


def _quartic_slope(t, A):
    """``p'(t) = 12 t^3 - 6 A t^2 - 8 t + 2 A`` and its derivative."""
    return ((12.0 * t - 6.0 * A) * t - 8.0) * t + 2.0 * A, (36.0 * t - 12.0 * A) * t - 8.0


def _curvature(t, A, r):
    """``F''(w) / 2 = 1 + r p(t)`` as a function of ``t``, and its ``t``-derivative."""
    return 1.0 + r * _quartic(t, A), r * _quartic_slope(t, A)[0]


def _curvature_neg(t, A, r):
    f, df = _curvature(t, A, r)
    return -f, -df


def _stationarity(w, A, M, r):
    """``F'(w) / 2 = w - M + r (1 - t^2)(t - A)`` and ``F''(w) / 2``, ``t = tanh w``."""
    t = np.tanh(w)
    s = 1.0 - t * t
    return w - M + r * s * (t - A), 1.0 + r * s * (1.0 + 2.0 * A * t - 3.0 * t * t)


def _bracketed_root(fun, lo, hi, params, start=None, max_iter=200):
    """Safeguarded Newton for ``fun(x) = 0`` on brackets with ``fun(lo) <= 0 <= fun(hi)``.

    Vectorised: the entries still moving are kept in compressed arrays.  As
    in ``rtsafe`` (Numerical Recipes, section 9.4), a Newton step is taken
    only when it stays in the current bracket and is at most half the step
    before the last; otherwise the step is a bisection.  So the steps shrink
    geometrically, and each entry converges to a sign change of ``fun``
    inside its bracket, quadratically near a simple root.  An entry stops
    when its step is below ``4 eps (1 + max(|lo|, |hi|))`` (a zero of
    ``fun`` is a zero step).  Returns a new array; the inputs are not written.
    """
    x = 0.5 * (lo + hi) if start is None else start.copy()
    idx = np.flatnonzero(hi > lo)
    xa, la, ua = x[idx], lo[idx], hi[idx]
    last = ua - la
    before = last.copy()
    tol = np.maximum(np.abs(la), np.abs(ua))
    tol += 1.0
    tol *= 4.0 * np.finfo(np.float64).eps
    pa = [p[idx] for p in params]
    for _ in range(max_iter):
        if idx.size == 0:
            break
        f, df = fun(xa, *pa)
        np.copyto(la, xa, where=f < 0.0)
        np.copyto(ua, xa, where=f > 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            f /= df
        xn = xa - f
        np.abs(f, out=f)
        bisect = ~((xn >= la) & (xn <= ua) & (f <= 0.5 * before))  # True on NaN
        if bisect.any():
            np.copyto(xn, 0.5 * (la + ua), where=bisect)
        before = last
        last = np.abs(xn - xa)
        done = last <= tol
        if done.any():
            x[idx[done]] = xn[done]
            keep = ~done
            idx, xa, la, ua, tol = idx[keep], xn[keep], la[keep], ua[keep], tol[keep]
            last, before = last[keep], before[keep]
            pa = [p[keep] for p in pa]
        else:
            xa = xn
    x[idx] = xa
    return x


def output_update(m, y, lam, beta, loss):
    """Output update (Algorithm 1): ``argmin_z loss(z, y) + lambda z + beta (z - m)^2``.

    Entrywise and exact, with ``m = W_L a_{L-1}``:

    * ``"hinge"`` (paper section 6, targets in {0, 1}): with
      ``u = m - lambda / (2 beta)`` and ``d = 1 / (2 beta)``,
      ``z = max(u, min(u + d, 1))`` where ``y = 1`` and
      ``z = min(u, max(u - d, 0))`` where ``y = 0``;
    * ``"squared"`` (``(z - y)^2 / 2``):
      ``z = (y - lambda + 2 beta m) / (1 + 2 beta)``.

    Parameters
    ----------
    m, y, lam : ndarray of shape (n, d_out)
    beta : float
    loss : {"hinge", "squared"}

    Returns
    -------
    z : ndarray of shape (n, d_out), dtype of ``m``
    """
    if loss == "hinge":
        u = m - lam * (0.5 / beta)
        d = 0.5 / beta
        pos = np.maximum(u, np.minimum(u + d, 1.0))
        neg = np.minimum(u, np.maximum(u - d, 0.0))
        pos -= neg
        pos *= y > 0.5
        pos += neg
        return pos.astype(m.dtype, copy=False)
    if loss == "squared":
        z = y - lam + (2.0 * beta) * m
        z *= 1.0 / (1.0 + 2.0 * beta)
        return z.astype(m.dtype, copy=False)
    raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")


def multiplier_update(lam, z, m, step):
    """Bregman / multiplier update ``lambda + step (z_L - W_L a_{L-1})`` (paper eq. (8)).

    The paper uses ``step = beta``; the method of multipliers for the
    penalty ``beta ||.||^2`` would use ``2 beta`` (see the solver's
    ``multiplier_step``).  When the constraint holds (``z == m``) the
    multiplier is unchanged.

    Returns
    -------
    lam_new : ndarray, same shape and dtype as ``lam``
    """
    out = z - m
    out *= step
    out += lam
    return out


def relaxed_step(W, step, omega, previous=None, momentum=0.0):
    """Relaxed weight update ``W + omega (W^+ - W) + momentum * previous`` (``solver="admm"``).

    ``step = W^+ - W``, with ``W^+`` the closed-form weight update of
    Algorithm 1 (normal equations towards the layer's targets), and
    ``omega`` the relaxation factor: ``1`` is the update itself, ``0`` keeps
    ``W``; ADMM's classical over-relaxation uses ``omega`` in ``(0, 2)``.
    The hidden layers' targets move by a step of order
    ``1 / ||W_{l+1}||^2`` (eq. (6) is a minimum-norm correction), far
    shorter than the loss allows once the readout weights cancel each
    other, so the solver chooses ``omega`` among a few candidates by the
    exact objective (:func:`readout_objective`).

    ``previous`` is the layer's last accepted update (what this function
    added to ``W`` at the previous iteration, :func:`relaxed_update`) and
    ``momentum`` its weight: Polyak's heavy ball, which carries the search
    along directions that successive closed-form steps share.  ``previous=None``
    or ``momentum=0`` is the plain relaxed step.

    Returns
    -------
    W_new : ndarray, float64 or the common dtype of ``W`` and ``step``
    """
    out = relaxed_update(step, omega, previous, momentum)
    out += W
    return out


def relaxed_update(step, omega, previous=None, momentum=0.0):
    """What :func:`relaxed_step` adds to the weights: ``omega step + momentum previous``.

    Returns
    -------
    update : ndarray, float64 or the common dtype of ``step`` and ``previous``
    """
    out = np.multiply(step, omega)
    if previous is not None and momentum:
        out += np.multiply(previous, momentum)
    return out


def readout_objective(gram, cross, sq_target, W, c, alpha):
    """Objective ``1/2 ||t - F W - c||^2 + alpha / 2 ||W||^2`` from the reduced sums.

    ``gram`` and ``cross`` are :func:`weight_statistics` of the features ``F``
    against the target ``t``, and ``sq_target = ||t||^2``; no pass over the
    samples is needed.  With ``(W, c)`` from :func:`weight_update` (``beta =
    1/2``) it is the value of the variable-projection objective: the best
    squared loss the output layer can reach on these features.  Summed in
    float64.
    """
    sol = np.vstack([np.asarray(W, dtype=np.float64), np.asarray(c, dtype=np.float64)[None]])
    fit = float(np.sum(sol * cross))
    quad = float(np.sum(sol * (gram @ sol)))
    return 0.5 * (sq_target - 2.0 * fit + quad) + 0.5 * alpha * float(np.sum(sol[:-1] ** 2))


def forward(X, coefs, intercepts, activation):
    """The network's prediction ``f(a_0; W) = W_L h(h(W_1 a_0))`` for two layers (paper eq. (1)).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, n_features)
    coefs, intercepts : lists of ndarray
    activation : PiecewiseLinear or ScaledTanh
        Hidden-layer activation; the output layer is linear.

    Returns
    -------
    out : ndarray of shape (n, n_outputs)
    """
    a = X
    for layer, (W, c) in enumerate(zip(coefs, intercepts)):
        a = linear(a, W, c)
        if layer < len(coefs) - 1:
            a = activation(a)
    return a


def output_probabilities(z):
    """The output activation of a log-loss classifier, from the logits ``z``.

    One column: the logistic function ``1 / (1 + exp(-z))`` (binary, the
    probability of the second class); ``K > 1`` columns: the softmax
    ``exp(z_k) / sum_j exp(z_j)``, shifted by the row maximum so that no
    exponential overflows (exact for logits of any magnitude).

    Parameters
    ----------
    z : ndarray of shape (n, 1) or (n, K)

    Returns
    -------
    p : ndarray of the shape and dtype of ``z``
    """
    if z.shape[1] == 1:
        return scipy.special.expit(z)
    p = z - z.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=1, keepdims=True)
    return p


def output_log_probabilities(z):
    """Logarithm of :func:`output_probabilities`, computed without forming it.

    One column: ``log(expit(z))`` (the log-probability of the second class;
    the first is ``log(expit(-z))``); ``K`` columns: ``z - logsumexp(z)``.
    Finite for finite logits of any magnitude.
    """
    if z.shape[1] == 1:
        return scipy.special.log_expit(z)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def log_loss_terms(z, y):
    """Per-sample log-loss and its derivative in the logits (the output layer's data term).

    ``loss(z, y) = log(1 + exp(z)) - y z`` for one output (logistic,
    ``y`` in {0, 1}) and ``logsumexp(z) - <y, z>`` for ``K`` outputs
    (softmax, ``y`` one-hot); the derivative is ``p - y`` with ``p`` the
    :func:`output_probabilities`.  Both are computed stably for logits of
    any magnitude.

    Parameters
    ----------
    z : ndarray of shape (n, K)
        Logits ``F W_L + c_L``.
    y : ndarray of shape (n, K)
        0/1 indicator targets.

    Returns
    -------
    loss : ndarray of shape (n,), dtype of ``z``
    p : ndarray of shape (n, K)
        The probabilities (returned, so that the Hessian products can reuse them).
    residual : ndarray of shape (n, K)
        ``p - y``.
    """
    if z.shape[1] == 1:
        # log(1 + e^z) - y z = log(1 + e^-z) + (1 - y) z: the form without
        # cancellation, by the side of the label
        zc, yc = z[:, 0], y[:, 0]
        loss = np.where(
            yc > 0.5, np.logaddexp(0.0, -zc) + (1.0 - yc) * zc, np.logaddexp(0.0, zc) - yc * zc
        )
    else:
        # logsumexp(z) - z_y = m + log1p(sum of the other exp(z_j - z_y - m)),
        # m the largest z_j - z_y: no cancellation when the label dominates
        shifted = z - np.einsum("ij,ij->i", y, z)[:, None]
        top = shifted.argmax(axis=1)
        m = shifted[np.arange(z.shape[0]), top]
        e = np.exp(shifted - m[:, None])
        e[np.arange(z.shape[0]), top] = 0.0
        loss = m + np.log1p(e.sum(axis=1))
    p = output_probabilities(z)
    return loss.astype(z.dtype, copy=False), p, (p - y).astype(z.dtype, copy=False)


def log_loss_curvature(p, u):
    """The log-loss Hessian in the logits applied to ``u``, row by row.

    ``p (1 - p) u`` for one output; ``(diag(p) - p p^T) u`` for the softmax,
    i.e. ``p * u - p * <p, u>``.  Sums of ``[F 1]^T S`` times this over the
    rows are the Hessian-vector products of the output layer's problem
    (:func:`skadmm._readout.fit_log_loss_readout`).
    """
    if p.shape[1] == 1:
        return p * (1.0 - p) * u
    pu = p * u
    pu -= p * pu.sum(axis=1, keepdims=True)
    return pu


def class_curvature(p, sample_weight=None):
    """The softmax Hessian in the logits summed over the rows: ``sum_i s_i (diag(p_i) -
    p_i p_i^T)``, a ``K x K`` float64 matrix (the classes' coupling that
    :func:`skadmm._readout._coupled_preconditioner` keeps)."""
    pw = p if sample_weight is None else p * sample_weight[:, None]
    Q = -(pw.T @ p).astype(np.float64)
    Q[np.diag_indices_from(Q)] += np.sum(pw, axis=0, dtype=np.float64)
    return Q
