"""The classifier's output layer, fitted to the log-loss by Newton's method.

With the hidden layers fixed, the output layer of a classifier solves the
convex problem

    min_{W, c}  sum_i s_i loss(f_i W + c, y_i) + alpha / 2 ||W||^2

on the network's own hidden features ``f_i`` (``s_i`` the sample weights),
with the logistic loss and one output for two classes and the softmax loss
with ``K`` outputs for ``K`` classes: the problem of
:class:`sklearn.linear_model.LogisticRegression` with ``C = 1 / alpha`` on
those features, and the output layer of :class:`sklearn.neural_network.MLPClassifier`.

:func:`fit_log_loss_readout` solves it by a line-searched Newton method
whose steps are found by preconditioned conjugate gradients (Newton-CG).
Everything that crosses the network is small: each Hessian-vector product
is one pass over the local rows and one reduction of a ``(h + 1) x K``
matrix (the transpose reduction of :func:`~skadmm._kernels.weight_statistics`
applied to the curvature), each objective and gradient (every Armijo trial
included) one more.  The preconditioner is ``[F 1]^T S diag(v) [F 1] + alpha
D`` with ``v`` the rows' curvature ``p_k (1 - p_k)`` averaged over the
outputs: for one output the exact Hessian (in the products' dtype; so the step
is Newton's, IRLS).
For the softmax it is ``H (x) Qn + alpha D (x) I``, with ``H`` that matrix
and ``Qn`` the rows' class curvature ``sum s (diag p - p p^T)`` scaled to
trace ``K``: the Hessian with the rows' weighting and the classes' coupling
taken as independent (Kronecker-factored, as K-FAC factors a layer's
curvature).  Forming it costs one reduction of a symmetric ``(h + 1) x
(h + 1)`` and a ``K x K`` matrix (their upper triangles) and one Cholesky
factorisation of size ``h + 1`` (binary)
or two eigen-decompositions, of sizes ``h`` and ``K`` (softmax); it is
formed at a fit's first Newton step and then again only once it has gone
stale (``refresh="lazy"``).  Without the coupling (``H (x) I``, the mean
of the diagonal blocks) nursery's output layer took 0.85 to 1.51 times the
conjugate-gradient iterations and krkopt's 1.17 to 1.62 times
(``benchmarks/results/readout_preconditioner.md``); the K diagonal blocks
themselves were 2.5 to 10 times slower per fit on Fashion-MNIST features.
On many rows it is formed on a sample of them (``curvature_rows``; the
estimators keep every ``s``-th row by global index, at least
``SAMPLE_ROWS_PER_FEATURE`` rows per feature,
``skadmm._solver._output.SAMPLE_ROWS_PER_FEATURE``): a preconditioner only
decides how many conjugate-gradient iterations a step takes, so the fit
solves the same problem to the same tolerance.  For the same reason the
Hessian-vector products, skinny products of the ``n x h`` features with an
``h x K`` matrix and most of the fit's time, may run in a narrower dtype
than the features (``products``: the estimators' ridge path takes them
in float32 on float64 features), while the objective and the gradient,
which decide when the fit has converged, keep the features' dtype.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from . import _kernels as K
from .backends import Symmetric

__all__ = [
    "PATH_TOL",
    "STALE_CG",
    "STALE_DECREASE",
    "ReadoutResult",
    "fit_log_loss_readout",
    "fit_readout_path",
    "fit_temperature",
    "gradient_floor",
    "initial_readout",
    "temperature_terms",
]


#: Conjugate-gradient iterations per Newton step that never count as a stale
#: preconditioner (:func:`fit_log_loss_readout`'s ``refresh="lazy"``): with an
#: exact one (two classes, every row) a step takes one or two.
STALE_CG = 4

#: The decrease of the gradient's largest entry since the preconditioner was formed
#: that makes it stale (:func:`fit_log_loss_readout`'s ``refresh="lazy"``).
STALE_DECREASE = 10.0

#: Gradient tolerance of the ridge path's points (:func:`fit_readout_path`), and the
#: loosest the estimators solve a returned output layer to, whatever their ``tol``.
PATH_TOL = 1e-4


@dataclass
class ReadoutResult:
    """What :func:`fit_log_loss_readout` returns.

    Attributes
    ----------
    coef : ndarray of shape (h, K), intercept : ndarray of shape (K,)
        The output layer, in the features' dtype.
    objective : float
        ``sum s_i loss_i + alpha / 2 ||W||^2`` at the solution.
    n_iter : int
        Newton steps taken.
    n_cg : int
        Conjugate-gradient iterations (Hessian-vector products) over all steps.
    n_reductions : int
        Reductions of small matrices across the workers.
    n_preconditioners : int
        Preconditioners formed (see ``refresh``).
    converged : bool
        Whether the gradient test was met (else the step budget ran out, or
        no step could lower the objective at the dtype's precision).
    """

    coef: np.ndarray
    intercept: np.ndarray
    objective: float
    n_iter: int
    n_cg: int
    n_reductions: int
    n_preconditioners: int
    converged: bool


def gradient_floor(dtype):
    """The tightest gradient tolerance of :func:`fit_log_loss_readout` in ``dtype``:
    ``max(1e-8, 100 eps)`` (its sums hold products in that dtype)."""
    return max(1e-8, 100.0 * float(np.finfo(dtype).eps))


def initial_readout(Y, sample_weight, backend, n_features):
    """The cold start: zero weights, intercepts at the log of the class prior.

    That is the constant predictor's optimum, so the fit starts at the
    class prior's log-loss and can only go below it.  One reduction.
    """
    w = None if sample_weight is None else sample_weight[:, None]
    totals = np.asarray(
        backend.allreduce(
            np.append(
                np.sum(Y if w is None else Y * w, axis=0, dtype=np.float64),
                float(Y.shape[0] if w is None else sample_weight.sum()),
            )
        ),
        dtype=np.float64,
    )
    counts, total = totals[:-1], max(totals[-1], np.finfo(float).tiny)
    prior = np.clip(counts / total, 1e-12, 1.0)
    theta = np.zeros((n_features + 1, Y.shape[1]))
    if Y.shape[1] == 1:
        p = min(prior[0], 1.0 - 1e-12)
        theta[-1, 0] = np.log(p) - np.log1p(-p)
    else:
        theta[-1] = np.log(prior) - np.log(prior).mean()
    return theta


def fit_log_loss_readout(
    F,
    Y,
    sample_weight,
    blocks,
    backend,
    alpha,
    theta0,
    gram=None,
    max_iter=100,
    max_cg=50,
    tol=None,
    curvature_rows=None,
    refresh="lazy",
    products=None,
):
    """Fit the output layer to the log-loss on fixed features: Newton-CG (see the module).

    Parameters
    ----------
    F : ndarray or sparse matrix of shape (n_local, h)
        The local rows' features (the last hidden layer's activations, or
        ``X`` without a hidden layer).  Never written.
    Y : ndarray of shape (n_local, K)
        0/1 indicators: one column (binary) or one per class.
    sample_weight : ndarray of shape (n_local,) or None
    blocks : list of slice
        The local row blocks.
    backend : Backend
        An entered backend (its ``reduce_blocks`` sums over every worker).
    alpha : float
        Ridge on the weights (not the intercepts).
    theta0 : ndarray of shape (h + 1, K)
        Start, ``[W; c]`` (:func:`initial_readout`, or the previous fit's).
    gram : ndarray of shape (h + 1, h + 1), optional
        ``[F 1]^T S [F 1]`` if known (one reduction saved).
    max_iter : int
        Newton steps at most.
    max_cg : int
        Conjugate-gradient iterations per Newton step at most (a truncated
        Newton step is still a descent direction).
    tol : float, optional
        Stop when the gradient's largest entry is at most ``tol`` times the
        total sample weight (the mean loss's gradient, the test of
        :class:`~sklearn.linear_model.LogisticRegression`'s Newton solvers);
        default :func:`gradient_floor` of ``F``'s dtype.
    curvature_rows : list of slice, optional
        Per block, the rows (e.g. every ``s``-th) whose curvature forms the
        preconditioner, scaled to the whole weight (default: every row of
        the block).  Only the number of conjugate-gradient iterations
        depends on it: the gradients and the Hessian-vector products use
        every row.  Each block's part is summed as the block is, so the sum
        is the same on any partition when the rows are chosen by their
        global index and no block's slice reaches beyond its chunk of the
        reproducible sums (the estimators give a chunk's whole sample to its
        first block: one product per chunk).
    refresh : {"lazy", "every"}
        When the preconditioner is formed: at ``"every"`` Newton step, or
        ``"lazy"``: at the first, then again only once it has gone stale,
        when the gradient's largest entry has fallen :data:`STALE_DECREASE`
        times since it was formed, or the last step's conjugate gradients
        hit their cap or took more than twice as many iterations as the
        first step after it was formed (and more than :data:`STALE_CG`).
        A preconditioner only decides how many conjugate-gradient iterations
        a step takes (the gradient test is exact), and
        consecutive Newton iterates' curvature differs little, while forming
        one costs a weighted Gram matrix of the sampled rows, its reduction
        and a factorisation of size ``h + 1``.  Formed at every step, the
        output layers of the shared classification datasets took 1.21 times
        as long in geometric mean (0.81 to 1.55; the fits 1.03 times), with
        the same validation accuracy to 0.0012
        (``benchmarks/results/readout_preconditioner.md``).  The gradient
        test keeps the conjugate gradients near a well-conditioned system:
        without it, on small near-separable problems, a fit with integer
        sample weights and one with the rows repeated as often drifted apart
        (scikit-learn's ``check_sample_weight_equivalence_on_dense_data``
        failed).  A conjugate-gradient breakdown with a preconditioner
        formed at an earlier iterate forms it again before falling back to
        the preconditioned gradient.
    products : ndarray of shape (n_local, h), optional
        ``F`` in the dtype the Hessian-vector products and the
        preconditioner's weighted Gram matrix run in (default ``F``
        itself), e.g. a float32 copy of float64 features; the
        probabilities are kept in its dtype.  The objective, the gradient
        and so the convergence test and the Armijo search stay in ``F``'s
        dtype: a product only decides the Newton step, and an inexact step
        still descends (the step is checked, and the test is on the exact
        gradient), so the problem is solved to the same tolerance.  The
        same problem solved with other products stops at another point
        within that tolerance, so two fits whose sums differ only by
        rounding (weighted rows and the same rows repeated) may differ by
        more than rounding: the estimators use float32 products on the
        points of a ridge path only (``SolverOptions.readout_products``).

    Returns
    -------
    ReadoutResult
    """
    if refresh not in ("lazy", "every"):
        raise ValueError(f"refresh must be 'lazy' or 'every', got {refresh!r}")
    dtype = F.dtype
    d, n_out = F.shape[1], Y.shape[1]
    ids = range(len(blocks))
    count = {"reductions": 0}
    sw = sample_weight
    Fp = F if products is None else products  # the rows the products run on
    if Fp.shape != F.shape:
        raise ValueError(f"products has shape {Fp.shape}, the features {F.shape}")
    sw_p = sw if products is None or sw is None else sw.astype(Fp.dtype, copy=False)
    P = np.empty((F.shape[0], n_out), dtype=Fp.dtype)  # probabilities at theta

    def reduce(fn, shapes):
        count["reductions"] += 1
        return backend.reduce_blocks(fn, ids, shapes)

    if gram is None:
        (gram,) = reduce(
            lambda bi: K.weight_statistics(
                F[blocks[bi]], Y[blocks[bi]][:, :0], None if sw is None else sw[blocks[bi]]
            ),
            [Symmetric(d + 1)],
        )
    total = float(gram[d, d])
    if tol is None:
        tol = gradient_floor(dtype)
    sample = blocks if curvature_rows is None else curvature_rows
    penalty = np.full((d + 1, 1), float(alpha))
    penalty[d] = 0.0

    def preconditioner():
        """The Newton step's preconditioner (a solve), from one reduction: ``[F 1]^T S
        diag(v) [F 1]`` with ``v`` the rows' curvature ``p_k (1 - p_k)`` averaged over
        the outputs (one weighted Gram).  For one output that is the exact Hessian
        (in the products' dtype; Newton's step, IRLS).  For the softmax it is the
        weighting of the rows by how unsure the model is of them, which the Hessian's
        diagonal blocks share; the same reduction sums the classes' curvature ``sum s
        (diag p - p p^T)`` (``K x K``), whose coupling :func:`_coupled_preconditioner`
        keeps."""

        coupled = n_out > 1  # the softmax: its classes' coupling too

        def fn(bi, part=sample):
            rows = part[bi]
            p = P[rows]
            if p.shape[0] == 0:  # e.g. a chunk's later block: its sample went to the first
                return [np.zeros(shape) for shape in shapes]
            v = np.mean(p * (1.0 - p), axis=1)
            weight = float(p.shape[0]) if sw is None else float(np.sum(sw[rows]))
            if sw is not None:
                v *= sw_p[rows]
            G, _ = K.weight_statistics(Fp[rows], Y[rows][:, :0], v)
            if not coupled:
                return G, np.array([weight])
            return G, np.array([weight]), K.class_curvature(p, None if sw is None else sw_p[rows])

        shapes = [Symmetric(d + 1), (1,)] + ([Symmetric(n_out)] if coupled else [])
        H, weight, *Q = reduce(fn, shapes)
        if not weight[0] > 0:  # the sample holds no weight: every row
            H, weight, *Q = reduce(lambda bi: fn(bi, blocks), shapes)
        if weight[0] < total:  # a sample of the rows, scaled to all of them
            H *= total / weight[0]
        if not coupled:
            return _preconditioner(H, alpha, gram)
        return _coupled_preconditioner(H, Q[0], alpha, gram)

    def evaluate(theta):
        """Objective and gradient at ``theta`` (one reduction); ``P`` is refreshed."""
        W, c = theta[:d].astype(dtype), theta[d].astype(dtype)

        def fn(bi):
            rows = blocks[bi]
            w = None if sw is None else sw[rows]
            loss, p, residual = K.log_loss_terms(K.linear(F[rows], W, c), Y[rows])
            P[rows] = p
            total_loss = float(np.sum(loss if w is None else loss * w, dtype=np.float64))
            return [np.array([total_loss]), *K.weight_statistics(F[rows], residual, w, gram=False)]

        loss, grad = reduce(fn, [(1,), (d + 1, n_out)])
        grad += penalty * theta
        return float(loss[0]) + 0.5 * float(np.sum(penalty * theta**2)), grad

    def hessian_product(V):
        Wv, cv = V[:d].astype(Fp.dtype), V[d].astype(Fp.dtype)

        def fn(bi):
            rows = blocks[bi]
            u = K.log_loss_curvature(P[rows], K.linear(Fp[rows], Wv, cv))
            return K.weight_statistics(Fp[rows], u, None if sw is None else sw_p[rows], gram=False)

        (HV,) = reduce(fn, [(d + 1, n_out)])
        return HV + penalty * V

    theta = np.array(theta0, dtype=np.float64)
    objective, grad = evaluate(theta)
    g0 = max(float(np.abs(grad).max()), np.finfo(float).tiny)
    n_iter = n_cg = n_preconditioners = 0
    solve, fresh_cg, last_cg, g_fresh = None, None, 0, np.inf
    cg_cap = min(max_cg, (d + 1) * n_out)
    converged = False
    for n_iter in range(max_iter + 1):
        gmax = float(np.abs(grad).max())
        if gmax <= tol * total:
            converged = True
            break
        if n_iter == max_iter:
            break
        # inexact Newton: a forcing term that shrinks with the gradient
        # gives superlinear convergence (Nocedal and Wright, section 7.1)
        forcing = min(0.5, np.sqrt(gmax / g0))
        formed = solve is None or refresh == "every"
        if formed or _stale(last_cg, fresh_cg, cg_cap, gmax, g_fresh):
            solve, fresh_cg, g_fresh, formed = preconditioner(), None, gmax, True
            n_preconditioners += 1
        step, used = _conjugate_gradient(hessian_product, grad, solve, forcing, cg_cap)
        n_cg += used
        last_cg = used
        if fresh_cg is None:  # the first step since the preconditioner was formed
            fresh_cg = used
        slope = float(np.sum(grad * step))
        if not (np.isfinite(slope) and slope < 0):
            # CG broke down (rounding on a near-flat direction): the preconditioned
            # gradient is a descent direction whenever the gradient is not zero; with
            # a preconditioner formed at this iterate, not an earlier one
            if not formed:
                solve, fresh_cg, g_fresh = preconditioner(), used, gmax
                n_preconditioners += 1
            step = solve(-grad)
            slope = float(np.sum(grad * step))
            if not (np.isfinite(slope) and slope < 0):
                break
        accepted = False
        for _ in range(40):  # Armijo backtracking on the exact objective
            trial = theta + step
            obj_trial, grad_trial = evaluate(trial)
            if obj_trial <= objective + 1e-4 * slope:
                accepted = True
                break
            step *= 0.5
            slope *= 0.5
        if not accepted:  # no decrease left at this precision
            break
        theta, objective, grad = trial, obj_trial, grad_trial
    return ReadoutResult(
        coef=theta[:d].astype(dtype),
        intercept=theta[d].astype(dtype),
        objective=objective,
        n_iter=n_iter,
        n_cg=n_cg,
        n_reductions=count["reductions"],
        n_preconditioners=n_preconditioners,
        converged=converged,
    )


def _stale(last_cg, fresh_cg, cg_cap, gmax, g_fresh):
    """Whether the Newton preconditioner has gone stale (``refresh="lazy"``).

    ``last_cg``: the conjugate-gradient iterations of the last Newton step
    (``cg_cap`` at most); ``fresh_cg``: those of the first step after the
    preconditioner was formed, at a gradient whose largest entry was
    ``g_fresh``; ``gmax``: the gradient's largest entry now.  Stale when the
    gradient has fallen :data:`STALE_DECREASE` times since (the iterate, and
    with it the curvature, has moved far), or the last step hit the cap, or
    took more than twice ``fresh_cg`` iterations and more than
    :data:`STALE_CG`.
    """
    return (
        gmax * STALE_DECREASE < g_fresh
        or last_cg >= cg_cap
        or last_cg > max(2 * fresh_cg, STALE_CG)
    )


def _coupled_preconditioner(H, Q, alpha, gram):
    """Solve with ``H (x) Qn + alpha D (x) I``: the softmax's class coupling kept.

    ``Qn`` is the rows' class curvature ``sum_i s_i (diag p_i - p_i p_i^T)``
    (:func:`~skadmm._kernels.class_curvature`) scaled to trace ``K``, so that
    ``H (x) I``, the mean of the Hessian's diagonal blocks
    (:func:`_preconditioner`), is the same approximation with the coupling
    of the classes dropped.  ``Qn`` has the exact null vector ``1``, a common
    shift of the logits that changes no probability; ``1 1^T / K`` is added,
    so that along it the preconditioner is the uncoupled one (without it,
    rounding in the gradient's zero component along the shift was amplified
    into the intercepts: weighted and repeated rows then gave logits 2e-6
    apart).  In the eigenvectors ``U`` of that matrix (eigenvalues ``mu_j``,
    floored at ``1e-6`` of the largest) the system is ``K`` independent
    ones, ``(mu_j H + alpha D) x_j = (R U)_j``, solved at once through one
    eigen-decomposition of ``H``'s weight block and the Schur
    complement of its intercept (``D`` leaves the intercept unpenalised).
    ``1e-10`` times the features' Gram matrix is added as in
    :func:`_preconditioner`, and the eigenvalues are floored at ``1e-12`` of
    the largest; where that still leaves a degenerate system the uncoupled
    preconditioner is used.
    """
    Q = np.array(Q, dtype=np.float64)
    Q = 0.5 * (Q + Q.T)
    trace = float(np.trace(Q))
    M = np.array(H, dtype=np.float64) + 1e-10 * np.asarray(gram, dtype=np.float64)
    if not (np.isfinite(trace) and trace > 0 and np.all(np.isfinite(M))):
        return _preconditioner(H, alpha, gram)
    n_out = Q.shape[0]
    # Qn's null vector 1 (a common shift of the logits, which no probability sees)
    # gets the eigenvalue 1, the mean of Qn's: along it the preconditioner is the
    # uncoupled one, so rounding in the (zero) gradient along the shift is not
    # amplified into the intercepts
    mu, U = scipy.linalg.eigh(Q * (n_out / trace) + 1.0 / n_out, check_finite=False)
    mu = np.maximum(mu, 1e-6 * mu[-1])
    d = M.shape[0] - 1
    A, b, c = 0.5 * (M[:d, :d] + M[:d, :d].T), M[:d, d], M[d, d]
    lam, V = scipy.linalg.eigh(A, check_finite=False)
    lam = np.maximum(lam, 1e-12 * max(float(lam[-1]), float(np.mean(np.diag(A))), 0.0))
    denom = lam[:, None] * mu[None, :] + alpha  # (d, K): mu_j A + alpha I in V's basis
    if not np.all(denom > 0):  # alpha = 0 and dead features
        return _preconditioner(H, alpha, gram)
    vb = V.T @ b
    # Schur complement of the intercept, per class direction j
    schur = mu * c - mu**2 * np.sum((vb**2)[:, None] / denom, axis=0)
    if not (np.all(np.isfinite(schur)) and np.all(schur > 1e-12 * max(mu[-1] * c, 1e-300))):
        return _preconditioner(H, alpha, gram)

    def solve(r):  # r: (h + 1, K), as every softmax gradient
        rot = r @ U  # in Qn's eigenvectors
        y = (V.T @ rot[:d]) / denom  # (mu_j A + alpha I)^{-1} r_1, in V's basis
        t = (rot[d] - mu * (vb @ y)) / schur
        y -= (vb[:, None] * mu[None, :] * t[None, :]) / denom
        return np.vstack([V @ y, t[None, :]]) @ U.T

    return solve


def _preconditioner(H, alpha, gram):
    """Solve with ``H + alpha D``, one matrix shared by every output.

    ``1e-10`` times the features' Gram matrix is added, and a growing
    multiple of the identity where that is still not enough (dead features
    with ``alpha = 0``), so that the solve is defined when the curvature
    has vanished.  A matrix that rounding left indefinite by more than that
    (sums of float32 products of large features, whose errors scale with
    the largest eigenvalue, not the mean diagonal) is solved through its
    eigenvectors with its eigenvalues raised to ``1e-7`` of the largest:
    any symmetric positive definite matrix preconditions the conjugate
    gradients, which use the Hessian-vector products of every row.
    """
    d = gram.shape[0] - 1
    M = np.array(H, dtype=np.float64) + 1e-10 * np.asarray(gram, dtype=np.float64)
    M[np.arange(d), np.arange(d)] += alpha
    jitter = 0.0
    scale = max(float(np.mean(np.diag(M))), np.finfo(float).tiny)
    for _ in range(12):
        try:
            factor = scipy.linalg.cho_factor(M + jitter * np.eye(d + 1), check_finite=False)
            return lambda r: scipy.linalg.cho_solve(factor, r, check_finite=False)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            jitter = max(4 * jitter, 1e-12 * scale)
    if not np.all(np.isfinite(M)):
        raise np.linalg.LinAlgError("the readout's preconditioner is not finite")
    values, vectors = scipy.linalg.eigh(0.5 * (M + M.T), check_finite=False)
    top = max(float(values[-1]), scale)  # scale: the mean diagonal, positive
    values = np.maximum(values, 1e-7 * top)
    return lambda r: vectors @ ((vectors.T @ r) / (values if r.ndim == 1 else values[:, None]))


def _conjugate_gradient(hessian_product, grad, solve, rtol, max_iter):
    """Preconditioned CG for ``H s = -grad`` to ``||r|| <= rtol ||grad||``; returns (s, used)."""
    step = np.zeros_like(grad)
    r = -grad
    z = solve(r)
    p = z.copy()
    rz = float(np.sum(r * z))
    target = rtol * float(np.linalg.norm(grad))
    used = 0
    for used in range(1, max_iter + 1):
        Hp = hessian_product(p)
        curvature = float(np.sum(p * Hp))
        if not curvature > 0:  # flat direction (rounding): keep what we have
            if used == 1:
                step = z
            break
        a = rz / curvature
        step += a * p
        r -= a * Hp
        if float(np.linalg.norm(r)) <= target:
            break
        z = solve(r)
        rz_next = float(np.sum(r * z))
        p = z + (rz_next / rz) * p
        rz = rz_next
    return step, used


def temperature_terms(z, y, scale, sample_weight=None):
    """Local sums for the validation temperature: the log-loss of ``scale * z`` and its
    first two derivatives in ``scale``.

    ``d/ds sum loss(s z, y) = sum <p - y, z>`` and ``d^2/ds^2 = sum <z, (diag p - p p^T) z>``
    (:func:`~skadmm._kernels.log_loss_curvature`), ``p`` the probabilities of ``s z``.
    The loss is convex in ``s``.

    Parameters
    ----------
    z : ndarray of shape (n, K)
        The validation rows' logits.
    y : ndarray of shape (n, K)
        Their 0/1 indicators.
    scale : float
    sample_weight : ndarray of shape (n,), default=None

    Returns
    -------
    ndarray of shape (3,), float64
    """
    loss, p, residual = K.log_loss_terms(z * scale, y)
    terms = [loss, np.sum(residual * z, axis=1), np.sum(K.log_loss_curvature(p, z) * z, axis=1)]
    w = 1.0 if sample_weight is None else sample_weight
    return np.array([np.sum(t * w, dtype=np.float64) for t in terms])


def _global_terms(backend, terms):
    """Sum of the local ``terms`` over every worker: one array, or exactly over its parts."""
    terms = np.asarray(terms, dtype=np.float64)
    if terms.ndim == 1:
        return backend.allreduce(terms)
    return backend.reduce_parts(list(terms), terms.shape[1:])


def fit_temperature(local_terms, backend, max_iter=50, tol=1e-10):
    """The inverse temperature ``0 < s <= 1`` that minimises the validation log-loss of ``s z``.

    Post-hoc temperature scaling (Guo et al., "On Calibration of Modern
    Neural Networks", ICML 2017): one scalar, fitted on rows the network
    was not trained on, multiplies the output layer.  It changes no
    prediction (the argmax of ``s z`` is that of ``z``) and corrects the
    confidence of an output layer fitted on features that separate the
    training rows better than new ones.  Exact 1-D convex minimisation over
    ``0 < s <= 1``: the temperature only softens.  Sharper outputs are the
    ridge path's to give (:func:`fit_readout_path` chose the ridge on the
    same rows), and without the bound a validation split that the model
    classifies entirely right would send ``s`` to infinity (the loss falls
    for ever as ``s`` grows).  Safeguarded Newton steps, each one reduction
    of three numbers.

    Parameters
    ----------
    local_terms : callable
        ``local_terms(s)`` returns this worker's :func:`temperature_terms`
        (zeros where it holds no validation rows), or a sequence of them (one
        per part of its rows), whose sum over parts and workers is exact
        (``backend.reduce_parts``): the same for any partition of the rows.
    backend : Backend
        An entered backend; its ``allreduce`` (``reduce_parts`` for parts) sums over
        every worker.

    Returns
    -------
    scale : float
        1.0 when the sums are degenerate (no validation rows, or logits all zero).
    """
    s = 1.0
    loss, grad, curv = _global_terms(backend, local_terms(s))
    if not (np.isfinite(loss) and curv > 0):
        return 1.0
    scale = max(abs(loss), np.finfo(float).tiny)
    for _ in range(max_iter):
        if abs(grad) * s <= tol * scale or (s >= 1.0 and grad <= 0):
            break  # stationary, or at the bound with the loss still falling towards it
        # Newton step, kept inside (s / 16, 1] and backtracked until the loss drops
        step = -grad / curv if curv > 0 else -np.sign(grad) * s
        step = float(np.clip(step, -s * (1 - 1 / 16), 1.0 - s))
        for _ in range(30):
            trial = _global_terms(backend, local_terms(s + step))
            if trial[0] <= loss:
                break
            step *= 0.5
        else:
            break
        if step == 0.0:
            break
        s += step
        loss, grad, curv = trial
    return s


def fit_readout_path(
    fit,
    validation_loss,
    alpha,
    total,
    theta0,
    tol=0.0,
    shrink=4.0,
    path_tol=PATH_TOL,
    final_tol=None,
    refine=None,
):
    """The output layer's ridge chosen on held-out rows, along a decreasing path.

    Fits the output layer (``fit(ridge, theta_start, gradient_tol)`` returns
    a :class:`ReadoutResult`; ``gradient_tol`` is
    :func:`fit_log_loss_readout`'s ``tol``, ``None`` for its default) for
    the ridges ``total, total / shrink, ...`` down to ``alpha``, each
    warm-started from the one before and solved to ``path_tol``, and keeps
    the one of least ``validation_loss(result)`` (the mean log-loss on rows
    the network was not trained on).  That path point is returned as it is
    when ``final_tol`` (the gradient tolerance the caller wants) is at least
    ``path_tol``; otherwise it is solved on to ``final_tol`` (``None``: the
    default of :func:`fit_log_loss_readout`), warm-started from its path
    point, by ``refine`` (a callable like ``fit``; default ``fit``: the
    estimators' path points take float32 Newton steps, their refinement
    those of the data's dtype).  A path point only has to
    rank its ridge: solved to a gradient of ``1e-4`` (of the mean loss's
    scale) instead of ``1e-8``, the shared classification datasets chose
    the same ridge in 21 of 22 cells (1 and 2 hidden layers of 100 units,
    validation splits, ``benchmarks/results/readout_path.md``; on optdigits
    with 2 layers the ``1e-8`` path stopped at a 4 times larger ridge, 0.18
    point less accurate, both chosen points solved to ``1e-8``), and
    nursery, krkopt and segmentation fitted 2.1 to 2.4 times faster (one
    hidden layer: 5.4 s -> 2.6 s, 14.1 s -> 6.8 s, 1.0 s -> 0.4 s);
    returning the chosen point as it is instead of solving it on to
    ``1e-8`` moved the validation accuracy by
    -0.0008 to +0.0009 and the log-loss by at most 0.0018, and cut those
    fits to 1.65 s, 2.85 s and 0.33 s; at ``1e-3`` four of the eleven
    (in 7 of the 22 cells) stopped the path too early and chose a 4 to 16
    times larger ridge (krkopt: 2.0 points of accuracy lost).  The
    path stops at the first ridge whose validation loss is not lower than
    its predecessor's by more than
    ``tol`` (the estimator's ``tol``, as scikit-learn's MLP applies it to
    its loss): along a ridge path the held-out loss falls while the fit
    gains signal and rises once it fits the training rows' noise, and the
    small ridges at the end of a path that still gains are the
    ill-conditioned, expensive ones.  Every problem solved is better
    conditioned than the user's ``alpha`` alone, where features that
    separate the training rows put the optimum far out (and make it
    overconfident).  ``total`` (the training rows' total weight) is a ridge
    under which the weights barely move from the class prior.

    Returns
    -------
    result : ReadoutResult
        The chosen fit.
    ridge : float
        Its ridge.
    n_fits : int
        Ridges fitted.
    """
    # the path ends at alpha, or where ridges stop mattering next to the rows'
    # weight (alpha = 0 would otherwise walk down to underflow)
    floor = max(float(alpha), float(total) * np.finfo(float).eps)
    ridge = max(float(total), floor)
    theta, best, previous, n_fits = theta0, None, np.inf, 0
    while True:
        res = fit(ridge, theta, path_tol)
        n_fits += 1
        loss = float(validation_loss(res))
        if best is None or loss < best[0]:
            best = (loss, res, ridge)
        if not np.isfinite(loss) or loss > previous - tol or ridge <= floor:
            break
        previous = loss
        theta = _theta(res)
        ridge = max(ridge / shrink, floor)
    if final_tol is not None and final_tol >= path_tol:
        return best[1], best[2], n_fits
    return (refine or fit)(best[2], _theta(best[1]), final_tol), best[2], n_fits


def _theta(res):
    """``[W; c]`` of a :class:`ReadoutResult`, in float64 (a warm start)."""
    return np.vstack([res.coef.astype(np.float64), res.intercept.astype(np.float64)])
