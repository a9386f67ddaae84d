"""The one iteration loop, whatever the update rule.

:class:`Loop` runs a :class:`~skadmm._solver._rule.Rule` one iteration at a
time and, after each, sums its diagnostics in one reduction
(:class:`Totals`), records them, and applies the stopping rules: the rule's
own, a callback, scikit-learn MLP's ``tol`` / ``n_iter_no_change`` on the
training loss or the validation score, and ``max_iter``.  It keeps the best
validation iterate and, on a KeyboardInterrupt, the last complete one
(:class:`Progress`).  It knows nothing of what a step does.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._activations import LOSSES
from ._checks import check_finite, worst, wsum
from ._state import BlockSums, Iteration

__all__ = ["Loop", "Progress", "Totals"]

_CARRIED = ("loss_curve", "objective_curve", "search_objective_curve", "times", "bytes_reduced")


def _copy(model):
    return [w.copy() for w in model[0]], [v.copy() for v in model[1]]


@dataclass
class Progress:
    """The loop's record, carried from one iteration to the next (and one stage to the next)."""

    message: str
    first: int = 1  # the first iteration to run
    n_iter: int = 0
    t0: float = field(default_factory=time.perf_counter)
    residuals: list = field(default_factory=list)
    activation_residuals: list = field(default_factory=list)
    validation_scores: list = None
    best: tuple = None  # (score, coefs, intercepts) of the best validation score
    best_loss: float = np.inf
    no_improve: int = 0
    last_good: tuple = None  # the weights after the last complete iteration
    converged: bool = False

    def resume(self, before, start, n_layers, result):
        """Go on from an earlier stage's result ``before`` (a grown fit's later stage).

        Its iterations, curves and clock go on from the earlier stages'; the
        per-layer curves get NaN for the layers ``before`` has no column for;
        its best model (the start ``start``, whose function it is) is the
        first candidate of early stopping.
        """
        self.n_iter = before.n_iter
        self.first = before.n_iter + 1
        self.t0 -= before.total_time
        for name in _CARRIED:
            getattr(result, name).extend(getattr(before, name))
        pad = np.full((before.n_iter, n_layers - before.residuals.shape[1]), np.nan)
        r = before.residuals
        self.residuals = list(np.hstack([r[:, :-1], pad, r[:, -1:]]))
        self.activation_residuals = list(np.hstack([before.activation_residuals, pad]))
        self.best_loss = before.best_loss
        if self.validation_scores is not None:
            self.validation_scores = list(before.validation_scores)
            if before.best_validation_score is not None:
                self.best = (before.best_validation_score, *start)


@dataclass
class Totals:
    """One iteration's sums over every block and process (see :class:`BlockSums`)."""

    constraint: np.ndarray
    activation: np.ndarray
    loss: float
    multiplier: float
    forward_loss: float  # the loss of the network's forward pass (the loss curve's)
    validation: np.ndarray  # the validation function's sums


class Loop:
    """The iterations of one fit of ``rule`` on ``state``.

    ``view(W, c)`` is the model validation and callbacks see (the
    classifiers read the iterates' output layer as logits).
    """

    def __init__(self, state, rule, options, *, validation, callback, verbose, task_hook, view):
        self.state, self.rule, self.options = state, rule, options
        self.validation, self.callback = validation, callback
        self.verbose, self.task_hook, self.view = verbose, task_hook, view

    def run(self, progress, result):
        """All iterations, from ``progress.first``; ``result`` receives the curves."""
        try:
            for it in range(progress.first, self.options.max_iter + 1):
                if self.iteration(it, progress, result):
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            progress.message = (
                f"interrupted by KeyboardInterrupt after {progress.n_iter} iterations"
            )
            warnings.warn(
                "Training interrupted by the user; keeping the best weights reached.",
                RuntimeWarning,
                stacklevel=4,
            )
            if progress.last_good is None:
                raise

    def iteration(self, it, progress, result):
        """Iteration ``it``: the rule's step, the diagnostics, the stopping rules.
        Returns True when the fit stops."""
        st, opts = self.state, self.options
        if self.task_hook is not None:
            self.task_hook("iteration")
        bytes_before = st.backend.bytes_reduced
        warm = self.rule.warming_up(it)
        g, b = opts.gamma, opts.beta
        step = Iteration(it, g, b, warm, [BlockSums(st.n_layers) for _ in st.blocks])
        outcome = self.rule.step(step)
        # what validation and callbacks see
        model = self.view(st.W, st.c)
        totals = self.measure(step, model)
        train, objective = self.record(it, g, b, totals, progress, result)
        score = None
        if self.validation is not None:
            score = float(self.validation[1](totals.validation))
        self.judge(score, train, warm, model, progress)
        result.bytes_reduced.append(st.backend.bytes_reduced - bytes_before)
        progress.last_good = _copy(model)
        self.print_line(it, train, objective, progress.residuals[-1][-1], score, result.times[-1])
        if self.callback is not None and self.call_back(
            it, train, objective, score, model, progress, result
        ):
            return True
        return self.stops(it, outcome, progress)

    def measure(self, it, model):
        """One reduction: the rule's per-block sums, the forward pass's loss, the
        validation function's sums (per block and per validation chunk, added exactly:
        the same whatever the partition)."""
        st, L = self.state, self.state.n_layers
        loss = LOSSES[self.rule.loss]

        def train_loss(k, rows):
            f = self.rule.output(rows)
            return (np.array([wsum(loss(f, st.Y[rows]), st.column_weight(rows))]),)

        fwd = st.map(train_loss)
        extra = np.zeros((0, 0))
        if self.validation is not None:  # per validation chunk
            extra = np.atleast_2d(np.asarray(self.validation[0](*model), dtype=np.float64))
        none = np.zeros(extra.shape[1])
        parts = [np.concatenate([s.vector(), f[0], none]) for s, f in zip(it.sums, fwd)]
        parts.extend(np.concatenate([np.zeros(2 * L + 2), e]) for e in extra)
        packed = st.backend.reduce_parts(parts, (2 * L + 2 + extra.shape[1],))
        return Totals(
            constraint=packed[:L],
            activation=packed[L : 2 * L - 1],
            loss=packed[2 * L - 1],
            multiplier=packed[2 * L],
            forward_loss=packed[2 * L + 1],
            validation=packed[2 * L + 2 :],
        )

    def record(self, it, g, b, t, progress, result):
        """Check the sums and record the iteration; returns its training loss and the
        augmented objective (eq. (5), with the multiplier term)."""
        st, alpha, L = self.state, self.options.alpha, self.state.n_layers
        wsq = st.weights_sq()
        train = (t.forward_loss + 0.5 * alpha * wsq) / max(st.sw_total, np.finfo(float).tiny)
        objective = (
            t.loss
            + t.multiplier
            + b * t.constraint.sum()
            + g * t.activation.sum()
            + 0.5 * alpha * wsq
        )
        check_finite(
            t.constraint, "constraint residual z_l - W_l a_{l-1}", worst(t.constraint), it
        )
        check_finite(t.activation, "activations a_l", 1 + worst(t.activation), it)
        check_finite(np.array([t.loss, t.multiplier]), "output z_L or multiplier lambda", L, it)
        check_finite(train, "network output (forward pass)", L, it)
        progress.n_iter = it
        n = max(1, st.sw_total)
        progress.residuals.append(np.sqrt(t.constraint / n / np.array(st.sizes[1:])))
        progress.activation_residuals.append(np.sqrt(t.activation / n / np.array(st.sizes[1:-1])))
        result.loss_curve.append(float(train))
        result.objective_curve.append(float(objective))
        result.times.append(time.perf_counter() - progress.t0)
        return train, objective

    def judge(self, score, train, warm, model, progress):
        """scikit-learn MLP's rule: count the iterations that did not improve by ``tol``
        on the best *before* them (none in the warm-up); keep the best validation model."""
        p, tol = progress, self.options.tol
        if self.validation is not None:
            p.validation_scores.append(score)
            if not warm:
                worse = p.best is not None and score < p.best[0] + tol
                p.no_improve = p.no_improve + 1 if worse else 0
            if p.best is None or score > p.best[0]:
                p.best = (score, *_copy(model))
        elif not warm:
            p.no_improve = p.no_improve + 1 if train > p.best_loss - tol else 0
        p.best_loss = min(p.best_loss, train)

    def call_back(self, it, train, objective, score, model, progress, result):
        """The user's callback; True when it asks the fit to stop."""
        info = {
            "loss": float(train),
            "objective": float(objective),
            "residuals": progress.residuals[-1].copy(),
            "activation_residuals": progress.activation_residuals[-1].copy(),
            "validation_score": score,
            "elapsed": result.times[-1],
            "coefs": model[0],
            "intercepts": model[1],
        }
        if not self.callback(it, info):
            return False
        progress.converged = True
        progress.message = f"callback stopped the fit at iteration {it}"
        result.callback_stopped = True
        return True

    def stops(self, it, outcome, progress):
        """The rule's own stopping rule, then the patience of ``n_iter_no_change``."""
        p, opts = progress, self.options
        if outcome.new_phase:
            p.no_improve = 0
        if outcome.stop is not None:
            p.converged, p.message = True, outcome.stop
            return True
        if p.no_improve > opts.n_iter_no_change and self.rule.next_phase(it):
            # the rule's first phase is spent: the second gets the full patience
            p.no_improve = 0
        if p.no_improve > opts.n_iter_no_change:
            what = "validation score" if self.validation is not None else "training loss"
            p.converged = True
            p.message = (
                f"{what} did not improve more than tol={opts.tol} for "
                f"{opts.n_iter_no_change} consecutive iterations"
            )
            return True
        return False

    def print_line(self, it, train, objective, residual, score, elapsed):
        """``verbose``: one line per iteration on rank 0."""
        if not (self.verbose and self.state.backend.is_root):
            return
        line = (
            f"Iteration {it}, loss = {train:.8f}, objective = {objective:.6g}, "
            f"output residual = {residual:.3e}"
        )
        if score is not None:
            line += f", validation score = {score:.6f}"
        line += f", elapsed = {elapsed:.2f}s"
        if elapsed > 5:
            line += f", at most {elapsed / it * (self.options.max_iter - it):.0f}s left"
        print(line, flush=True)
