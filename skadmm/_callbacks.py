"""scikit-learn's callbacks (SLEP023, :mod:`sklearn.callback`) in an ADMM fit.

The task tree of one ``fit``, as scikit-learn's callbacks see it::

    fit                      the root task (merged with a meta-estimator's leaf)
    ├── iteration #0         one subtask per ADMM iteration, in order
    ├── ...
    └── readout #n_iter_     the final output-layer refit (when there is one)

At the end of every iteration the callbacks receive a ``fitted_estimator``:
a shallow copy of the estimator whose ``coefs_``, ``intercepts_`` and
``n_iter_`` are that iteration's (scikit-learn's "reconstruction
attributes", as :class:`~sklearn.linear_model.LogisticRegression` does), so
:class:`~sklearn.callback.ScoringMonitor` scores the model as it stood then.
The estimator itself gets its fitted attributes only at the end of ``fit``,
from the fit's real result (best validation weights, readout refit).

Under ``backend="mpi"`` every rank runs the same hooks the same number of
times (the iterations are in lock-step), a callback's request to stop or its
error is agreed on by all ranks (one small ``allgather`` per iteration, only
when callbacks are set), so no rank is left waiting in a collective, and a
:class:`~sklearn.callback.ProgressBar` is drawn by rank 0 only.

With scikit-learn < 1.9 (no :mod:`sklearn.callback`) all of this is inert.
"""

import warnings
from contextlib import contextmanager
from functools import partial

from ._compat import HAS_CALLBACKS, CallbackSupportMixin, ProgressBar, ScoringMonitor, _BaseScorer

__all__ = ["CALLBACK_STATE", "CallbackMixin", "fit_tasks"]

#: Attributes scikit-learn's callback machinery keeps on the estimator during
#: ``fit`` and tears down after it: a failed fit that restores the previous
#: model must keep them, or the callbacks set up would never be torn down.
CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


class CallbackMixin(CallbackSupportMixin):
    """scikit-learn's callback support, plus: a pickled *fitted* model drops its callbacks.

    A fitted model is an artefact to keep or ship; its callbacks (a progress
    bar, a monitor and its log) belong to the session that trained it.  An
    unfitted estimator keeps them, so that the clones a
    :class:`~sklearn.model_selection.GridSearchCV` sends to joblib's worker
    processes still report to the main process.
    """

    def __getstate__(self):
        state = super().__getstate__()
        if "coefs_" in state:
            state = {k: v for k, v in state.items() if k != "_skl_callbacks"}
        return state


@contextmanager
def fit_tasks(estimator, backend):
    """The callback tasks of one ``fit`` (``backend`` entered); yields a :class:`_FitTasks`.

    Sets up the callbacks (``_init_callback_context``) on entering.  Under a
    distributed backend, ranks other than 0 leave out their
    :class:`~sklearn.callback.ProgressBar` instances for the fit (it draws;
    it calls nothing collective); they are put back on leaving.
    """
    if not HAS_CALLBACKS:
        yield _FitTasks(None, None, backend)
        return
    own = vars(estimator).get("_skl_callbacks")
    if own and backend.distributed and not backend.is_root:
        kept = [cb for cb in own if not _draws(cb)]
        if kept:
            estimator._skl_callbacks = kept
        else:
            del estimator._skl_callbacks
    try:
        # one subtask per iteration, and one for the readout refit
        ctx = estimator._init_callback_context(max_subtasks=estimator.max_iter + 1)
        yield _FitTasks(estimator, ctx, backend)
    finally:
        if own is not None:
            estimator._skl_callbacks = own


class _FitTasks:
    """Calls the callback hooks of one fit's tasks (see the module docstring)."""

    def __init__(self, estimator, ctx, backend):
        self._est = estimator
        self._ctx = ctx
        self._backend = backend
        callbacks = [] if estimator is None else list(getattr(estimator, "_skl_callbacks", []))
        self._names = sorted(type(cb).__name__ for cb in callbacks if not _draws(cb))
        self.active = bool(callbacks)
        self._open = None  # (name, context) of the subtask running
        self._data = {}
        if backend.distributed and backend.size > 1:
            for cb in callbacks:
                if isinstance(cb, ScoringMonitor) and _scores_locally(cb._scoring):
                    warnings.warn(
                        f"backend='mpi': ScoringMonitor(scoring={cb._scoring!r}) computes its "
                        f"metric on this rank's rows only: rank {backend.rank} logs its own "
                        "value.  For the score over all ranks' rows, use the estimator's "
                        "score, which is collective: ScoringMonitor(scoring={'score': "
                        "lambda est, X, y: est.score(X, y)}).",
                        UserWarning,
                        stacklevel=5,
                    )

    # ---- agreement between ranks -------------------------------------------------
    def summary(self):
        """Small control data for the ranks' one exchange at the start of ``fit``."""
        return {"callbacks": self._names, "callbacks active": self.active}

    def check_ranks(self, summaries):
        """Every rank must hold the same callbacks (a progress bar aside)."""
        names = [s["callbacks"] for s in summaries]
        if any(n != names[0] for n in names):
            raise ValueError(
                f"backend='mpi': ranks disagree on the callbacks set with set_callbacks: "
                f"{names}. Set the same callbacks on every rank (a ProgressBar may be set "
                "on rank 0 only): a callback that calls the estimator's score (collective "
                "under MPI) on some ranks only would leave the others waiting."
            )
        # a rank without callbacks still takes part in the per-iteration agreement
        self.active = any(s["callbacks active"] for s in summaries)

    # ---- hooks --------------------------------------------------------------------
    def begin_fit(self, X, y, sample_weight=None):
        """The root task begins: ``X``, ``y`` are this rank's rows, as passed to fit."""
        if self._ctx is None:
            return
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self._data = {"X": X, "y": y, "metadata": metadata}
        self._ctx.call_on_fit_task_begin(estimator=self._est, **self._data)

    def begin(self, name):
        """The solver starts a task: ``"iteration"`` or ``"readout"``."""
        self._close()
        sub = self._ctx.subcontext(task_name=name)
        sub.call_on_fit_task_begin(estimator=self._est, **self._data)
        self._open = (name, sub)

    def wrap(self, callback):
        """The solver's ``callback``: ends the iteration's task, then calls ``callback``."""
        if not self.active:
            return callback

        def end_iteration(iteration, info):
            attributes = partial(
                _snapshot, info["coefs"], info["intercepts"], iteration, self._est._loss
            )
            stop = self._end(self._take_open(), attributes)
            if callback is not None and callback(iteration, info):
                stop = True
            return stop

        return end_iteration

    @property
    def task_hook(self):
        """What the solver calls as each task begins (None when no callback is set)."""
        return self.begin if self.active else None

    def end_fit(self, result):
        """The readout (if it ran) and the root task end; the estimator is fitted."""
        if self._ctx is None:
            return
        if self._open is not None and self._open[0] == "readout":
            attributes = partial(
                _snapshot, result.coefs, result.intercepts, result.n_iter, self._est._loss
            )
            self._end(self._take_open(), attributes)
        self._close()
        self._end(self._ctx, {})

    def _close(self):
        """End a task that did not finish (interrupted), with no data, as scikit-learn does."""
        if self._open is not None:
            self._open[1].call_on_fit_task_end(estimator=self._est)
            self._open = None

    def _take_open(self):
        _, ctx = self._open
        self._open = None
        return ctx

    def _end(self, ctx, attributes):
        """End the task of ``ctx``; returns whether a callback (on any rank) asks to stop.

        ``attributes`` (or what the callable returns) are the reconstruction
        attributes; the callable runs only if a callback asks for a
        ``fitted_estimator``, while the hooks run.  Under a distributed
        backend, the ranks then agree on stopping and on errors.
        """
        agree = self._backend.distributed and self.active
        error = None
        try:
            stop = ctx.call_on_fit_task_end(
                estimator=self._est, reconstruction_attributes=attributes, **self._data
            )
        except Exception as exc:
            if not agree:
                raise
            stop, error = False, exc
        if not agree:
            return bool(stop)
        votes = self._backend.allgather((bool(stop), None if error is None else repr(error)))
        for rank, (_, message) in enumerate(votes):
            if message is not None:
                if error is not None:
                    raise error
                raise RuntimeError(f"backend='mpi': a callback failed on rank {rank}: {message}")
        return any(vote for vote, _ in votes)


def _scores_locally(scoring):
    """Whether a ScoringMonitor's scoring has scikit-learn scorers (metrics of ``predict``).

    Those compute the metric on the rows they are given, under MPI one rank's;
    plain callables are the user's (``est.score`` is collective and global).
    """
    if isinstance(scoring, dict):
        scoring = list(scoring.values())
    if not isinstance(scoring, (list, tuple)):
        scoring = [scoring]
    return any(isinstance(s, (str, _BaseScorer)) for s in scoring)


def _draws(callback):
    return ProgressBar is not None and isinstance(callback, ProgressBar)


def _snapshot(coefs, intercepts, n_iter, loss):
    """Fitted attributes of the network with these weights (copies: the solver's change).

    During the iterations a classifier's output layer is the iterate's own
    least-squares one, read as logits (what early stopping scores): its
    ``predict`` is right, its ``predict_proba`` is not yet calibrated (the
    log-loss output layer is fitted once, in the readout task).
    """
    coefs = [w.copy() for w in coefs]
    n_outputs = coefs[-1].shape[1]
    return {
        "coefs_": coefs,
        "intercepts_": [v.copy() for v in intercepts],
        "n_iter_": int(n_iter),
        "n_layers_": len(coefs) + 1,
        "n_outputs_": n_outputs,
        # as BaseADMM._fit sets it
        "out_activation_": (
            "identity" if loss == "squared" else "logistic" if n_outputs == 1 else "softmax"
        ),
    }
