"""The default solver's iteration (``variant="search"``): a relaxation search per layer.

:class:`Search` is the update rule the loop runs; :func:`_search_sweep` is
one iteration of it, :class:`SearchState` what it carries from one
iteration to the next, and :func:`_switch_targets` the end of its first
phase.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import _kernels as K
from .._activations import LOSSES
from ..backends import Symmetric
from ._checks import check_finite, check_sums, sqsum, wsum
from ._rule import Rule, StepResult
from ._state import hidden_features

__all__ = ["Search", "SearchState"]


def _proximal_alpha(gram, alpha, beta, damping):
    """The ridge of a hidden layer's step with its proximal term (``step_damping``).

    The step solves ``min ||[a 1] [dW; dc] - (z - m)||^2 + alpha / (2 beta)
    ||dW||^2 + damping * g ||dW||^2`` with ``g`` the mean of the Gram
    matrix's diagonal (the inputs' mean square, times the number of rows):
    a proximal term on the weight change, in the inputs' own scale, which
    leans the step from the whitened (Gauss-Newton-like) direction towards
    the plain one.  Returns the ``alpha`` to hand to
    :func:`~skadmm._kernels.weight_update` for that system.
    """
    if not damping:
        return alpha
    d = gram.shape[0] - 1
    return alpha + 2.0 * beta * damping * float(np.mean(np.diag(gram)[:d]))


@dataclass
class SearchState:
    """What the relaxation search carries from one iteration to the next."""

    #: per iteration, the factor applied to each hidden layer (0: none accepted)
    factors: list = field(default_factory=list)
    #: per iteration, the searched objective after it
    curve: list = field(default_factory=list)
    #: per hidden layer, the factor its next candidates start from
    omega: list = None
    #: the searched objective at the current state
    objective: float = None
    #: ``sum w ||y||^2``, the objective's constant (reduced at the first iteration)
    sq_targets: float = None
    #: iterations in a row that lowered the objective by at most ``slow_tol``
    slow: int = 0
    #: the searched objective before the current phase's first iteration
    phase_start: float = None
    #: the hidden targets come from the squared output update (second phase)
    squared: bool = False
    #: the first iteration of the second phase (with ``search_targets="squared"``
    #: and another loss: the fit's first iteration)
    squared_from: int = None
    #: per hidden layer above the first, its target ``z_l`` (``refresh_steps``)
    targets: list = None
    #: ``a_{l-1} dW_l`` of the layer being searched
    move: np.ndarray = None
    #: per hidden layer, its last accepted update ``U_l`` (heavy ball), or None
    previous: list = None
    #: per hidden layer, ``a_{l-1} U_l``
    previous_move: list = None
    #: per hidden layer, whether its targets come from eq. (7) within each entry's
    #: linear piece (``local_targets``) rather than from its global minimiser
    local: list = None


def _search_sweep(search, it):
    """One iteration of the relaxed solver (``variant="search"``, the default ``solver="admm"``).

    1. Forward pass per block (no communication): ``m_l = W_l a_{l-1}``,
       ``a_l = h(m_l)`` into the state.  The output layer is the exact
       ridge least-squares fit to the targets on these features (variable
       projection); it is known from the previous iteration's search, and
       reduced here only at the first iteration.
    2. Per block, Algorithm 1's sub-steps from the output down: the output
       update (closed form, ``lambda = 0``), then for each hidden layer the
       activation update (eq. (6)) and the pre-activation update (eq. (7):
       its global minimiser, or after the layer's rejected search its
       minimiser within each entry's linear piece, ``local_targets``),
       which give every hidden layer a target ``z_l``.  One reduction of the
       weight statistics of all hidden layers; the normal equations give
       each its closed-form update, as the step ``W_l^+ - W_l``.
    3. Relaxation, layer by layer from the first: the candidates
       ``W_l + omega (W_l^+ - W_l) + mu U_l`` for ``omega`` in ``{0} U
       omega_l * relaxation_factors`` (``omega_l`` the layer's previous
       factor, times ``relaxation_shrink`` after a rejection, except the
       one that moves the layer to the targets within the pieces; ``U_l`` its
       previous accepted update and ``mu`` the ``momentum``, dropped after a
       rejected search or a target switch); per
       block their features' Gram and cross sums (products in the data's
       dtype, the sums in float64), all candidates
       in one reduction; per candidate the exact output-layer refit and its
       objective (:func:`~skadmm._kernels.readout_objective`, plus the
       hidden layers' ridge).  The best is kept only if it lowers the
       objective, so the objective never increases, and the state above the
       layer is brought forward before the next layer's search.  Each layer
       gets its own factor: the steps of eq. (6) shrink by a different
       ``||W_{l+1}||^2`` at every layer.  The step has no pull towards 0
       (``alpha`` damps its normal equations; see :meth:`Search.solve_step`).

    Per-sample work stays communication-free; with ``L`` hidden layers the
    sweep costs ``2L`` reductions (one for the steps, one per hidden layer
    for its search, one per layer above the first for its refreshed step;
    the loop adds one of scalars: ``2L + 1`` per iteration), plus two at the
    first iteration (``||Y||^2`` and the first output-layer fit), of small
    matrices whatever the number of rows.  Returns True when the search's last phase is spent:
    ``relaxation_patience`` consecutive iterations lowered the objective by
    no more than ``slow_tol`` (relative to the objective, or to the phase's
    decrease so far: ``slow_reference``, :func:`_relative_decrease`), or
    none of them lowered it at all.

    ``search`` is the :class:`Search` rule (the state, the options and the
    :class:`SearchState`), ``it`` the :class:`~skadmm._solver._state.Iteration`.
    """
    start = search.begin(it)
    steps = search.hidden_steps(it)
    chosen = search.relax(steps, it)
    return search.end(start, chosen, it)


class Search(Rule):
    """The relaxation search as the loop's update rule (see :func:`_search_sweep`)."""

    def __init__(self, state, options, loss, gram0, history=()):
        super().__init__(state, options, loss)
        L = state.n_layers
        self.gram0 = gram0
        self.readout_shapes = [
            Symmetric(state.sizes[-2] + 1),
            (state.sizes[-2] + 1, state.sizes[-1]),
        ]
        # once a layer below has moved, the next layer's step is solved again on its
        # new inputs, for the same targets (kept from the targets' pass)
        self.restep = options.refresh_steps and L > 2
        # eq. (7) within the pieces differs from its global form only where the
        # activation has pieces to jump between (not identity, tanh or logistic)
        pieces = len(getattr(state.activation, "pieces", ()))
        self.local_targets = options.local_targets if pieces > 1 else "never"
        # a grown fit's later stage: the earlier stages' factors, NaN for missing layers
        self.search = SearchState(
            factors=[list(row) + [np.nan] * (L - 1 - len(row)) for row in history]
        )
        # the hidden targets come from the squared output update from this fit's first
        # iteration (a grown fit's stages run on from the earlier ones' count)
        if options.search_targets == "squared" and loss != "squared":
            self.search.squared_from = len(history) + 1

    def fresh_local(self):
        """Per hidden layer, the targets' form a phase starts with (``local_targets``)."""
        return [self.local_targets == "always"] * (self.state.n_layers - 1)

    def warming_up(self, it):
        return False  # the search has no multiplier to delay

    def step(self, iteration):
        opts, stop = self.options, None
        if _search_sweep(self, iteration):
            of = "of its decrease so far" if opts.slow_reference == "progress" else "(relative)"
            stop = (
                f"the relaxation search lowered its objective by at most "
                f"{opts.slow_tol:g} {of} for "
                f"{opts.relaxation_patience} consecutive iterations"
            )
        # new targets, a new phase: it gets the full patience
        return StepResult(stop, self.search.squared_from == iteration.number + 1)

    def output(self, rows):
        st = self.state  # the search keeps the forward state current
        return K.linear(st.a[st.n_layers - 1][rows], st.W[-1], st.c[-1])

    def next_phase(self, it):
        return _switch_targets(self.search, it, self.loss, self.options, self.fresh_local())

    def report(self, result):
        s, L = self.search, self.state.n_layers
        if s.squared_from is not None and s.squared_from <= result.n_iter:
            result.squared_targets_from = s.squared_from
        result.search_objective_curve.extend(s.curve)
        result.relaxation_factors = np.array(s.factors, dtype=float).reshape(len(s.factors), L - 1)

    # ---- the parts of one iteration ---------------------------------------------
    def hidden_ridge(self, Ws):
        """alpha/2 sum ||W_l||^2 of the hidden layers: the search minimises the
        regularised objective, so no step can buy a lower loss with unbounded
        weights (interpolating data would otherwise reward ever larger factors)."""
        return (
            0.5
            * self.options.alpha
            * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in Ws)
        )

    def readout_sums(self, F, rows):
        """The output layer's least-squares sums on the features ``F`` of ``rows``."""
        return K.weight_statistics(F, self.state.Y[rows], self.state.weight(rows))

    def fit_readout(self, G, R):
        """The exact ridge fit of the output layer to the targets; sets the objective."""
        st, alpha = self.state, self.options.alpha
        st.W[-1], st.c[-1] = K.weight_update(G, R, alpha, 0.5, dtype=st.dtype)
        self.search.objective = K.readout_objective(
            G, R, self.search.sq_targets, st.W[-1], st.c[-1], alpha
        ) + self.hidden_ridge(st.W[:-1])

    def begin(self, it):
        """Step 1: at the first iteration the forward pass and the output layer's fit
        (otherwise the state is current: the previous search refreshed it).  Returns
        the objective the iteration starts from."""
        st, s = self.state, self.search
        if s.sq_targets is None:
            parts = [
                np.array([wsum(np.square(st.Y[rows], dtype=np.float64), st.column_weight(rows))])
                for rows in st.blocks
            ]
            s.sq_targets = float(st.backend.reduce_parts(parts, (1,))[0])
            s.omega = [self.options.relaxation_start] * (st.n_layers - 1)
            s.local = self.fresh_local()
            G, R = st.reduce(
                lambda k, rows: self.readout_sums(st.forward(rows, 0), rows), self.readout_shapes
            )
            self.fit_readout(G, R)
        for i in range(st.n_layers):
            check_finite(st.W[i], "weights", i + 1, it.number)
        return s.objective

    def target_loss(self):
        """The output update that starts the targets: the fit's loss, or the squared
        loss of the search's own objective (an ablation lever, or the second phase)."""
        squared = self.options.search_targets == "squared" or self.search.squared
        return "squared" if squared else self.loss

    def hidden_steps(self, it):
        """Step 2: every hidden layer's target (one reduction), then its step."""
        st, s = self.state, self.search
        L, sizes = st.n_layers, st.sizes
        ops = [
            K.activation_operator(st.W[i + 1], it.beta, it.gamma, dtype=st.dtype)
            for i in range(L - 1)
        ]
        if self.restep and s.targets is None:
            s.targets = [None] + [
                np.empty((st.n_rows, sizes[i + 1]), dtype=st.dtype) for i in range(1, L - 1)
            ]
        shapes = [(sizes[0] + 1, sizes[1])]
        for i in range(1, L - 1):
            shapes += [Symmetric(sizes[i] + 1), (sizes[i] + 1, sizes[i + 1])]
        sums = [self.gram0] + st.reduce(lambda k, rows: self.targets(k, rows, it, ops), shapes)
        return [self.solve_step(sums[2 * i], sums[2 * i + 1], i, it) for i in range(L - 1)]

    def targets(self, k, rows, it, ops):
        """One block: the output update, eq. (6)/(7) down, each layer's weight sums."""
        st, L = self.state, self.state.n_layers
        sums, wr = it.sums[k], st.column_weight(rows)
        m_out = K.linear(st.a[L - 1][rows], st.W[-1], st.c[-1])
        z_top = K.output_update(m_out, st.Y[rows], st.lam[rows], it.beta, self.target_loss())
        sums.constraint[L - 1] = sqsum(z_top - m_out, wr)
        sums.loss = wsum(LOSSES[self.loss](z_top, st.Y[rows]), wr)
        out = [None] * (L - 1)
        local = self.search.local
        for i, a_new, z_new, m in st.back_sweep(rows, z_top, it.beta, it.gamma, ops, local=local):
            sums.activation[i] = sqsum(a_new - st.activation(z_new), wr)
            # the step is computed from the target's displacement directly,
            # not as the difference of two nearly equal weight matrices
            shift = z_new - m
            if self.restep and i > 0:
                self.search.targets[i][rows] = z_new
            sums.constraint[i] = sqsum(shift, wr)
            out[i] = K.weight_statistics(st.a[i][rows], shift, st.weight(rows), gram=i > 0)
        return [x for stats in out for x in stats]

    def solve_step(self, gram, cross, i, it, check=True):
        """Layer ``i + 1``'s step ``(dW, dc)`` from the sums of its targets' displacement.

        It solves the weight update's normal equations for the displacement:
        ``(G + alpha / (2 beta) D) dW = [a 1]^T (z - m)``.  alpha damps the
        step; there is no pull towards 0 (``W^+ - W`` would also hold
        ``-alpha / (2 beta) (G + ...)^{-1} W``, which the relaxation factor
        would amplify: where the inputs have no variance that part is
        ``-W`` itself, and ``W`` would grow by ``|1 - omega|`` per iteration).
        """
        check_sums(gram, cross, i + 1, it.number)
        step_alpha = _proximal_alpha(gram, self.options.alpha, it.beta, self.options.step_damping)
        step = K.weight_update(gram, cross, step_alpha, it.beta, dtype=self.state.dtype)
        if check:
            check_finite(step[0], "weights", i + 1, it.number)
        return step

    def resolve_step(self, i, it):
        """Layer ``i + 1``'s step again, on its inputs moved by the layers below."""
        st, s = self.state, self.search

        def fresh(k, rows):
            shift = s.targets[i][rows] - st.z[i][rows]
            return K.weight_statistics(st.a[i][rows], shift, st.weight(rows))

        width = st.sizes[i] + 1
        G, R = st.reduce(fresh, [Symmetric(width), (width, st.sizes[i + 1])])
        return self.solve_step(G, R, i, it, check=False)

    def relax(self, steps, it):
        """Step 3: each hidden layer's relaxation search, from the first up; returns the
        factors applied (0: none accepted)."""
        st, s, mu = self.state, self.search, self.options.momentum
        L = st.n_layers
        if s.move is None:
            s.move = np.empty((st.n_rows, max(st.sizes[1:-1])), dtype=st.dtype)
        # Heavy ball: each layer's candidates start from W_l + mu U_l, with U_l
        # its last accepted update (None after a rejected search: restart).  The
        # pre-activations' share a_{l-1} U_l is kept per layer: for the first
        # layer (a_0 = X) it stays exact and saves an X-sized product; above, the
        # inputs have moved since, so it is recomputed (a hidden-width product).
        if mu and s.previous is None:
            s.previous = [None] * (L - 1)
            s.previous_move = [
                np.empty((st.n_rows, st.sizes[i + 1]), dtype=st.dtype) for i in range(L - 1)
            ]
        previous = s.previous or [None] * (L - 1)
        chosen, moved_below = [], False
        for i in range(L - 1):
            if self.restep and i > 0 and moved_below:
                steps[i] = self.resolve_step(i, it)
            omega = self.search_layer(i, steps, previous)
            chosen.append(0.0 if omega is None else omega)
            moved_below = moved_below or omega is not None
        return chosen

    def search_layer(self, i, steps, previous):
        """Layer ``i + 1``'s candidates, one reduction; applies the best if it lowers the
        objective.  Returns its factor, or None (the layer's factor then shrinks)."""
        st, s, opts = self.state, self.search, self.options
        mu, prev = opts.momentum, previous[i]
        omegas = [s.omega[i] * f for f in opts.relaxation_factors]
        shapes = self.readout_shapes if opts.relaxation_refit else [(1,)]
        sums = st.reduce(
            lambda k, rows: self.candidates(rows, i, omegas, steps[i], prev),
            shapes * len(omegas),
        )
        best = self.best_candidate(i, omegas, sums, steps, prev)
        if best is None:
            if self.local_targets == "after-rejection" and not s.local[i]:
                # the step fitted to the global eq. (7) failed: the next one is fitted
                # to the targets within each unit's linear piece, at the same factors
                s.local[i] = True
            else:
                s.omega[i] *= opts.relaxation_shrink
                if self.local_targets == "after-rejection":
                    s.local[i] = False
            if mu:
                previous[i] = None
            return None
        objective, omega, Wo, co = best
        s.omega[i] = omega
        update = [K.relaxed_update(steps[i][k], omega, prev and prev[k], mu) for k in range(2)]
        st.W[i] = st.W[i] + update[0]
        st.c[i] = st.c[i] + update[1]
        if mu:
            previous[i] = update
        self.accept(i, omega, prev, objective, Wo, co)
        return omega

    def candidates(self, rows, i, omegas, step, prev):
        """One block's sums for every candidate factor of layer ``i + 1``.

        The layer's input is fixed during its search, so the candidates'
        pre-activations are ``m_l + omega a_{l-1} dW (+ mu a_{l-1} U_l)``: one
        product for all, kept for the refresh of the chosen one.
        """
        st, s, mu = self.state, self.search, self.options.momentum
        m = st.z[i][rows]
        move = K.linear(st.a[i][rows], *step)
        s.move[rows, : move.shape[1]] = move
        if prev is not None:
            pm = s.previous_move[i]
            if i > 0:
                pm[rows] = K.linear(st.a[i][rows], *prev)
            m = m + mu * pm[rows]
        out, buf = [], np.empty_like(move)
        for omega in omegas:
            np.multiply(move, omega, out=buf)
            buf += m
            a = hidden_features(st.activation(buf), st.W, st.c, st.activation, i + 1)
            if self.options.relaxation_refit:
                out.extend(self.readout_sums(a, rows))
            else:  # with the current output layer: a residual, no Gram
                r = K.linear(a, st.W[-1], st.c[-1])
                r -= st.Y[rows]
                out.append(np.array([sqsum(r, st.column_weight(rows))]))
        return out

    def best_candidate(self, i, omegas, sums, steps, prev):
        """``(objective, omega, W_L, c_L)`` of the best candidate, or None.

        A candidate must lower the objective (and beat the candidates before
        it) by more than rounding can: sums in another order, on another
        number of processes or with rows repeated instead of weighted, must
        make the same choice.  The margin is relative, ``1e-9``, or ``100``
        times the data's machine epsilon where that is larger (float32: its
        sums are of float32 products, about ``1.2e-5``).
        """
        st, s, opts = self.state, self.search, self.options
        margin = max(1e-9, 100.0 * float(np.finfo(st.dtype).eps))
        hidden, mu = range(st.n_layers - 1), opts.momentum
        best = (s.objective, 0.0, None, None)
        ridge_out = 0.5 * opts.alpha * float(np.sum(np.square(st.W[-1], dtype=np.float64)))
        for k, omega in enumerate(omegas):
            moved = K.relaxed_step(st.W[i], steps[i][0], omega, prev and prev[0], mu)
            ridge = self.hidden_ridge([moved if j == i else st.W[j] for j in hidden])
            if opts.relaxation_refit:
                G, R = sums[2 * k], sums[2 * k + 1]
                if not (np.all(np.isfinite(G)) and np.all(np.isfinite(R))):
                    continue
                Wo, co = K.weight_update(G, R, opts.alpha, 0.5, dtype=st.dtype)
                obj = K.readout_objective(G, R, s.sq_targets, Wo, co, opts.alpha) + ridge
            else:
                Wo, co = st.W[-1], st.c[-1]
                obj = 0.5 * float(sums[k][0]) + ridge_out + ridge
            if obj < best[0] - margin * abs(best[0]):
                best = (obj, omega, Wo, co)
        return None if best[2] is None else best

    def accept(self, i, omega, prev, objective, Wo, co):
        """Bring the state forward from layer ``i + 1``'s accepted move.

        The next layer's search (and the next iteration) start from the new
        state; without the candidates' refits, the output layer is refitted
        to it in the same pass (variable projection: the objective only drops).
        """
        st, s, mu = self.state, self.search, self.options.momentum

        def move(k, rows):
            m = st.z[i][rows]  # a view: updated in place
            shift = s.move[rows, : m.shape[1]]  # the candidates' move, spent after this
            shift *= omega
            if prev is not None:
                pm = s.previous_move[i][rows]
                pm *= mu
                shift += pm
            if mu:
                s.previous_move[i][rows] = shift
            m += shift
            st.a[i + 1][rows] = st.activation(m)
            return st.forward(rows, i + 1)

        if self.options.relaxation_refit:
            s.objective = objective
            st.W[-1], st.c[-1] = Wo, co
            st.map(move)
        else:
            G, R = st.reduce(
                lambda k, rows: self.readout_sums(move(k, rows), rows), self.readout_shapes
            )
            self.fit_readout(G, R)

    def end(self, start, chosen, it):
        """Record the iteration; True when the search's last phase is spent."""
        s, opts = self.search, self.options
        s.factors.append(chosen)
        s.curve.append(s.objective)
        if opts.slow_tol is None:  # the search's own rule is off
            return False
        if s.phase_start is None:  # the phase's first iteration
            s.phase_start = start
        decrease = _relative_decrease(start, s.objective, s.phase_start, opts.slow_reference)
        # slow: a decrease of at most slow_tol (a stall is slow); relaxation_patience
        # slow iterations in a row end a phase of the search
        s.slow = s.slow + 1 if decrease <= opts.slow_tol else 0
        if s.slow >= opts.relaxation_patience:
            # the phase is spent: the first one switches the targets, the last one ends
            return not _switch_targets(s, it.number, self.loss, opts, self.fresh_local())
        return False


def _relative_decrease(start, objective, phase_start, reference):
    """An iteration's decrease of the searched objective, as the rule ``slow_tol`` reads it.

    ``start`` and ``objective``: the objective before and after the iteration;
    ``phase_start``: before the phase's first iteration.  ``reference``:

    * ``"objective"``: ``(start - objective) / |start|``, relative to the
      objective itself;
    * ``"progress"``: ``(start - objective) / (phase_start - objective)``,
      relative to what the phase has lowered it so far, this iteration
      included.  Unlike the first, it does not depend on the objective's
      floor (the residual no network of this size removes, large on noisy
      or many-class problems, where a steady 1 to 2 % per iteration is
      still most of the progress); on a linearly converging search it
      tends to 0 as the search converges.

    A stall (no decrease) is 0 either way.  A decrease with nothing to
    measure it against (a phase whose objective rose above its start, which
    the monotone search never does but a caller's rule may) is ``inf``, not
    slow, without an overflow warning (the sums arrive as numpy scalars).
    """
    drop = float(start) - float(objective)
    ref = abs(float(start)) if reference == "objective" else float(phase_start) - float(objective)
    return drop / max(ref, float(np.finfo(float).tiny))


def _switch_targets(search, it, loss, options, local):
    """End the search's first phase: from the next iteration the hidden targets come from
    the squared output update (``search_targets="then-squared"``), each layer's eq. (7) in
    the form ``local`` gives (:meth:`Search.fresh_local`).  Returns False when there is
    nothing to switch to (another setting, the squared loss, already switched)."""
    if (
        options.search_targets != "then-squared"
        or loss == "squared"  # its targets are the squared ones already
        or search.squared
    ):
        return False
    search.squared = True
    search.squared_from = it + 1
    search.slow = 0
    search.phase_start = search.objective
    if search.previous is not None:  # a new direction field: no momentum
        search.previous = [None] * len(search.previous)
    search.omega = [options.relaxation_start] * len(search.omega)
    search.local = list(local)
    return True
