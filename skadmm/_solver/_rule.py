"""What the iteration loop asks of an update rule (:class:`Rule`)."""

from dataclasses import dataclass

import numpy as np

from .. import _kernels as K

__all__ = ["Rule", "StepResult"]


@dataclass(frozen=True)
class StepResult:
    """What one iteration of a rule tells the loop.

    ``stop``: the rule's own stopping rule ended the fit (the reason, for
    the result's message), or None.  ``new_phase``: the rule changed what it
    minimises from the next iteration on, so the loop's patience starts over.
    """

    stop: str = None
    new_phase: bool = False


class Rule:
    """One iteration of a solver variant, on a :class:`~skadmm._solver._state.State`.

    The loop (:meth:`~skadmm._solver._loop.Loop.run`) calls :meth:`step` once
    per iteration and knows nothing else of what it does; the defaults here
    are those of Algorithm 1's variants.
    """

    def __init__(self, state, options, loss):
        self.state, self.options, self.loss = state, options, loss

    def warming_up(self, it):
        """Whether iteration ``it`` is in the warm-up (no multiplier update, no stopping)."""
        return it <= self.options.n_warmup_iter

    def step(self, iteration):
        """Run one iteration (an :class:`~skadmm._solver._state.Iteration`) on the state;
        returns a :class:`StepResult`."""
        raise NotImplementedError

    def output(self, rows):
        """The network's output on ``rows`` for the training loss: its forward pass."""
        st = self.state
        return K.forward(st.X[rows], st.W, st.c, st.activation)

    def next_phase(self, it):
        """The loop's patience ran out at iteration ``it``: True when the rule starts a
        new phase instead of ending the fit."""
        return False

    def report(self, result):
        """Write the rule's own records into the :class:`~skadmm._solver.ADMMResult`."""
        result.relaxation_factors = np.zeros((0, 0))
