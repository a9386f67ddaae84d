"""Shared estimator logic: input handling, the fit plumbing, warm start, scores."""

import os
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._activations import ACTIVATIONS
from ._callbacks import CALLBACK_STATE, CallbackMixin, fit_tasks
from ._compat import Interval, StrOptions, _check_sample_weight, _fit_context, validate_data
from ._kernels import forward
from ._solver import SOLVERS, SolverOptions, admm_fit
from .backends import blocks_for, chunk_rows_for, get_backend

__all__ = ["BaseADMM", "validation_mask"]

#: Bytes a fit may use, as a fraction of the memory available, before
#: :class:`MemoryError` is raised instead of starting it.
_MEMORY_FRACTION = 0.9


def _available_memory():
    """Bytes of memory available to this process (Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - other POSIX
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def _can_split(n_rows, n_classes, fraction):
    """Whether ``n_rows`` rows (all workers') are enough to hold out a validation split.

    The expected number held out, ``ceil(fraction * n_rows)``, and the rest must
    each be able to hold every one of the ``n_classes`` classes: the rule of
    ``early_stopping="auto"`` for the classifiers below 10,000 rows.
    """
    n_val = int(np.ceil(fraction * n_rows))
    return n_val >= n_classes and n_rows - n_val >= n_classes


#: Rows per block of the validation split's random numbers (:func:`validation_mask`).
#: Fixed, unlike the compute blocks: the split depends on the rows only.
SPLIT_BLOCK_ROWS = 4096
#: Stream of the split's generators (the Gaussian initial state uses the layer
#: indices, the random weights ``2**31 - 1``).
_SPLIT_STREAM = 2**31 - 2


def validation_mask(seed, offset, n_rows, fraction):
    """Which of the global rows ``offset`` to ``offset + n_rows - 1`` early stopping holds out.

    Global row ``i`` is held out if and only if ``u_i < fraction``, where
    ``u_i`` is a uniform number in ``[0, 1)`` that depends only on ``(seed,
    i)``: block ``k`` of :data:`SPLIT_BLOCK_ROWS` global rows draws its numbers
    in row order from ``numpy.random.default_rng([seed, 2**31 - 2, k])``.  So
    the split of a row never depends on how the rows are cut between
    workers (MPI ranks, joblib jobs, pieces of a data set): concatenating
    the masks of consecutive pieces gives the mask of the whole.  Each row is
    held out with probability ``fraction``, independently (the number held
    out is binomial, not exactly ``fraction * n``).

    Parameters
    ----------
    seed : int
        Non-negative; the estimators draw it from ``random_state``, the same
        on every worker.
    offset : int
        Global index of the first row.
    n_rows : int
        Number of rows.
    fraction : float
        Probability that a row is held out (``validation_fraction``).

    Returns
    -------
    mask : ndarray of bool, shape (n_rows,)
        True for the held-out (validation) rows.
    """
    offset, n_rows, seed = int(offset), int(n_rows), int(seed)
    out = np.empty(n_rows, dtype=bool)
    for k, rows in blocks_for(offset, n_rows, SPLIT_BLOCK_ROWS):
        first = offset + rows.start - k * SPLIT_BLOCK_ROWS
        stop = first + (rows.stop - rows.start)
        u = np.random.default_rng([seed, _SPLIT_STREAM, k]).random(stop)
        out[rows] = u[first:] < fraction
    return out


class BaseADMM(CallbackMixin, BaseEstimator, ABC):
    """Base class of the ADMM-trained networks.  Use the derived classes."""

    # the notebook (HTML) representation links to skadmm's API pages
    _doc_link_module = "skadmm"
    _doc_link_template = (
        "https://skadmm.readthedocs.io/en/latest/generated/"
        "{estimator_module}.{estimator_name}.html"
    )

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"admm", "plain", "paper"}, deprecated={"plain"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "n_warmup_iter": [Interval(Integral, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "search_tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "backend": [str],
        # 0 threads mean nothing (joblib's rule): None, a count, or -1 for all cores
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "callback": [None, callable],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        solver,
        alpha,
        gamma,
        beta,
        n_warmup_iter,
        max_iter,
        tol,
        n_iter_no_change,
        search_tol,
        early_stopping,
        validation_fraction,
        warm_start,
        random_state,
        verbose,
        backend,
        n_jobs,
        callback,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.gamma = gamma
        self.beta = beta
        self.n_warmup_iter = n_warmup_iter
        self.max_iter = max_iter
        self.tol = tol
        self.search_tol = search_tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend
        self.n_jobs = n_jobs
        self.callback = callback

    # ---- hooks for the derived classes -----------------------------------
    _loss = None  # "hinge" or "squared"

    @abstractmethod
    def _check_targets(self, y):
        """Local checks of ``y``; returns ``(y, local classes or None)``."""

    @abstractmethod
    def _encode_targets(self, y, classes, first_pass):
        """The (n, n_outputs) float target matrix (``classes``: union over ranks)."""

    @abstractmethod
    def _score_sums(self, raw, Y, sample_weight):
        """Local sums from which :meth:`_score_from_sums` computes the score."""

    @abstractmethod
    def _score_from_sums(self, sums):
        """The score (accuracy or R^2) from globally summed :meth:`_score_sums`."""

    # ---- fit --------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (Integral, np.integer)):
            sizes = [sizes]
        sizes = list(sizes)
        if not all(isinstance(s, (Integral, np.integer)) for s in sizes) or any(
            s <= 0 for s in sizes
        ):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}."
            )
        return [int(s) for s in sizes]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data by ADMM (paper Algorithm 1).

        With ``backend="mpi"`` every rank calls ``fit`` with its own rows
        (possibly none); afterwards every rank holds the same model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (this rank's rows under MPI).  float32 data is
            trained in float32 end to end; anything else in float64.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; each scales every term of its sample's
            objective.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if self.solver == "plain":
            warnings.warn(
                "solver='plain' is deprecated in 0.2 and will be removed in 0.3; use "
                "solver='admm' (the default) or 'paper'",
                FutureWarning,
                stacklevel=3,
            )
        hidden = self._hidden_sizes()
        backend = get_backend(self.backend, self.n_jobs)
        snapshot = dict(vars(self))
        try:
            with backend, fit_tasks(self, backend) as tasks:
                self._fit(X, y, sample_weight, hidden, backend, tasks)
                # the last phase boundary: under MPI no rank returns a model
                # while another failed (a failure anywhere raises on every rank)
                backend.barrier()
                return self
        except BaseException:
            # a failed fit leaves the previously fitted model exactly as it was
            # (but for the callbacks' state, which scikit-learn tears down after fit)
            kept = {k: v for k, v in vars(self).items() if k in CALLBACK_STATE}
            vars(self).clear()
            vars(self).update(snapshot, **kept)
            raise

    def _fit(self, X, y, sample_weight, hidden, backend, tasks):
        first_pass = not (self.warm_start and hasattr(self, "coefs_"))
        # 1. Local checks only (no communication), so that under MPI a bad
        #    input on one rank becomes the same error on every rank below
        #    instead of leaving the others waiting in a collective.
        error, summary = None, None
        try:
            X, y = validate_data(
                self,
                X,
                y,
                reset=first_pass,
                accept_sparse=["csr", "csc"],
                dtype=[np.float64, np.float32],
                multi_output=self._multi_output,
                y_numeric=self._loss == "squared",
                ensure_min_samples=0 if backend.distributed else 1,
            )
            if sparse.issparse(X):
                X = X.tocsr()
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, allow_all_zero_weights=True
            )
            if sample_weight.size and sample_weight.min() < 0:
                raise ValueError("Negative values in data passed to sample_weight")
            y, local_classes = self._check_targets(y)
            params = {k: v for k, v in self.get_params().items() if k != "callback"}
            summary = {
                "n": X.shape[0],
                "n_features": X.shape[1],
                "dtype": np.dtype(X.dtype).str,
                "estimator parameters": repr(sorted(params.items())),
                "classes": local_classes,
                "sw_total": float(sample_weight.sum()),
                "weighted": bool(np.any(sample_weight != 1.0)),
                # rank 0's seeds every rank's split and initial state
                "seed": int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max)),
                **tasks.summary(),
            }
        except Exception as exc:
            if not backend.distributed:
                raise
            error = exc
        # 2. One exchange of small control data: errors, shapes, classes.
        everyone = backend.allgather((None if error is None else repr(error), summary))
        for rank, (message, _) in enumerate(everyone):
            if message is not None:
                if error is not None:
                    raise error
                raise ValueError(
                    f"backend='mpi': input validation failed on rank {rank}: {message}"
                )
        summaries = [s for _, s in everyone]
        for key in ("n_features", "dtype", "estimator parameters"):
            values = [s[key] for s in summaries]
            if any(v != values[0] for v in values):
                detail = values if key != "estimator parameters" else "(differing get_params())"
                raise ValueError(
                    f"backend='mpi': ranks disagree on {key}: {detail}. Every rank must "
                    "call fit with the same columns, dtype and parameters."
                )
        tasks.check_ranks(summaries)
        if sum(s["n"] for s in summaries) < 1:
            raise ValueError("Found array with 0 sample(s) on every rank; at least 1 is required.")
        if not sum(s["sw_total"] for s in summaries) > 0:
            raise ValueError(
                "sample_weight sums to zero: at least one sample needs a positive weight."
            )
        uniform = not any(s["weighted"] for s in summaries)
        classes = None
        if summaries[0]["classes"] is not None:
            # a rank without rows has no labels: its empty y (often float) must not
            # change the dtype of the others' labels
            held = [s["classes"] for s in summaries if s["n"]]
            classes = np.unique(np.concatenate(held))
        Y = self._encode_targets(y, classes, first_pass)
        tasks.begin_fit(X, y, None if uniform else sample_weight)
        self._warn_on_feature_scale(X)

        validation = None
        n_total = sum(s["n"] for s in summaries)
        seed = summaries[0]["seed"]
        early = self.early_stopping
        if early == "auto":
            early = n_total > 10_000  # as HistGradientBoosting: above 10,000 rows (all ranks)
            if self._loss == "hinge":  # probabilities are calibrated on held-out rows
                early = early or _can_split(n_total, len(classes), self.validation_fraction)
        if early:
            # rows before this rank's: the split is a function of the global row index
            offset = sum(s["n"] for s in summaries[: backend.rank])
            held = self._validation_rows(Y, seed, offset, n_total, backend)
            self.do_early_stopping_ = held is not None
        else:
            self.do_early_stopping_ = False
        early = self.do_early_stopping_
        if early:
            X, X_val, Y, Y_val, sample_weight, sw_val = self._split_validation(
                X, Y, sample_weight, held, backend
            )
            validation = self._validation_fns(X_val, Y_val, None if uniform else sw_val, backend)

        init = None
        if not first_pass:
            init = (self.coefs_, self.intercepts_)
            expected = [X.shape[1], *hidden, Y.shape[1]]
            got = [self.coefs_[0].shape[0]] + [w.shape[1] for w in self.coefs_]
            if got != expected:
                raise ValueError(
                    f"warm_start=True needs the same layer sizes as the fitted model: "
                    f"fitted {got}, requested {expected}. Set warm_start=False to refit."
                )
        self._check_memory(X, hidden, Y.shape[1])
        options = SolverOptions(
            gamma=float(self.gamma),
            beta=float(self.beta),
            alpha=float(self.alpha),
            n_warmup_iter=0 if init is not None else int(self.n_warmup_iter),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            n_iter_no_change=int(self.n_iter_no_change),
            slow_tol=None if self.search_tol is None else float(self.search_tol),
            **SOLVERS[self.solver],  # variant, init, readout_iter
            # classifiers: the output layer is the log-loss fit on the hidden features
            readout="log-loss" if self._loss == "hinge" else "admm",
            # the second phase of the search fits the training objective harder:
            # only with a validation split to stop it (see the solver's docs)
            search_targets="then-squared" if early else "loss",
            # with held-out rows to judge overfitting, the search's own rule only
            # says that it has converged: relative to its progress, not to the
            # objective, whose floor is large on noisy and many-class problems
            slow_reference="progress" if early else "objective",
        )
        result = admm_fit(
            X,
            Y,
            hidden_layer_sizes=hidden,
            activation=ACTIVATIONS[self.activation],
            loss=self._loss,
            options=options,
            backend=backend,
            seed=seed,
            sample_weight=None if uniform else sample_weight,
            init_coefs=init,
            validation=validation,
            callback=tasks.wrap(self.callback),
            verbose=bool(self.verbose),
            task_hook=tasks.task_hook,
        )
        # Only now, with a finished result, is any fitted attribute written:
        # a failed fit leaves a previously fitted model untouched.
        self.coefs_ = result.coefs
        self.intercepts_ = result.intercepts
        self.n_iter_ = result.n_iter
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = (
            "identity" if self._loss == "squared" else "logistic" if Y.shape[1] == 1 else "softmax"
        )
        self.loss_curve_ = list(result.loss_curve)
        self.best_loss_ = None if early else float(result.best_loss)
        self.objective_curve_ = list(result.objective_curve)
        self.search_objective_curve_ = list(result.search_objective_curve)
        self.constraint_residuals_ = result.residuals
        self.activation_residuals_ = result.activation_residuals
        self.validation_scores_ = result.validation_scores
        self.best_validation_score_ = result.best_validation_score
        self.converged_ = result.converged
        self.stop_reason_ = result.message
        self.fit_time_ = result.total_time
        self.iteration_time_ = result.times[-1] / result.n_iter if result.n_iter else 0.0
        self.readout_n_iter_ = result.readout_n_iter
        if self._loss == "hinge":
            self.temperature_ = float(result.temperature)
            self.readout_alpha_ = float(result.readout_alpha)
        self.relaxation_factors_ = result.relaxation_factors
        self.squared_targets_from_ = result.squared_targets_from
        if not result.converged and not result.interrupted:
            warnings.warn(
                f"{type(self).__name__}: stopped after max_iter={self.max_iter} iterations "
                "without converging. Raise max_iter, or change beta (larger enforces the "
                "layer constraints faster) or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        tasks.end_fit(result)
        return self

    def _warn_on_feature_scale(self, X):
        """Warn (no error) when features are far from unit scale: gamma and beta are absolute."""
        if X.shape[0] < 2:
            return
        if sparse.issparse(X):
            scale = np.asarray(abs(X).max(axis=0).todense()).ravel()
        else:
            scale = np.abs(X).max(axis=0)
        scale = scale[scale > 0]
        if scale.size and (scale.max() > 1e4 or scale.min() < 1e-4):
            warnings.warn(
                f"{type(self).__name__}: feature magnitudes range from {scale.min():.2g} to "
                f"{scale.max():.2g}. The penalties gamma and beta weigh the layer "
                "constraints in absolute units; standardise the features (StandardScaler in a "
                "Pipeline) for reliable training.",
                UserWarning,
                stacklevel=4,
            )

    def _check_memory(self, X, hidden, n_outputs):
        itemsize = np.dtype(X.dtype).itemsize
        per_row = 2 * sum(hidden) + 2 * n_outputs
        if self.solver == "admm" and hidden:
            # the search's a_{l-1} dW_l, per layer the heavy ball's a_{l-1} U_l,
            # and above the first hidden layer the targets kept for the refreshed steps
            per_row += max(hidden) + sum(hidden) + sum(hidden[1:])
        need = X.shape[0] * per_row * itemsize
        copy = ""
        # a classifier's ridge path (with held-out rows) takes its Newton products on a float32
        # copy of the output layer's dense float64 features (SolverOptions.readout_products)
        if itemsize > 4 and is_classifier(self) and self.early_stopping is not False:
            width = hidden[-1] if hidden else (0 if sparse.issparse(X) else X.shape[1])
            if width:
                need += X.shape[0] * width * 4
                copy = f", and a float32 copy of {width} features per row"
        avail = _available_memory()
        if avail is not None and need > _MEMORY_FRACTION * avail:
            raise MemoryError(
                f"{type(self).__name__}.fit needs about {need / 2**30:.2f} GiB for the "
                f"per-sample ADMM state ({X.shape[0]} rows x {per_row} values of "
                f"{itemsize} bytes{copy}) but only {avail / 2**30:.2f} GiB are available. "
                "Use float32 input, fewer or narrower hidden layers, or more MPI ranks "
                "(backend='mpi') so each holds fewer rows."
            )

    def _validation_rows(self, Y, seed, offset, n_total, backend):
        """The local rows early stopping holds out (a bool mask), or None to train on all.

        Global row ``i`` is held out iff :func:`validation_mask` says so.  Then,
        from counts summed over every worker (so every rank takes the same
        decision), each class (the regressors: the one "class" of all rows)
        that would have no training row gets back its held-out row of least
        global index.  If no row is held out, ``early_stopping="auto"`` trains
        on every row (returns None) and ``early_stopping=True`` raises
        ValueError, on every rank.
        """
        n_local = Y.shape[0]
        held = validation_mask(seed, offset, n_local, self.validation_fraction)
        if self._loss == "hinge":
            labels = Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0.5).astype(np.intp)
            n_classes = max(Y.shape[1], 2)
        else:
            labels = np.zeros(n_local, dtype=np.intp)
            n_classes = 1
        local = np.concatenate(
            [
                np.bincount(labels[~held], minlength=n_classes),
                np.bincount(labels[held], minlength=n_classes),
            ]
        ).astype(np.float64)
        counts = backend.allreduce(local)  # integers: exact
        train, val = counts[:n_classes], counts[n_classes:]
        missing = np.flatnonzero((train == 0) & (val > 0))
        if missing.size:
            # the lowest global index of a held-out row of each such class, over all ranks
            big = np.iinfo(np.int64).max
            mine = [
                int(offset + np.flatnonzero(held & (labels == k))[0])
                if np.any(held & (labels == k))
                else big
                for k in missing
            ]
            firsts = np.min(np.array(backend.allgather(mine), dtype=np.int64), axis=0)
            for k, i in zip(missing, firsts):
                if offset <= i < offset + n_local:
                    held[i - offset] = False
                train[k] += 1
                val[k] -= 1
        if val.sum() > 0:
            return held
        if self.early_stopping is True:
            raise ValueError(
                f"early_stopping=True, but validation_fraction={self.validation_fraction} "
                f"holds out no row of the {n_total} (all ranks' rows; row i is held out when "
                "a uniform number keyed by random_state and i is below validation_fraction, "
                "and every class keeps a training row). Raise validation_fraction, pass more "
                "rows, change random_state or set early_stopping=False."
            )
        return None

    def _split_validation(self, X, Y, sample_weight, held, backend):
        """Training and validation rows (``held``); under MPI the latter start on chunks."""
        idx_train, idx_val = np.flatnonzero(~held), np.flatnonzero(held)
        X_val, Y_val, sw_val = X[idx_val], Y[idx_val], sample_weight[idx_val]
        # every rank starts on a chunk of the validation rows, so that their
        # sums are those of a serial fit (as the solver does with the training rows)
        X_val, Y_val, sw_val = backend.move_rows(chunk_rows_for(1), (X_val, Y_val, sw_val))
        return X[idx_train], X_val, Y[idx_train], Y_val, sample_weight[idx_train], sw_val

    def _validation_fns(self, X_val, Y_val, sw_val, backend):
        """The solver's validation functions: per-chunk sums, the same for any partition."""
        activation = ACTIVATIONS[self.activation]
        chunk = chunk_rows_for(1)
        n_val = X_val.shape[0]
        offset = backend.row_offset(n_val)
        parts = [rows for _, rows in blocks_for(offset, n_val, chunk)] or [slice(0, 0)]

        def stats(coefs, intercepts):
            return np.array(
                [
                    self._score_sums(
                        forward(X_val[r], coefs, intercepts, activation),
                        Y_val[r],
                        None if sw_val is None else sw_val[r],
                    )
                    for r in parts
                ],
                dtype=np.float64,
            )

        if self._loss == "squared":
            return stats, self._score_from_sums

        def logits(coefs, intercepts):  # for the classifiers' ridge path and temperature
            z = np.concatenate([forward(X_val[r], coefs, intercepts, activation) for r in parts])
            return z, Y_val, sw_val, parts

        return stats, self._score_from_sums, logits

    # ---- predict ------------------------------------------------------------
    def _forward(self, X, allow_empty=False):
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            reset=False,
            ensure_min_samples=0 if allow_empty else 1,
        )
        return forward(X, self.coefs_, self.intercepts_, ACTIVATIONS[self.activation])

    def _distributed(self):
        """Whether ``backend`` holds each process's own rows (its ``distributed`` flag)."""
        return get_backend(self.backend, self.n_jobs).distributed

    def _reduce_score(self, sums):
        """The score from local sums: summed over all ranks under MPI (a collective)."""
        backend = get_backend(self.backend)
        if not backend.distributed:
            return self._score_from_sums(sums)
        with backend:
            return self._score_from_sums(backend.allreduce(sums))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
