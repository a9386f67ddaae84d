"""The classifiers' output layer (``readout="log-loss"``), fitted once after the iterations."""

import numpy as np
from scipy import sparse

from .. import _kernels as K
from .._readout import (
    PATH_TOL,
    fit_log_loss_readout,
    fit_readout_path,
    fit_temperature,
    gradient_floor,
    initial_readout,
    temperature_terms,
)
from ..backends import Symmetric
from ._checks import sum_parts
from ._state import hidden_features

__all__ = ["SAMPLE_ROWS_PER_FEATURE", "fit_output_layer"]

#: Rows per output-layer feature in the sample that forms the Newton
#: preconditioner of the output layer's fit (``_LogLossOutput.curvature_sample``).
SAMPLE_ROWS_PER_FEATURE = 64


def fit_output_layer(state, W, c, options, warm_model, validation, result):
    """The returned model's output layer: the log-loss fit, then its temperature.

    The iterates' state is not needed any more: ``a_{L-1}``'s storage takes
    the features of the returned hidden layers.  With held-out rows the
    ridge is chosen on them, their temperature calibrates the confidence (no
    prediction changes), and the score reported is the returned model's.
    """
    output = _LogLossOutput(state, options, warm_model)
    held_out = validation[2] if validation is not None and len(validation) > 2 else None
    L = len(W)
    W, c = output.fit(W, c, into=state.a[L - 1] if L >= 2 else None, held_out=held_out)
    result.readout_n_iter = output.n_iter
    result.readout_reductions = output.reductions
    result.readout_alpha = output.ridge
    if output.held_out_counts is None:
        return W, c
    z_val, y_val, sw_val, parts = held_out(W, c)

    def terms(s):  # per validation chunk, added exactly
        return [
            temperature_terms(z_val[r], y_val[r], s, None if sw_val is None else sw_val[r])
            for r in parts
        ]

    s = fit_temperature(terms, state.backend)
    W, c = list(W), list(c)
    W[-1] = (W[-1] * s).astype(state.dtype, copy=False)
    c[-1] = (c[-1] * s).astype(state.dtype, copy=False)
    result.temperature = 1.0 / s
    final = sum_parts(state.backend, validation[0](W, c))
    result.best_validation_score = float(validation[1](final))
    return W, c


class _LogLossOutput:
    """The classifiers' output layer (``readout="log-loss"``), fitted once after the iterations.

    :meth:`fit` solves the output layer's log-loss problem on the features
    of the hidden layers ``W[:-1]`` (:func:`~skadmm._readout.fit_log_loss_readout`),
    started from a warm-started model's output layer or the class prior:
    at ``alpha`` without held-out rows, along the ridge path chosen on them
    otherwise (:func:`~skadmm._readout.fit_readout_path`); it returns the
    model, the hidden layers with that output layer.  The iterates' own
    output layer ``W[-1]`` (the search's least-squares one) is not used.
    """

    def __init__(self, state, options, init_coefs):
        self.st, self.alpha, self.tol = state, options.alpha, options.tol
        # the dtype of the path points' Newton products (SolverOptions.readout_products)
        self.products = np.float32 if options.readout_products == "float32" else None
        self.theta = None
        if init_coefs is not None:
            self.theta = np.vstack(
                [
                    np.asarray(init_coefs[0][-1], np.float64),
                    np.asarray(init_coefs[1][-1], np.float64),
                ]
            )
        self.n_iter = self.reductions = 0
        self.ridge = self.alpha
        self.held_out_counts = None  # set when a held-out split chooses the ridge

    def features(self, W, c, into):
        """The last hidden layer's activations of the local rows, written into ``into``
        (``X`` itself without a hidden layer)."""
        st = self.st
        if len(W) == 1:
            return st.X

        def fill(k, rows):
            into[rows] = hidden_features(st.X[rows], W, c, st.activation)

        st.map(fill)
        return into

    def fit(self, W, c, into=None, held_out=None):
        """Fit the output layer on the features of ``W[:-1]``; returns the model.

        With ``held_out`` (the validation rows' ``logits_fn``) the ridge is
        chosen on them (:func:`~skadmm._readout.fit_readout_path`), else it
        is ``alpha``.  At most 100 Newton steps for ``alpha`` alone, 30 per
        ridge of a path (its points are solved to a gradient of ``1e-4``,
        enough for the held-out loss to rank them), 50 conjugate-gradient
        iterations per step.  The returned output layer is solved to
        :meth:`final_tolerance` (the estimator's ``tol``), or to ``1e-4``
        (:data:`~skadmm._readout.PATH_TOL`) where that is looser: a path
        returns its chosen point as it is when the tolerance is ``1e-4`` or
        more (the default ``tol``), else solved on to it; ``alpha`` alone is
        solved to it from the start.
        """
        budget = (100, 50) if held_out is None else (30, 50)
        st = self.st
        features = self.features(W, c, into)
        d = features.shape[1]
        if self.theta is None or held_out is not None:
            # a path starts under a ridge that holds the weights at the class
            # prior: a warm start's layer is no nearer its first optimum
            self.theta = initial_readout(st.Y, st.sw, st.backend, d)

        def gram_of(k, rows):
            G, _ = K.weight_statistics(features[rows], st.Y[rows][:, :0], st.weight(rows))
            return (G,)

        (gram,) = st.reduce(gram_of, [Symmetric(d + 1)])
        self.reductions += 1
        sampled = self.curvature_sample(d + 1)

        final = self.final_tolerance()

        def solve(ridge, theta, tol=None, products=None):
            res = fit_log_loss_readout(
                features,
                st.Y,
                st.sw,
                st.blocks,
                st.backend,
                ridge,
                theta,
                gram=gram,
                max_iter=budget[0],
                max_cg=budget[1],
                tol=tol,
                curvature_rows=sampled,
                products=products,
            )
            self.n_iter += res.n_iter
            self.reductions += res.n_reductions
            return res

        def model(res):
            return list(W[:-1]) + [res.coef], list(c[:-1]) + [res.intercept]

        if held_out is not None and not self.count_held_out(held_out, W, c):
            held_out = None  # without held-out rows there is nothing to choose on
        if held_out is None:
            res, self.ridge = solve(self.alpha, self.theta, final), self.alpha
        else:
            total = float(gram[d, d])
            low = _narrowed(features, self.products)  # one copy for every point
            res, self.ridge, _ = fit_readout_path(
                lambda ridge, theta, tol: solve(ridge, theta, tol, low),
                lambda res: self.validation_loss(held_out, *model(res)),
                self.alpha,
                total,
                self.theta,
                tol=self.tol,
                final_tol=final,
                refine=solve,
            )
        return model(res)

    def final_tolerance(self):
        """The gradient tolerance of the returned output layer: the estimator's ``tol``.

        A mean-loss gradient whose largest entry is at most ``tol``, the test
        of :class:`~sklearn.linear_model.LogisticRegression` (whose default
        ``tol`` is also ``1e-4``), at least
        :func:`~skadmm._readout.gradient_floor` of the data's dtype and at
        most :data:`~skadmm._readout.PATH_TOL` (``1e-4``), with or without
        held-out rows.

        With held-out rows the path's points are solved to ``1e-4``, so with
        the default ``tol`` the chosen one is returned as it is.  Solving it
        on to ``1e-8``, the previous default, moved the validation accuracy
        of the shared classification datasets by -0.0009 to +0.0008 and
        their log-loss by at most 0.0018, at 1.19 times the fit time in
        geometric mean and up to 2.4 times on krkopt
        (``benchmarks/results/readout_path.md``).

        Without held-out rows the output layer is solved at ``alpha`` to
        ``tol`` too, and to ``1e-4`` at the loosest, as a path's points
        (a ``tol`` raised to stop the iterations early must not return an
        output layer barely moved from the class prior); it used to be
        solved to the floor whatever ``tol``.  ``tol=0`` gives the optimum
        of :class:`~sklearn.linear_model.LogisticRegression` on the hidden
        features to rounding (tested to ``1e-6``); the default stops as
        LogisticRegression's own default does, in fewer Newton steps
        (``benchmarks/results/fit_phases.md``).
        """
        return min(max(float(self.tol), gradient_floor(self.st.dtype)), PATH_TOL)

    def curvature_sample(self, width):
        """Per block, the rows that form the Newton preconditioner.

        Every ``s``-th row by global index, ``s`` the largest stride that
        leaves at least :data:`SAMPLE_ROWS_PER_FEATURE` rows per feature of
        the output layer (1, every row, where there are fewer): a
        preconditioner needs the curvature's shape, not its sum over every
        row, and the Hessian-vector products use every row (the problem is
        solved to the same tolerance).  A systematic sample: rows sorted by
        class or by time are sampled evenly, and the choice does not depend
        on the partition.  The whole sample of a chunk of the reproducible
        sums (:data:`~skadmm.backends.CHUNK_ROWS`, whose blocks one worker
        adds in order) goes to the chunk's first block and the others get
        none, so that its weighted Gram matrix is one product per chunk
        instead of one small product per cache-sized block.  One reduction
        of a scalar.
        """
        st = self.st
        n_total = float(st.backend.allreduce(np.array([float(st.n_rows)]))[0])
        self.reductions += 1
        stride = max(1, int(n_total // (SAMPLE_ROWS_PER_FEATURE * width)))
        per = max(1, int(st.backend.blocks_per_chunk))
        out = []
        for k in range(0, len(st.blocks), per):
            chunk = st.blocks[k : k + per]
            start, stop = chunk[0].start, chunk[-1].stop
            first = start + (-(st.offset + start)) % stride
            out.append(slice(min(first, stop), stop, stride))
            out.extend(slice(stop, stop) for _ in chunk[1:])
        return out

    def count_held_out(self, held_out, W, c):
        """The held-out rows' weight per class, over every worker; False when there is none."""
        _, y, w, parts = held_out(W, c)
        cols = y if y.shape[1] > 1 else np.hstack([1.0 - y, y])
        if w is not None:
            cols = cols * w[:, None]
        counts = sum_parts(
            self.st.backend, [np.sum(cols[r], axis=0, dtype=np.float64) for r in parts]
        )
        self.reductions += 1
        if counts.sum() > 0:
            self.held_out_counts = counts
            return True
        return False

    def validation_loss(self, held_out, W, c):
        """Mean log-loss over every worker's validation rows."""
        z, y, w, parts = held_out(W, c)
        local = [
            [
                temperature_terms(z[r], y[r], 1.0, None if w is None else w[r])[0],
                float(z[r].shape[0] if w is None else np.sum(w[r])),
            ]
            for r in parts
        ]
        self.reductions += 1
        loss, weight = sum_parts(self.st.backend, local)
        return loss / max(weight, np.finfo(float).tiny)


def _narrowed(features, dtype):
    """``features`` copied into ``dtype`` where that is narrower than theirs (dense only),
    else None: the products of :func:`~skadmm._readout.fit_log_loss_readout`."""
    if dtype is None or sparse.issparse(features):
        return None
    if np.dtype(dtype).itemsize >= features.dtype.itemsize:
        return None
    return features.astype(dtype)
