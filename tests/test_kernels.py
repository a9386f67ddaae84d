"""Property tests: every closed form is what its equation says it is."""

import numpy as np
import pytest
import scipy.optimize
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skadmm import _kernels as K
from skadmm._activations import ACTIVATIONS, LOSSES

finite = st.floats(-20, 20, allow_nan=False, allow_infinity=False)
positive = st.floats(0.05, 50, allow_nan=False, allow_infinity=False)
GRID = np.linspace(-60, 60, 240001)  # spacing 5e-4
#: a block of entries of eq. (7): a, m, beta, gamma
BLOCKS = dict(
    a=arrays(np.float64, (7, 5), elements=finite),
    m=arrays(np.float64, (7, 5), elements=finite),
    beta=positive,
    gamma=positive,
)


def _readonly(*arrays_):
    for x in arrays_:
        x.setflags(write=False)


def _grid_min(objective):
    """Brute force: the minimum of a 1-D objective over a dense grid."""
    return objective(GRID).min()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@settings(max_examples=150, deadline=None)
@given(a=finite, m=finite, beta=positive, gamma=positive)
def test_preactivation_update_is_global_minimiser(name, a, m, beta, gamma):
    """Paper eq. (7): z minimises gamma (a - h(z))^2 + beta (z - m)^2 globally."""
    h = ACTIVATIONS[name]
    A, M = np.array([[a]]), np.array([[m]])
    _readonly(A, M)
    z = K.preactivation_update(A, M, h, beta, gamma)[0, 0]

    def objective(t):
        t = np.asarray(t, dtype=float)
        return gamma * (a - h(t)) ** 2 + beta * (t - m) ** 2

    best = _grid_min(objective)
    value = objective(np.array([z]))[0]
    # never worse than any grid point (up to rounding), and a grid point
    # next to z is within the grid's resolution of it
    assert value <= best + 1e-9 * (1 + abs(best))
    assert np.isfinite(z)


PIECEWISE = sorted(n for n, h in ACTIVATIONS.items() if hasattr(h, "pieces"))


@pytest.mark.parametrize("name", PIECEWISE)
@settings(max_examples=150, deadline=None)
@given(a=finite, m=finite, beta=positive, gamma=positive)
@example(a=3.0, m=1.0, beta=1.0, gamma=10.0)  # on the kinks of hard_tanh / hard_sigmoid
@example(a=-3.0, m=-1.0, beta=1.0, gamma=10.0)
@example(a=3.0, m=0.0, beta=1.0, gamma=10.0)  # relu's and leaky_relu's kink
def test_local_preactivation_update_minimises_within_the_piece(name, a, m, beta, gamma):
    """Eq. (7) with ``local=True``: z lies in a piece that holds m, minimises the
    objective over the pieces that hold m (dense grid), and equals the global
    minimiser whenever that one lies in such a piece."""
    h = ACTIVATIONS[name]
    A, M = np.array([[a]]), np.array([[m]])
    _readonly(A, M)
    z = K.preactivation_update(A, M, h, beta, gamma, local=True)[0, 0]
    own = [p for p in h.pieces if p.lo <= m <= p.hi]
    assert any(p.lo <= z <= p.hi for p in own)

    def objective(t):
        t = np.asarray(t, dtype=float)
        return gamma * (a - h(t)) ** 2 + beta * (t - m) ** 2

    inside = np.zeros(GRID.shape, dtype=bool)
    for p in own:
        inside |= (GRID >= p.lo) & (GRID <= p.hi)
    best = objective(GRID[inside]).min()
    value = objective(np.array([z]))[0]
    assert value <= best + 1e-9 * (1 + abs(best))
    glob = K.preactivation_update(A, M, h, beta, gamma)[0, 0]
    if any(p.lo <= glob <= p.hi for p in own):
        assert objective(np.array([z]))[0] <= objective(np.array([glob]))[0] * (1 + 1e-12) + 1e-12


def test_local_preactivation_update_never_jumps():
    """A ReLU unit below its kink stays where it is, whatever its target (the global
    form moves it up when a target above is cheaper); one above the kink moves
    within its piece, up to the kink; smooth activations ignore ``local``."""
    relu = ACTIVATIONS["relu"]
    a = np.array([[2.0, 2.0, -5.0, 0.5]])
    m = np.array([[-0.1, 1.0, 1.0, 0.0]])
    _readonly(a, m)
    glob = K.preactivation_update(a, m, relu, 1.0, 10.0)
    local = K.preactivation_update(a, m, relu, 1.0, 10.0, local=True)
    assert glob[0, 0] > 0  # the global minimiser jumps
    np.testing.assert_array_equal(local[0, 0], -0.1)  # the local one stays
    np.testing.assert_allclose(local[0, 1], (10 * 2.0 + 1.0) / 11)  # inside: the same
    assert local[0, 2] == 0.0  # a target below the kink: clipped at the piece's end
    np.testing.assert_allclose(local[0, 3], 10 * 0.5 / 11)  # at the kink: either piece
    for name in ("tanh", "logistic"):
        np.testing.assert_array_equal(
            K.preactivation_update(a, m, ACTIVATIONS[name], 1.0, 10.0, local=True),
            K.preactivation_update(a, m, ACTIVATIONS[name], 1.0, 10.0),
        )
    # float32 objectives that overflow in every piece: still m's own piece
    big = np.array([[3e38, -3e38, 3e38]], dtype=np.float32)
    inside = np.array([[0.5, -0.5, -2.0]], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        z = K.preactivation_update(big, inside, ACTIVATIONS["hard_tanh"], 1.0, 10.0, local=True)
    np.testing.assert_array_equal(z, [[1.0, -1.0, -2.0]])


@settings(max_examples=100, deadline=None)
@given(**BLOCKS)
def test_relu_local_fast_path_matches_generic_pieces(a, m, beta, gamma):
    """The ReLU formula of the local form gives the generic piece loop's minimiser;
    float32 stays float32 and ``out=`` is written."""
    from skadmm._activations import PiecewiseLinear

    generic = PiecewiseLinear("relu-generic", ACTIVATIONS["relu"].pieces)
    _readonly(a, m)
    fast = K.preactivation_update(a, m, ACTIVATIONS["relu"], beta, gamma, local=True)
    slow = K.preactivation_update(a, m, generic, beta, gamma, local=True)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    out = np.empty_like(m)
    res = K.preactivation_update(a, m, ACTIVATIONS["relu"], beta, gamma, out=out, local=True)
    assert res is out
    np.testing.assert_array_equal(out, fast)
    a32, m32 = a.astype(np.float32), m.astype(np.float32)
    z32 = K.preactivation_update(a32, m32, ACTIVATIONS["relu"], beta, gamma, local=True)
    assert z32.dtype == np.float32
    ref = K.preactivation_update(
        a32.astype(float), m32.astype(float), ACTIVATIONS["relu"], beta, gamma, local=True
    )
    np.testing.assert_allclose(z32, ref, rtol=1e-6, atol=1e-6 * (1 + np.abs(ref).max()))
    assert np.all((z32 >= 0) == (m32 >= 0))  # float32 too keeps every entry in its piece


# ---- smooth activations (tanh, logistic): eq. (7) has up to two local minima -----

SMOOTH = ["tanh", "logistic"]


def _smooth_derivatives(name, z):
    """``h(z), h'(z), h''(z)`` for the reference solver, written independently of skadmm."""
    if name == "tanh":
        h = np.tanh(z)
        d = 1.0 - h * h
        return h, d, -2.0 * h * d
    h = 0.5 * (1.0 + np.tanh(0.5 * z))
    d = h * (1.0 - h)
    return h, d, d * (1.0 - 2.0 * h)


def _reference_minimum(name, a, m, beta, gamma, n_grid=200_001):
    """The global minimum of gamma (a - h(z))^2 + beta (z - m)^2, by brute force.

    Every stationary point satisfies ``|z - m| = (gamma / beta) |h'(z)| |a - h(z)|
    <= R = (gamma / beta) max|h'| (|a| + max|h|)``, so the minimiser lies in
    ``[m - R, m + R]``.  A dense grid over it locates every basin; each grid local
    minimum is refined by bounded Brent on its two neighbouring cells, then by
    Newton steps (kept only while they lower the objective).
    """

    def objective(z):
        return gamma * (a - _smooth_derivatives(name, z)[0]) ** 2 + beta * (z - m) ** 2

    slope_max = 1.0 if name == "tanh" else 0.25
    R = (gamma / beta) * slope_max * (abs(a) + 1.0) * (1 + 1e-9) + 1e-9 * (1 + abs(m))
    grid = np.linspace(m - R, m + R, n_grid)
    f = objective(grid)
    local = np.flatnonzero((f <= np.r_[np.inf, f[:-1]]) & (f <= np.r_[f[1:], np.inf]))
    best_z, best_f = grid[np.argmin(f)], f.min()
    for i in local[np.argsort(f[local])[:20]]:
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
        res = scipy.optimize.minimize_scalar(
            objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-14}
        )
        z, fz = res.x, objective(res.x)
        for _ in range(30):
            h, d, dd = _smooth_derivatives(name, z)
            g1 = -2 * gamma * d * (a - h) + 2 * beta * (z - m)
            g2 = 2 * gamma * (d * d - dd * (a - h)) + 2 * beta
            if g2 <= 0:
                break
            zn = min(max(z - g1 / g2, lo), hi)
            fn = objective(zn)
            if not fn < fz:
                break
            z, fz = zn, fn
        if fz < best_f:
            best_z, best_f = z, fz
    return best_z, best_f, objective


def _assert_global_minimiser(name, a, m, beta, gamma):
    A, M = np.array([[a]]), np.array([[m]])
    _readonly(A, M)
    z = K.preactivation_update(A, M, ACTIVATIONS[name], beta, gamma)[0, 0]
    assert np.isfinite(z)
    _, best, objective = _reference_minimum(name, a, m, beta, gamma)
    value = objective(z)
    assert value <= best + 1e-10 * (1.0 + abs(best)), (z, value, best)


@pytest.mark.parametrize("name", SMOOTH)
@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(-12, 12, allow_nan=False, allow_infinity=False),
    m=st.floats(-60, 60, allow_nan=False, allow_infinity=False),
    log_beta=st.floats(-2, 2),
    log_gamma=st.floats(-2, 2),
)
def test_smooth_preactivation_is_global_minimiser(name, a, m, log_beta, log_gamma):
    """Paper eq. (7) for tanh / logistic: the returned z is the global minimiser of
    gamma (a - h(z))^2 + beta (z - m)^2, to 1e-10 in the objective (float64), over
    gamma / beta from 1e-4 to 1e4 (where two local minima are common)."""
    _assert_global_minimiser(name, a, m, 10.0**log_beta, 10.0**log_gamma)


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("ratio", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize(
    "a, m",
    [
        (0.5, 1e9),  # very large |m|: tanh saturated
        (0.5, -1e6),
        (-0.7, 1e3),
        (5.0, -3.0),  # a above h's range
        (-40.0, 2.0),  # a far below it
        (1.0, -2.0),  # a on the edge of the range: tanh's sup, logistic's
        (0.0, 2.0),  # logistic's inf, tanh's centre
        (-1.0, 0.0),
        (1e3, 0.0),
    ],
)
def test_smooth_preactivation_table_edges(name, ratio, a, m):
    """The edges a lookup table would have: very large |m|, a outside h's range,
    gamma / beta at 1e-3 and 1e3 (both ways round: gamma or beta moved)."""
    for beta, gamma in ((1.0, ratio), (1.0 / ratio, 1.0)):
        _assert_global_minimiser(name, a, m, beta, gamma)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_preactivation_finds_the_other_basin(name):
    """A case with two local minima where the global one is not the nearer to m:
    the kernel must pick the lower, not the first found."""
    # minima near 3.02 and -0.48 (tanh), 5.04 and -0.37 (logistic): the far one wins
    if name == "tanh":
        a, m, gamma, far = -0.9, 3.2, 10.0, -0.4755
    else:
        a, m, gamma, far = 0.25, 5.8, 160.0, -0.3665
    _, best, objective = _reference_minimum(name, a, m, 1.0, gamma)
    grid = np.linspace(-10, 10, 200_001)
    f = objective(grid)
    assert np.sum((f[1:-1] < f[:-2]) & (f[1:-1] < f[2:])) == 2
    z = K.preactivation_update(np.array([a]), np.array([m]), ACTIVATIONS[name], 1.0, gamma)[0]
    assert z == pytest.approx(far, abs=1e-3)
    _assert_global_minimiser(name, a, m, 1.0, gamma)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_preactivation_is_entrywise_float32_and_pure(name):
    """A whole array at once equals the entries one by one; float32 in, float32 out
    (the float64 result rounded); read-only inputs; out= gets the same values."""
    rng = np.random.default_rng(7)
    a = rng.uniform(-2, 2, (40, 30))
    m = rng.normal(0, 4, (40, 30))
    _readonly(a, m)
    h = ACTIVATIONS[name]
    z = K.preactivation_update(a, m, h, 1.0, 10.0)
    assert z.shape == a.shape and z.dtype == np.float64
    for i, j in [(0, 0), (3, 7), (39, 29), (20, 11)]:
        cell = (slice(i, i + 1), slice(j, j + 1))
        one = K.preactivation_update(a[cell], m[cell], h, 1.0, 10.0)
        assert one[0, 0] == z[i, j]
    a32, m32 = a.astype(np.float32), m.astype(np.float32)
    _readonly(a32, m32)
    z32 = K.preactivation_update(a32, m32, h, 1.0, 10.0)
    assert z32.dtype == np.float32
    ref = K.preactivation_update(a32.astype(float), m32.astype(float), h, 1.0, 10.0)
    np.testing.assert_array_equal(z32, ref.astype(np.float32))
    out = np.empty_like(m32)
    assert K.preactivation_update(a32, m32, h, 1.0, 10.0, out=out) is out
    np.testing.assert_array_equal(out, z32)
    # larger than one of the kernel's cache blocks: a slice across a block edge
    big_a, big_m = rng.uniform(-2, 2, (50, 1000)), rng.normal(0, 4, (50, 1000))
    big = K.preactivation_update(big_a, big_m, h, 1.0, 10.0)
    part = K.preactivation_update(big_a[15:18], big_m[15:18], h, 1.0, 10.0)
    np.testing.assert_array_equal(part, big[15:18])


@settings(max_examples=100, deadline=None)
@given(**BLOCKS)
def test_relu_fast_path_matches_generic_pieces(a, m, beta, gamma):
    """The simplified ReLU formula picks the same minimiser as the generic piece loop."""
    from skadmm._activations import PiecewiseLinear

    generic = PiecewiseLinear("relu-generic", ACTIVATIONS["relu"].pieces)
    fast = K.preactivation_update(a, m, ACTIVATIONS["relu"], beta, gamma)
    slow = K.preactivation_update(a, m, generic, beta, gamma)

    def obj(z):
        return gamma * (a - np.maximum(z, 0)) ** 2 + beta * (z - m) ** 2

    np.testing.assert_allclose(obj(fast), obj(slow), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@settings(max_examples=200, deadline=None)
@given(m=finite, lam=finite, beta=positive, label=st.sampled_from([0.0, 1.0]), y=finite)
def test_output_update_is_global_minimiser(loss, m, lam, beta, label, y):
    """Output step: z minimises loss(z, y) + lambda z + beta (z - m)^2 globally."""
    target = label if loss == "hinge" else y
    M, Y, LAM = np.array([[m]]), np.array([[target]]), np.array([[lam]])
    _readonly(M, Y, LAM)
    z = K.output_update(M, Y, LAM, beta, loss)[0, 0]

    def objective(t):
        return LOSSES[loss](t, target) + lam * t + beta * (t - m) ** 2

    best = _grid_min(objective)
    assert objective(np.array([z]))[0] <= best + 1e-9 * (1 + abs(best))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 6),
    k=st.integers(1, 3),
    alpha=st.floats(0, 10),
    beta=positive,
    seed=st.integers(0, 2**16),
)
def test_weight_update_solves_normal_equations(n, d, k, alpha, beta, seed):
    """W_l = z a^+ by the normal equations (G + alpha/(2 beta) D) [W; c] = R."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d))
    z = rng.standard_normal((n, k))
    _readonly(a, z)
    gram, cross = K.weight_statistics(a, z)
    W, c = K.weight_update(gram, cross, alpha, beta)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(c))
    lhs = gram.copy()
    lhs[np.arange(d), np.arange(d)] += alpha / (2 * beta)
    sol = np.vstack([W, c])
    if n > d and alpha > 1e-3:
        np.testing.assert_allclose(lhs @ sol, cross, rtol=1e-7, atol=1e-7)
    else:  # possibly singular: the min-norm least-squares solution
        expected = np.linalg.pinv(lhs, rcond=1e-12) @ cross
        np.testing.assert_allclose(lhs @ sol, lhs @ expected, rtol=1e-6, atol=1e-6)


def test_weight_update_singular_gram_is_pseudo_inverse():
    """Dead units and duplicate columns: finite weights, equal to z a^+ (min norm)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 4))
    a = np.hstack([a, np.zeros((50, 2)), a[:, :1]])  # two dead units, one duplicate
    z = rng.standard_normal((50, 3))
    W, c = K.weight_update(*K.weight_statistics(a, z), alpha=0.0, beta=1.0)
    aug = np.hstack([a, np.ones((50, 1))])
    expected = np.linalg.pinv(aug) @ z
    np.testing.assert_allclose(np.vstack([W, c]), expected, atol=1e-8)


def test_weight_statistics_sum_over_blocks_is_transpose_reduction():
    """Per-block sums add up to the whole: the MPI reduction is exact."""
    rng = np.random.default_rng(1)
    a, z, w = rng.standard_normal((90, 5)), rng.standard_normal((90, 2)), rng.random(90)
    whole = K.weight_statistics(a, z, w)
    parts = [K.weight_statistics(a[s], z[s], w[s]) for s in (slice(0, 31), slice(31, 90))]
    for i in range(2):
        np.testing.assert_allclose(parts[0][i] + parts[1][i], whole[i], rtol=1e-12)


def test_weight_statistics_sparse_equals_dense():
    from scipy import sparse

    rng = np.random.default_rng(2)
    a = rng.standard_normal((40, 6)) * (rng.random((40, 6)) < 0.3)
    z, w = rng.standard_normal((40, 2)), rng.random(40)
    for dense, sp in zip(
        K.weight_statistics(a, z, w), K.weight_statistics(sparse.csr_matrix(a), z, w)
    ):
        np.testing.assert_allclose(dense, sp, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 20),
    n_l=st.integers(1, 8),
    n_next=st.integers(1, 8),
    beta=positive,
    gamma=positive,
    seed=st.integers(0, 2**16),
)
def test_activation_update_solves_its_linear_system(n, n_l, n_next, beta, gamma, seed):
    """Paper eq. (6): the gradient of beta||z - aW - c||^2 + gamma||a - h||^2 vanishes."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_l, n_next))
    c = rng.standard_normal(n_next)
    z = rng.standard_normal((n, n_next))
    h = np.maximum(rng.standard_normal((n, n_l)), 0)
    _readonly(W, c, z, h)
    a = K.activation_update(z, W, c, h, beta, gamma)
    grad = -beta * (z - c - a @ W) @ W.T + gamma * (a - h)
    scale = 1 + np.abs(beta * (z - c) @ W.T).max() + gamma * np.abs(h).max()
    np.testing.assert_allclose(grad, 0, atol=1e-9 * scale)


@pytest.mark.parametrize("shape", [(10, 2), (2, 10), (6, 6)])
def test_activation_update_woodbury_equals_direct(shape):
    """Both forms of eq. (6) give the same activations."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal(shape)
    c, z = rng.standard_normal(shape[1]), rng.standard_normal((9, shape[1]))
    h = rng.standard_normal((9, shape[0]))
    M = 1.3 * W @ W.T + 7.0 * np.eye(shape[0])
    direct = np.linalg.solve(M, (1.3 * (z - c) @ W.T + 7.0 * h).T).T
    np.testing.assert_allclose(K.activation_update(z, W, c, h, 1.3, 7.0), direct, rtol=1e-10)


@settings(max_examples=50, deadline=None)
@given(
    lam=arrays(np.float64, (4, 3), elements=finite), z=arrays(np.float64, (4, 3), elements=finite)
)
def test_multiplier_update_is_zero_when_constraint_holds(lam, z):
    """Eq. (8): lambda is unchanged when z_L = W_L a_{L-1}, moved by step * residual else."""
    _readonly(lam, z)
    np.testing.assert_array_equal(K.multiplier_update(lam, z, z, 1.0), lam)
    np.testing.assert_allclose(K.multiplier_update(lam, z + 1.0, z, 2.0), lam + 2.0)


def test_kernels_keep_dtype_float32():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((8, 5)).astype(np.float32)
    m = rng.standard_normal((8, 5)).astype(np.float32)
    for name in ACTIVATIONS:
        assert K.preactivation_update(a, m, ACTIVATIONS[name], 1.0, 10.0).dtype == np.float32
    W = rng.standard_normal((5, 2)).astype(np.float32)
    assert (
        K.activation_update(m[:, :2], W, np.zeros(2, np.float32), a, 1.0, 10.0).dtype == np.float32
    )
    y = (rng.random((8, 2)) > 0.5).astype(np.float32)
    for loss in LOSSES:
        assert K.output_update(m[:, :2], y, m[:, :2] * 0, 1.0, loss).dtype == np.float32


def test_forward_matches_manual_network():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 3))
    coefs = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    intercepts = [rng.standard_normal(4), rng.standard_normal(2)]
    expected = np.maximum(X @ coefs[0] + intercepts[0], 0) @ coefs[1] + intercepts[1]
    np.testing.assert_allclose(K.forward(X, coefs, intercepts, ACTIVATIONS["relu"]), expected)


@pytest.mark.parametrize("name", ["relu", "hard_tanh", "tanh", "logistic"])
def test_out_argument_writes_only_the_output(name):
    """``out=`` (the solver's own state) gets the same values; the inputs are untouched."""
    rng = np.random.default_rng(6)
    a, m = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    W, c, z = rng.standard_normal((4, 2)), rng.standard_normal(2), rng.standard_normal((5, 2))
    _readonly(a, m, W, c, z)
    out = np.empty((5, 4))
    res = K.preactivation_update(a, m, ACTIVATIONS[name], 1.0, 10.0, out=out)
    assert res is out
    np.testing.assert_array_equal(out, K.preactivation_update(a, m, ACTIVATIONS[name], 1.0, 10.0))
    out2 = np.empty((5, 4))
    K.activation_update(z, W, c, a, 1.0, 10.0, out=out2)
    np.testing.assert_allclose(out2, K.activation_update(z, W, c, a, 1.0, 10.0), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    W=arrays(np.float64, (4, 3), elements=finite),
    step=arrays(np.float64, (4, 3), elements=finite),
    omega=st.floats(0, 1e4, allow_nan=False),
)
def test_relaxed_step_is_the_line_through_the_update(W, step, omega):
    """W + omega step: 0 keeps W, 1 is the closed-form update, inputs untouched."""
    _readonly(W, step)
    np.testing.assert_array_equal(K.relaxed_step(W, step, 0.0), W)
    np.testing.assert_allclose(K.relaxed_step(W, step, 1.0), W + step)
    np.testing.assert_allclose(K.relaxed_step(W, step, omega), W + omega * step, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(
    W=arrays(np.float64, (4, 3), elements=finite),
    step=arrays(np.float64, (4, 3), elements=finite),
    previous=arrays(np.float64, (4, 3), elements=finite),
    omega=st.floats(0, 1e4, allow_nan=False),
    momentum=st.floats(0, 1, allow_nan=False),
)
def test_relaxed_step_with_momentum_adds_the_previous_update(W, step, previous, omega, momentum):
    """Heavy ball: W + omega step + momentum previous, and relaxed_update is exactly what
    relaxed_step adds (the solver keeps it as the next iteration's previous update)."""
    _readonly(W, step, previous)
    new = K.relaxed_step(W, step, omega, previous, momentum)
    np.testing.assert_allclose(new, W + omega * step + momentum * previous, atol=1e-9)
    np.testing.assert_array_equal(new, W + K.relaxed_update(step, omega, previous, momentum))
    np.testing.assert_array_equal(
        K.relaxed_step(W, step, omega, previous, 0.0), K.relaxed_step(W, step, omega)
    )
    np.testing.assert_array_equal(
        K.relaxed_step(W, step, omega, None, momentum), K.relaxed_step(W, step, omega)
    )


@settings(max_examples=50, deadline=None)
@given(
    F=arrays(np.float64, (12, 3), elements=finite),
    t=arrays(np.float64, (12, 2), elements=finite),
    alpha=st.floats(1e-3, 10, allow_nan=False),
)
def test_readout_objective_equals_the_direct_sum(F, t, alpha):
    """From the reduced sums alone: 1/2 ||t - F W - c||^2 + alpha/2 ||W||^2, at the
    ridge fit of weight_update(beta=1/2) and at any other weights."""
    _readonly(F, t)
    G, R = K.weight_statistics(F, t)
    W, c = K.weight_update(G, R, alpha, 0.5)
    rng = np.random.default_rng(0)
    for Wx, cx in ((W, c), (W + rng.normal(size=W.shape), c - 1.0)):
        direct = 0.5 * np.sum((t - F @ Wx - cx) ** 2) + 0.5 * alpha * np.sum(Wx**2)
        got = K.readout_objective(G, R, float(np.sum(t**2)), Wx, cx, alpha)
        assert got == pytest.approx(direct, rel=1e-7, abs=1e-7 * (1 + np.sum(t**2)))
    # the ridge fit is the minimiser
    other = K.readout_objective(G, R, float(np.sum(t**2)), W * 1.01, c, alpha)
    assert K.readout_objective(G, R, float(np.sum(t**2)), W, c, alpha) <= other + 1e-9
