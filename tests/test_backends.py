"""The backend seam: partition rule, registry, joblib equals serial, no copies."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from skadmm import ADMMClassifier, ADMMRegressor
from skadmm._activations import ACTIVATIONS
from skadmm._solver import SolverOptions, admm_fit, gaussian_rows
from skadmm.backends import (
    Backend,
    SerialBackend,
    available_backends,
    balanced_runs,
    block_rows_for,
    blocks_for,
    default_threads,
    get_backend,
    partition,
    register_backend,
)
from skadmm.backends._exact import BYTES_PER_ENTRY
from skadmm.datasets import load_higgs

# solver="plain" is deprecated (0.2); it keeps working until its removal in 0.3
pytestmark = pytest.mark.filterwarnings("ignore:solver='plain' is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def higgs():
    X, y = load_higgs(return_X_y=True)
    return StandardScaler().fit_transform(X[:5000]), y[:5000]


@given(n=st.integers(0, 10_000), parts=st.integers(1, 64))
def test_partition_covers_rows_in_order_and_balanced(n, parts):
    slices = [partition(n, parts, k) for k in range(parts)]
    assert slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1


def test_partition_rejects_bad_arguments():
    with pytest.raises(ValueError, match="part"):
        partition(10, 2, 2)


@given(offset=st.integers(0, 5000), n=st.integers(0, 5000), rows=st.sampled_from([64, 256, 1024]))
def test_blocks_are_aligned_on_global_rows(offset, n, rows):
    blocks = blocks_for(offset, n, rows)
    covered = [i for _, s in blocks for i in range(s.start, s.stop)]
    assert covered == list(range(n))
    for k, s in blocks:
        assert (offset + s.start) // rows == k == (offset + s.stop - 1) // rows


def test_balanced_runs_split_chunks_by_their_work():
    # the HIGGS sample's chunks (8, 8 and 1 blocks): by count one thread got 16 blocks
    assert balanced_runs([8, 8, 1], 2) == [slice(0, 1), slice(1, 3)]
    assert balanced_runs([1, 1, 1, 1, 1, 5], 2) == [slice(0, 5), slice(5, 6)]
    assert balanced_runs([3], 4) == [slice(0, 1)] and balanced_runs([], 2) == []


@given(weights=st.lists(st.integers(1, 16), max_size=40), parts=st.integers(1, 8))
def test_balanced_runs_cover_in_order_and_balance(weights, parts):
    runs = balanced_runs(weights, parts)
    if not weights:
        assert runs == []
        return
    assert len(runs) == min(parts, len(weights))
    assert runs[0].start == 0 and runs[-1].stop == len(weights)
    assert all(a.stop == b.start for a, b in zip(runs, runs[1:]))
    assert all(r.stop > r.start for r in runs)
    loads = [sum(weights[r]) for r in runs]
    assert max(loads) <= sum(weights) / len(runs) + max(weights)
    # every cut is the one nearest its share of the total, among those that leave an
    # item to each run
    total, n = np.cumsum(weights), len(runs)
    for k, run in enumerate(runs[:-1], start=1):
        target = total[-1] * k / n
        allowed = range(run.start + 1, len(weights) - (n - k) + 1)
        best = min(abs(total[e - 1] - target) for e in allowed)
        assert abs(total[run.stop - 1] - target) == best


def test_block_rows_follow_the_solver_arrays_not_a_wide_input():
    assert block_rows_for([28, 300, 1], 8) == 256  # 1 MiB per 300-wide array
    assert block_rows_for([28, 300, 1], 4) == 512
    # Fashion-MNIST's 784 pixels, 100 hidden units: the input's width used to cut them to 128
    assert block_rows_for([784, 100, 10], 8) == 1024
    # the input's block (a view) at most 16 MiB, and never fewer than 64 rows
    assert block_rows_for([4096, 100, 1], 8) == 512
    assert block_rows_for([100_000, 100, 1], 8) == 64
    assert block_rows_for([10, 3], 8) == 8192  # no hidden layer: the output's width


def test_default_threads_follow_what_blas_may_use(monkeypatch):
    from threadpoolctl import threadpool_limits

    import skadmm.backends._joblib as jb

    with threadpool_limits(1):
        assert default_threads() == 1
        with get_backend("joblib") as backend:
            assert backend.n_jobs == 1
    pools = [
        {"user_api": "blas", "num_threads": 3},
        {"user_api": "blas", "num_threads": 5},
        {"user_api": "openmp", "num_threads": 8},
    ]
    monkeypatch.setattr(jb, "threadpool_info", lambda: pools)
    assert default_threads() == 3  # the smallest BLAS pool
    with get_backend("joblib") as backend:
        assert backend.n_jobs == 3
    with parallel_config(n_jobs=2), get_backend("joblib") as backend:
        assert backend.n_jobs == 2  # joblib's configuration first
    with get_backend("joblib", 4) as backend:
        assert backend.n_jobs == 4
    monkeypatch.setattr(jb, "threadpool_info", lambda: [])
    assert default_threads() == jb.effective_n_jobs(-1)


def test_the_default_fit_runs_on_the_default_threads(higgs, monkeypatch):
    import skadmm.backends._joblib as jb

    X, y = higgs
    seen = []
    original = Backend.__enter__

    def spy(self):
        out = original(self)
        seen.append((self.name, self.n_jobs))
        return out

    monkeypatch.setattr(Backend, "__enter__", spy)
    monkeypatch.setattr(jb, "threadpool_info", lambda: [{"user_api": "blas", "num_threads": 3}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X[:500], y[:500])
    assert seen == [("joblib", 3)]


def test_the_default_fit_is_bitwise_the_serial_fit(small_chunks, monkeypatch):
    """The default (three threads here) over the chunks of 128 rows of 2,048 rows, with
    its early-stopping split: the serial model, to the last bit."""
    import skadmm.backends._joblib as jb

    monkeypatch.setattr(jb, "threadpool_info", lambda: [{"user_api": "blas", "num_threads": 3}])
    X, y = invariance_data()
    kw = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = ADMMClassifier(backend="serial", **kw).fit(X, y)
        default = ADMMClassifier(**kw).fit(X, y)
    for w, w0 in zip(default.coefs_ + default.intercepts_, serial.coefs_ + serial.intercepts_):
        np.testing.assert_array_equal(w, w0)
    assert default.validation_scores_ == serial.validation_scores_


def test_a_fit_inside_a_fit_or_off_the_main_thread_runs_on_one_thread(monkeypatch):
    """The cores are taken: nested and side-by-side fits get one thread each, and the
    process's BLAS limit is restored by the last fit to leave, whatever the order."""
    import threading

    from threadpoolctl import threadpool_limits

    import skadmm.backends._joblib as jb

    monkeypatch.setattr(jb, "threadpool_info", lambda: [{"user_api": "blas", "num_threads": 3}])
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("no BLAS thread pool seen by threadpoolctl")
    with threadpool_limits(2, user_api="blas"):  # a limit the backends must change
        before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
        if all(n == 1 for n in before.values()):
            pytest.skip("BLAS runs on one thread here")
        outer, inner = get_backend("joblib"), get_backend("joblib")
        entered = []
        try:
            entered.append(outer.__enter__())
            assert outer.n_jobs == 3
            entered.append(inner.__enter__())
            assert inner.n_jobs == 1
            outer.__exit__(None, None, None)  # the first to enter leaves first
            entered.remove(outer)
            blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
            assert all(i["num_threads"] == 1 for i in blas)
        finally:
            for be in entered[::-1]:
                be.__exit__(None, None, None)
        assert {i["filepath"]: i["num_threads"] for i in threadpool_info()} == before
    got = []

    def fit_in_a_thread():
        with get_backend("joblib") as backend:
            got.append(backend.n_jobs)

    thread = threading.Thread(target=fit_in_a_thread)
    thread.start()
    thread.join()
    assert got == [1]


def test_the_threads_are_shared_among_the_ranks_of_a_node(monkeypatch):
    import skadmm.backends._joblib as jb

    monkeypatch.setattr(jb, "threadpool_info", lambda: [{"user_api": "blas", "num_threads": 4}])
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MV2_COMM_WORLD_LOCAL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert default_threads() == 4
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")  # MPICH's Hydra
    assert default_threads() == 2
    monkeypatch.setenv("MPI_LOCALNRANKS", "8")
    assert default_threads() == 1
    monkeypatch.delenv("MPI_LOCALNRANKS")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "3")  # Open MPI
    assert default_threads() == 1


def test_n_jobs_values(higgs):
    from sklearn.utils._param_validation import InvalidParameterError

    import skadmm.backends._joblib as jb

    X, y = higgs
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        ADMMClassifier(n_jobs=0, max_iter=1).fit(X[:200], y[:200])
    with pytest.raises(ValueError, match="n_jobs == 0"):
        get_backend("joblib", 0).__enter__()
    with get_backend("joblib", -1) as backend:
        assert backend.n_jobs == jb.effective_n_jobs(-1)
    backend = get_backend("joblib", 2)
    with backend:
        assert backend.map_runs(lambda run: run, [0, 1]) == [[0], [1]]
    with pytest.raises(RuntimeError, match="entered"):
        backend.map_runs(lambda run: run, [0, 1])


def test_threads_deal_whole_chunks():
    """A map deals chunks, as a reduction does: rows in one chunk stay on the calling
    thread, and each chunk's blocks run on one thread."""
    import threading

    me = threading.get_ident()
    with get_backend("joblib", 2) as backend:
        backend.blocks_per_chunk = 4
        seen = backend.map_blocks(lambda b: (b, threading.get_ident()), range(3))
        assert seen == [(0, me), (1, me), (2, me)]
        seen = backend.map_blocks(lambda b: (b, threading.get_ident()), range(9))
        assert [b for b, _ in seen] == list(range(9))
        owners = {}
        for b, thread in seen:
            owners.setdefault(b // 4, set()).add(thread)
        assert all(len(t) == 1 for t in owners.values())
        assert owners[0] == {me} and owners[1] == owners[2] != {me}  # chunks 4 | 4 + 1


def test_a_thread_error_is_raised_once_every_run_has_ended():
    import time

    ended = []

    def fn(run):
        if run == [0]:
            raise ValueError("run 0 failed")
        time.sleep(0.2)
        ended.append(run)
        return run

    with get_backend("joblib", 2) as backend:
        with pytest.raises(ValueError, match="run 0 failed"):
            backend.map_runs(fn, [0, 1])
        assert ended == [[1]]  # no thread was still writing when the error left

        def other(run):
            if run == [1]:
                raise KeyError("run 1 failed")
            return run

        with pytest.raises(KeyError, match="run 1 failed"):
            backend.map_runs(other, [0, 1])
        assert backend.map_runs(lambda run: run, [0, 1]) == [[0], [1]]  # still usable


def test_initial_state_depends_only_on_the_global_row():
    whole = gaussian_rows(3, 1, 0, 5000, 7, np.float64)
    for cut in (1, 1023, 1024, 2500):
        left = gaussian_rows(3, 1, 0, cut, 7, np.float64)
        right = gaussian_rows(3, 1, cut, 5000 - cut, 7, np.float64)
        np.testing.assert_array_equal(np.vstack([left, right]), whole)


@pytest.mark.parametrize("n_jobs", [1, 2, 3, 4])
def test_joblib_equals_serial(higgs, n_jobs):
    X, y = higgs
    params = dict(hidden_layer_sizes=(64, 16), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = ADMMClassifier(backend="serial", **params).fit(X, y)
        threads = ADMMClassifier(backend="joblib", n_jobs=n_jobs, **params).fit(X, y)
    for w, w0 in zip(threads.coefs_ + threads.intercepts_, serial.coefs_ + serial.intercepts_):
        np.testing.assert_allclose(w, w0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(threads.loss_curve_, serial.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
@pytest.mark.parametrize("solver", ["admm", "paper"])
def test_joblib_equals_serial_with_smooth_activation(higgs, activation, solver):
    """The iterative eq. (7) kernel is entrywise, so any row split gives the same model."""
    X, y = higgs
    params = dict(
        hidden_layer_sizes=(16, 8),
        activation=activation,
        solver=solver,
        max_iter=5,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = ADMMClassifier(backend="serial", **params).fit(X, y)
        threads = ADMMClassifier(backend="joblib", n_jobs=3, **params).fit(X, y)
    for w, w0 in zip(threads.coefs_ + threads.intercepts_, serial.coefs_ + serial.intercepts_):
        np.testing.assert_allclose(w, w0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(threads.loss_curve_, serial.loss_curve_, rtol=1e-10)


def test_joblib_honours_parallel_config(higgs, monkeypatch):
    X, y = higgs
    seen = []
    original = Backend.__enter__

    def spy(self):
        out = original(self)
        seen.append(getattr(self, "n_jobs", None))
        return out

    monkeypatch.setattr(Backend, "__enter__", spy)
    with parallel_config(n_jobs=3), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMRegressor(hidden_layer_sizes=(4,), max_iter=2, backend="joblib").fit(X[:500], y[:500])
    assert seen == [3]


def test_workers_run_with_one_blas_thread_and_read_only_inputs(higgs, monkeypatch):
    """No oversubscription: BLAS is limited inside the workers; inputs are never written."""
    import skadmm._solver as solver

    X, y = higgs
    X = X.copy()
    X.setflags(write=False)
    y = y.copy()
    y.setflags(write=False)
    states = []
    original = solver.K.preactivation_update

    def spy(*args, **kwargs):
        states.append({i["internal_api"]: i["num_threads"] for i in threadpool_info()})
        return original(*args, **kwargs)

    monkeypatch.setattr(solver.K, "preactivation_update", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ADMMClassifier(hidden_layer_sizes=(8,), max_iter=2, backend="joblib", n_jobs=2).fit(X, y)
    assert states and all(s.get("openblas", 1) == 1 for s in states)
    # restored afterwards
    assert threadpool_info() and all(i["num_threads"] >= 1 for i in threadpool_info())


def test_registry_plugs_in_a_backend(higgs):
    class CountingBackend(SerialBackend):
        name = "counting"
        calls = 0

        def map_blocks(self, fn, blocks):
            CountingBackend.calls += 1
            return super().map_blocks(fn, blocks)

    register_backend("counting", CountingBackend)
    assert "counting" in available_backends()
    X, y = higgs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        counted = ADMMClassifier(
            hidden_layer_sizes=(8,), max_iter=3, backend="counting", random_state=0
        ).fit(X, y)
        plain = ADMMClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    assert CountingBackend.calls > 0
    np.testing.assert_array_equal(counted.coefs_[0], plain.coefs_[0])
    assert not any(isinstance(v, Backend) for v in vars(counted).values())
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("nope")
    with pytest.raises(TypeError):
        register_backend("bad", 3)


def test_bytes_reduced_per_iteration_are_flat_in_rows(higgs):
    X, y = higgs
    counts = []
    for n in (1000, 4000):
        backend = get_backend("serial")
        with backend:
            res = admm_fit(
                X[:n],
                y[:n].astype(float)[:, None],
                hidden_layer_sizes=[32],
                activation=ACTIVATIONS["relu"],
                loss="hinge",
                options=SolverOptions(max_iter=3, tol=0),
                backend=backend,
                seed=0,
            )
        counts.append(res.bytes_reduced)
    assert counts[0] == counts[1]
    # per iteration: [a 1]^T z for layer 1 (X's Gram is reduced once, before the
    # loop), both sums for layer 2 (of the symmetric Gram matrix its upper triangle
    # only), and 2L + 2 scalars
    # (BYTES_PER_ENTRY: the exact sums' top digit index and digits of every entry)
    assert counts[0][0] == BYTES_PER_ENTRY * (29 * 32 + 33 * 34 // 2 + 33 * 1 + 2 * 2 + 1 + 1)


def test_mpi4py_is_not_imported_by_the_package():
    import subprocess
    import sys

    code = (
        "import sys, skadmm, skadmm.backends, skadmm.datasets;"
        "from skadmm import ADMMClassifier;"
        "import numpy as np;"
        "ADMMClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(np.eye(4), [0, 1, 0, 1]);"
        "print('mpi4py' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_score_of_a_registered_distributed_backend_is_global():
    """score follows the backend's ``distributed`` flag, not its name: a rank with no
    rows takes part in the reduction instead of refusing an empty X."""

    class SumsBackend(SerialBackend):
        name = "sums"
        distributed = True
        reduced = []

        def allreduce(self, array):
            SumsBackend.reduced.append(np.array(array))
            return super().allreduce(array)

    register_backend("sums", SumsBackend)
    X, y = X_small, y_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = ADMMClassifier(hidden_layer_sizes=(4,), max_iter=2, backend="sums").fit(X, y)
    SumsBackend.reduced.clear()
    assert clf.score(X[:0], y[:0]) == 0.0  # no rows here: 0 of 0, from the global sums
    np.testing.assert_array_equal(SumsBackend.reduced, [[0.0, 0.0]])
    assert clf.score(X, y) == ADMMClassifier.score(clf.set_params(backend="serial"), X, y)


X_small = np.random.default_rng(0).standard_normal((40, 3))
y_small = np.arange(40) % 2


# ---- the same model whatever the partition ---------------------------------------
INVARIANCE_DEPTHS = [(16,), (16, 16)]
INVARIANCE_SOLVERS = ["admm", "plain", "paper"]


def invariance_data(n=2048, seed=0):
    """2,048 rows: with :func:`small_chunks`, 32 blocks of 64 rows in 16 chunks."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def invariance_fit(X, y, solver, hidden, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ADMMClassifier(
            hidden_layer_sizes=hidden,
            solver=solver,
            max_iter=30,
            tol=0,
            early_stopping=False,
            random_state=0,
            **kw,
        ).fit(X, y)


@pytest.fixture
def small_chunks(monkeypatch):
    """Blocks of 64 rows (the fewest) and chunks of 2 blocks: many of both, cheaply."""
    import skadmm.backends._base as backends_base

    monkeypatch.setattr(backends_base, "_BLOCK_BYTES", 2**12)
    monkeypatch.setattr(backends_base, "CHUNK_ROWS", 128)


@pytest.mark.parametrize("hidden", INVARIANCE_DEPTHS, ids=["1 hidden", "2 hidden"])
@pytest.mark.parametrize("solver", INVARIANCE_SOLVERS)
def test_joblib_fits_are_bitwise_those_of_serial(small_chunks, solver, hidden):
    """32 blocks, 30 iterations, tol=0: 1 to 4 jobs split the chunks differently, and
    the exact sums make every split give the serial model to the last bit."""
    X, y = invariance_data()
    serial = invariance_fit(X, y, solver, hidden, backend="serial")
    assert serial.n_iter_ == 30 or serial.converged_
    for n_jobs in (1, 2, 3, 4):
        threads = invariance_fit(X, y, solver, hidden, backend="joblib", n_jobs=n_jobs)
        for w, w0 in zip(threads.coefs_ + threads.intercepts_, serial.coefs_ + serial.intercepts_):
            np.testing.assert_array_equal(w, w0)
        assert threads.loss_curve_ == serial.loss_curve_


def test_joblib_is_bitwise_serial_with_the_default_chunks():
    """No patched sizes: 40,000 rows of a 64-wide layer are 20 blocks of 2,048 rows, in
    5 chunks of 8,192; 4 jobs cut them 2-1-1-1."""
    X, y = invariance_data(40_000)
    kw = dict(hidden_layer_sizes=(64,), max_iter=30, tol=0, early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = ADMMClassifier(backend="serial", **kw).fit(X, y)
        threads = ADMMClassifier(backend="joblib", n_jobs=4, **kw).fit(X, y)
    for w, w0 in zip(threads.coefs_ + threads.intercepts_, serial.coefs_ + serial.intercepts_):
        np.testing.assert_array_equal(w, w0)


# ---- the exact sums -------------------------------------------------------------
@given(
    terms=st.lists(
        st.lists(
            st.floats(-1e200, 1e200, allow_nan=False, allow_infinity=False), min_size=3, max_size=3
        ),
        min_size=1,
        max_size=12,
    ),
    cut=st.integers(0, 12),
    seed=st.integers(0, 2**16),
)
def test_exact_sums_do_not_depend_on_order_or_grouping(terms, cut, seed):
    import math

    from skadmm.backends._exact import ExactSum, exact_sum

    terms = [np.array(t) for t in terms]
    whole = exact_sum(terms, (3,))
    order = np.random.default_rng(seed).permutation(len(terms))
    left, right = ExactSum(3), ExactSum(3)
    for i, k in enumerate(order):
        (left if i < cut else right).add(terms[k])
    left.merge(right)
    np.testing.assert_array_equal(left.value(), whole)
    rows = ExactSum(3)
    rows.add_rows(np.array(terms)[order])
    np.testing.assert_array_equal(rows.value(), whole)
    # and as accurate as float64 allows: within 2**-60 of the largest term of the true sum
    for j in range(3):
        true = math.fsum(t[j] for t in terms)
        scale = max(abs(t[j]) for t in terms)
        assert abs(whole[j] - true) <= 2.0**-60 * scale + abs(true) * 2.0**-52


def test_exact_sums_mark_non_finite_entries():
    from skadmm.backends._exact import exact_sum

    out = exact_sum([np.array([1.0, np.inf, 2.0]), np.array([2.0, 1.0, np.nan])], (3,))
    assert out[0] == 3.0 and np.isnan(out[1]) and np.isnan(out[2])


def _one_chunk_terms(rng, n_blocks):
    """Blocks of 4 x 4 terms across float64's range (subnormals too), with zeros,
    an inf, a NaN and, with two blocks or more, a sum that overflows."""
    exponents = rng.integers(-320, 300, size=(n_blocks, 4, 4))
    terms = [rng.standard_normal((4, 4)) * 10.0 ** exponents[b] for b in range(n_blocks)]
    if n_blocks:
        terms[0][0, :] = -0.0
        terms[0][1, 1], terms[-1][2, 2] = np.inf, np.nan
        terms[0][3, 3] = terms[-1][3, 3] = np.finfo(float).max  # overflows to inf: NaN
    return terms


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # on purpose
@pytest.mark.parametrize("n_blocks", [0, 1, 2, 3])
def test_one_chunk_is_bitwise_the_exact_sum(n_blocks):
    """All rows one chunk of a local backend: reduce_blocks returns the chunk's float64
    sum without the digits, bitwise what the digits give (non-finite entries included,
    a Symmetric shape too), counted as the same reduction."""
    from skadmm.backends import Symmetric

    for seed in range(20):
        terms = _one_chunk_terms(np.random.default_rng([n_blocks, seed]), n_blocks)
        for shapes in ([(4, 4)], [Symmetric(4)]):
            got, counts = [], []
            for path in ("_one_chunk", "_exact_chunks"):
                with get_backend("serial") as be:
                    be.blocks_per_chunk = 4
                    calls = []
                    real = getattr(be, path)
                    be._one_chunk = lambda *a, real=real: calls.append(1) or real(*a)
                    got.append(be.reduce_blocks(lambda b: (terms[b],), range(n_blocks), shapes)[0])
                    counts.append((be.n_allreduce, be.bytes_reduced))
                    assert calls == [1]
            one, exact = got
            np.testing.assert_array_equal(one.view(np.int64), exact.view(np.int64))
            assert counts[0] == counts[1]
            if n_blocks >= 2:
                assert np.isnan(one[3, 3])


@pytest.mark.parametrize("backend, n_jobs", [("serial", None), ("joblib", 2)])
def test_only_one_chunk_skips_the_digits(backend, n_jobs, monkeypatch):
    """One chunk skips the digits; two chunks go through them."""
    taken = []
    real = Backend._one_chunk
    monkeypatch.setattr(
        Backend, "_one_chunk", lambda self, *a: taken.append("one") or real(self, *a)
    )
    terms = [np.full((2, 2), float(k)) for k in range(4)]
    with get_backend(backend, n_jobs) as be:
        be.blocks_per_chunk = 4
        be.reduce_blocks(lambda b: (terms[b],), range(4), [(2, 2)])
        assert taken == ["one"]
        be.blocks_per_chunk = 2
        (out,) = be.reduce_blocks(lambda b: (terms[b],), range(4), [(2, 2)])
        assert taken == ["one"]
    np.testing.assert_array_equal(out, np.full((2, 2), 6.0))


def test_a_distributed_backend_always_combines_its_processes():
    """One chunk on a distributed backend, even one whose size is left at 1, still goes
    through reduce_accumulator: skipping it would keep every rank's own sum."""

    class OneRankOfMany(SerialBackend):
        distributed = True
        combined = 0

        def reduce_accumulator(self, acc):
            self.combined += 1
            return super().reduce_accumulator(acc)

    terms = [np.full((2, 2), float(k)) for k in range(3)]
    with OneRankOfMany() as be:
        be.blocks_per_chunk = 4
        (out,) = be.reduce_blocks(lambda b: (terms[b],), range(3), [(2, 2)])
        assert be.combined == 1
    np.testing.assert_array_equal(out, np.full((2, 2), 3.0))


@pytest.mark.parametrize("Est", [ADMMClassifier, ADMMRegressor])
def test_joblib_default_early_stopping_fits_are_bitwise_those_of_serial(small_chunks, Est):
    """early_stopping on (the classifier's default "auto"; the regressor's True): the split
    is a function of the global row index, the validation sums are per chunk and exact, so
    1 to 3 jobs (29 training blocks of 64 rows) give the serial model to the last bit:
    the same best iterate, ridge path, temperature and validation scores."""
    X, y = invariance_data()
    kw = dict(hidden_layer_sizes=(16,), max_iter=30, tol=0, random_state=0)
    if Est is ADMMRegressor:
        kw["early_stopping"] = True
        y = X[:, 0] * X[:, 1] + np.sin(X[:, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = Est(backend="serial", **kw).fit(X, y)
        assert serial.do_early_stopping_
        for n_jobs in (1, 2, 3):
            threads = Est(backend="joblib", n_jobs=n_jobs, **kw).fit(X, y)
            for w, w0 in zip(
                threads.coefs_ + threads.intercepts_, serial.coefs_ + serial.intercepts_
            ):
                np.testing.assert_array_equal(w, w0)
            assert threads.validation_scores_ == serial.validation_scores_
            assert threads.best_validation_score_ == serial.best_validation_score_
            assert getattr(threads, "temperature_", 1) == getattr(serial, "temperature_", 1)


@pytest.mark.parametrize("backend, n_jobs", [("serial", None), ("joblib", 2)])
def test_symmetric_shapes_reduce_their_upper_triangle(backend, n_jobs):
    """A Symmetric shape is summed and counted as its upper triangle and comes back
    mirrored: the same sum as the full matrix's, symmetric to the last bit, at
    n (n + 1) / 2 entries' bytes."""
    from skadmm.backends import Symmetric

    rng = np.random.default_rng(0)
    A = [rng.standard_normal((50, 7)) for _ in range(6)]
    # symmetric up to a lower triangle that must not be read
    grams = [a.T @ a + np.tril(rng.standard_normal((7, 7)), -1) for a in A]
    cross = [rng.standard_normal((7, 3)) for _ in A]
    with get_backend(backend, n_jobs) as be:
        be.blocks_per_chunk = 2
        before = be.bytes_reduced
        G, R = be.reduce_blocks(lambda k: (grams[k], cross[k]), range(6), [Symmetric(7), (7, 3)])
        packed = be.bytes_reduced - before
        before = be.bytes_reduced
        full, R2 = be.reduce_blocks(lambda k: (grams[k], cross[k]), range(6), [(7, 7), (7, 3)])
        unpacked = be.bytes_reduced - before
    np.testing.assert_array_equal(G, G.T)
    np.testing.assert_array_equal(np.triu(G), np.triu(full))
    np.testing.assert_array_equal(R, R2)
    upper = np.triu(sum(grams))
    np.testing.assert_allclose(G, upper + np.triu(upper, 1).T, rtol=1e-13)
    assert not np.allclose(full, G)  # the full sum did read the lower triangles
    assert packed == BYTES_PER_ENTRY * (7 * 8 // 2 + 21)
    assert unpacked == BYTES_PER_ENTRY * (49 + 21)


def test_symmetric_shape_copies_and_pickles():
    import copy
    import pickle

    from skadmm.backends import Symmetric

    s = Symmetric(5)
    for t in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert isinstance(t, Symmetric) and t == (5, 5) and t.packed_size == 15
