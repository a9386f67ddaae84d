"""Algorithm 1 of Taylor et al. (2016): ``variant="paper"`` and ``"multipliers"``.

One iteration is a sequence of update rules, each an object with
``step(state, iteration)``: per layer, from the first, the weight update
(:class:`WeightUpdate`), then for a hidden layer its activations and
pre-activations (:class:`ActivationUpdate`, eq. (6) and (7)), and for the
output layer ``z_L`` and the multiplier (:class:`OutputUpdate`, eq. (8)).
:class:`BackwardSweep` is the same sub-steps in another order
(``sweep="backward"``).
"""

from .. import _kernels as K
from .._activations import LOSSES
from ..backends import Symmetric
from ._checks import check_finite, check_sums, sqsum, wsum
from ._rule import Rule, StepResult

__all__ = ["ActivationUpdate", "Algorithm1", "BackwardSweep", "OutputUpdate", "WeightUpdate"]


class WeightUpdate:
    """Layer ``l``'s weights: the ridge least-squares fit of ``z_l`` on ``[a_{l-1} 1]``.

    The normal equations of Algorithm 1's weight update, from one reduction
    of their Gram and cross products (the transpose reduction).  With the
    multiplier in the output layer's update (``variant="multipliers"``) its target
    is ``z_L + lambda / (2 beta)``.  ``a_0 = X`` never changes: the first
    layer's Gram matrix ``gram0`` is reduced once, before the iterations.
    """

    def __init__(self, i, alpha, gram0=None, shift=False):
        self.i, self.alpha, self.gram0, self.shift = i, alpha, gram0, shift

    def step(self, st, it):
        i, b = self.i, it.beta

        def stats(k, rows):
            t = st.z[i][rows]
            if self.shift:
                t = t + st.lam[rows] * (0.5 / b)
            return K.weight_statistics(st.a[i][rows], t, st.weight(rows), gram=i > 0)

        cross_shape = (st.sizes[i] + 1, st.sizes[i + 1])
        if self.gram0 is not None:
            gram = self.gram0
            (cross,) = st.reduce(stats, [cross_shape])
        else:
            gram, cross = st.reduce(stats, [Symmetric(st.sizes[i] + 1), cross_shape])
        check_sums(gram, cross, i + 1, it.number)
        st.W[i], st.c[i] = K.weight_update(gram, cross, self.alpha, b, dtype=st.dtype)
        check_finite(st.W[i], "weights", i + 1, it.number)


class ActivationUpdate:
    """Hidden layer ``l``'s ``a_l`` (eq. (6), towards ``z_{l+1}``) and ``z_l`` (eq. (7)).

    Per block, no communication; the results go straight into the state.
    With the multiplier in the weights, the last hidden layer's target is
    ``z_L + lambda / (2 beta)``.
    """

    def __init__(self, i, shift=False):
        self.i, self.shift = i, shift

    def step(self, st, it):
        i, b, g = self.i, it.beta, it.gamma
        check_finite(st.W[i + 1], "weights", i + 2, it.number)
        op = K.activation_operator(st.W[i + 1], b, g, dtype=st.dtype)

        def update(k, rows):
            h_z = st.activation(st.z[i][rows])
            z_next = st.z[i + 1][rows]
            if self.shift:
                z_next = z_next + st.lam[rows] * (0.5 / b)
            a_new = K.activation_update(
                z_next, st.W[i + 1], st.c[i + 1], h_z, b, g, op=op, out=st.a[i + 1][rows]
            )
            m = K.linear(st.a[i][rows], st.W[i], st.c[i])
            z_new = K.preactivation_update(a_new, m, st.activation, b, g, out=st.z[i][rows])
            sums, wr = it.sums[k], st.column_weight(rows)
            sums.constraint[i] = sqsum(z_new - m, wr)
            sums.activation[i] = sqsum(a_new - st.activation(z_new), wr)

        st.map(update)


class OutputUpdate:
    """The output layer's ``z_L`` (Algorithm 1's loss step) and the multiplier (eq. (8)).

    The multiplier does not move during the warm-up; its step is ``beta``
    (``variant="paper"``) or ``2 beta`` (the method of multipliers).
    """

    def __init__(self, loss, options):
        self.loss, self.options = loss, options

    def step(self, st, it):
        i, b = st.n_layers - 1, it.beta
        step = self.options.multiplier_step(b)
        loss = self.loss

        def update(k, rows):
            m = K.linear(st.a[i][rows], st.W[i], st.c[i])
            lam = st.lam[rows]
            z_new = K.output_update(m, st.Y[rows], lam, b, loss)
            st.z[i][rows] = z_new
            r = z_new - m
            sums, wr = it.sums[k], st.column_weight(rows)
            sums.constraint[i] = sqsum(r, wr)
            sums.loss = wsum(LOSSES[loss](z_new, st.Y[rows]), wr)
            sums.multiplier = wsum(lam * r, wr)
            if not it.warm:
                st.lam[rows] = K.multiplier_update(lam, z_new, m, step)

        st.map(update)


class Algorithm1(Rule):
    """One iteration of Algorithm 1, layer by layer from the first."""

    def __init__(self, state, options, loss, gram0):
        super().__init__(state, options, loss)
        L, shift = state.n_layers, options.multiplier_in_weights
        self.updates = []
        for i in range(L):
            self.updates.append(
                WeightUpdate(i, options.alpha, gram0 if i == 0 else None, shift and i == L - 1)
            )
            if i < L - 1:
                self.updates.append(ActivationUpdate(i, shift and i + 1 == L - 1))
        self.updates.append(OutputUpdate(loss, options))

    def step(self, iteration):
        for update in self.updates:
            update.step(self.state, iteration)
        return StepResult()


class BackwardSweep(Rule):
    """One iteration in backward-then-forward order (the ``sweep="backward"`` variant).

    Per block of rows, with no communication: a forward pass resets the
    state to the network's own values (``z_l = W_l a_{l-1}``,
    ``a_l = h(z_l)``); the output update (Algorithm 1's ``z_L`` step) sets
    the output target; then, from the last hidden layer down, the
    activation update (eq. (6)) and the pre-activation update (eq. (7))
    turn the target above into targets for this layer.  Then every weight
    update (normal equations, the transpose reduction) with one reduction
    for all layers, and the multiplier update (eq. (8)).  Same kernels,
    different order: the hidden layers see the output's target every
    iteration instead of an auxiliary state that has drifted from the
    network.
    """

    def __init__(self, state, options, loss, gram0):
        super().__init__(state, options, loss)
        self.gram0 = gram0

    def step(self, it):
        st, L, b, g = self.state, self.state.n_layers, it.beta, it.gamma
        for i in range(1, L):
            check_finite(st.W[i], "weights", i + 1, it.number)
        ops = [K.activation_operator(st.W[i + 1], b, g, dtype=st.dtype) for i in range(L - 1)]
        shapes = [(st.sizes[0] + 1, st.sizes[1])]
        for i in range(1, L):
            shapes += [Symmetric(st.sizes[i] + 1), (st.sizes[i] + 1, st.sizes[i + 1])]
        sums = [self.gram0] + st.reduce(lambda k, rows: self._targets(k, rows, it, ops), shapes)
        for i in range(L):
            check_sums(sums[2 * i], sums[2 * i + 1], i + 1, it.number)
            st.W[i], st.c[i] = K.weight_update(
                sums[2 * i], sums[2 * i + 1], self.options.alpha, b, dtype=st.dtype
            )
            check_finite(st.W[i], "weights", i + 1, it.number)
        if not it.warm:
            step = self.options.multiplier_step(b)

            def multiplier(k, rows):
                m = K.linear(st.a[L - 1][rows], st.W[L - 1], st.c[L - 1])
                st.lam[rows] = K.multiplier_update(st.lam[rows], st.z[L - 1][rows], m, step)

            st.map(multiplier)
        return StepResult()

    def _targets(self, k, rows, it, ops):
        """One block: the forward pass, the output target, eq. (6)/(7) down, the sums."""
        st, L, b = self.state, self.state.n_layers, it.beta
        shift = self.options.multiplier_in_weights
        a, hs, ms = st.X[rows], [], []
        for i in range(L):
            ms.append(K.linear(a, st.W[i], st.c[i]))
            if i < L - 1:
                a = st.activation(ms[-1])
                hs.append(a)
        lam = st.lam[rows]
        z_out = K.output_update(ms[-1], st.Y[rows], lam, b, self.loss)
        st.z[L - 1][rows] = z_out
        sums, wr = it.sums[k], st.column_weight(rows)
        r = z_out - ms[-1]
        sums.constraint[L - 1] = sqsum(r, wr)
        sums.loss = wsum(LOSSES[self.loss](z_out, st.Y[rows]), wr)
        sums.multiplier = wsum(lam * r, wr)
        z_top = z_out + lam * (0.5 / b) if shift else z_out
        for i, a_new, z_new, m in st.back_sweep(rows, z_top, b, it.gamma, ops, hs, ms):
            st.a[i + 1][rows] = a_new
            st.z[i][rows] = z_new
            sums.constraint[i] = sqsum(z_new - m, wr)
            sums.activation[i] = sqsum(a_new - st.activation(z_new), wr)
        out = []
        for i in range(L):
            t = st.z[i][rows]
            if i == L - 1 and shift:
                t = t + lam * (0.5 / b)
            out.extend(K.weight_statistics(st.a[i][rows], t, st.weight(rows), gram=i > 0))
        return out
