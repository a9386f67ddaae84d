"""ADMMClassifier and ADMMRegressor: defaults, targets, predict*, scores."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from . import _kernels as K
from ._base import BaseADMM
from ._compat import _check_sample_weight

__all__ = ["ADMMClassifier", "ADMMRegressor"]


_COMMON_PARAMS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
        An empty tuple gives a linear model.

    activation : {"relu", "hard_sigmoid", "hard_tanh", "leaky_relu", "identity", \
"tanh", "logistic"}, default="relu"
        Hidden-layer activation.  The pre-activation update (paper eq. (7))
        is solved exactly for all: in closed form for the piecewise-linear
        ones, to machine precision (the global minimiser of a 1-D problem
        with up to two local minima, 39 to 96 times the cost of the ReLU
        step) for the smooth ``"tanh"`` and ``"logistic"``, as
        :class:`~sklearn.neural_network.MLPClassifier` names them.
        ``"hard_sigmoid"`` is the paper's ``h_sig``.

    solver : {"admm", "plain", "paper"}, default="admm"
        ``"paper"`` runs Algorithm 1 of Taylor et al. exactly.  ``"plain"``
        is Algorithm 1 with the Lagrange multiplier in the output layer's
        weight update and the multiplier step ``2 * beta`` (the method of
        multipliers), a forward-pass initialisation and a final refit of the
        output layer on the network's own hidden features.  ``"admm"`` uses
        the same closed-form sub-steps to give every hidden layer its weight
        update, and applies it with a relaxation factor chosen per layer,
        among a few candidates, by the exact training objective with the
        output layer refitted (variable projection); it trains the hidden
        layers, which the other two barely move.  Each candidate also
        carries 0.8 times the layer's previous update (heavy ball), and
        each step is damped by a proximal term in its inputs' scale.  After
        a layer's rejected search, its next step comes from the
        pre-activation update (eq. (7)) minimised within each unit's current
        linear piece, not globally (no unit jumps across a kink; for the
        piecewise-linear activations other than ``identity``), until a step
        of that form is rejected in turn.  The
        fit ends by ``tol`` / ``n_iter_no_change`` (as MLP's), ``max_iter``,
        or the search's own rule ``search_tol`` (three iterations in a row
        that lower its objective by at most 2 % each: of the phase's
        decrease so far with a validation split, of the objective without
        one; ``None`` switches it off).  For classification with early stopping the first time the
        ``tol`` or ``search_tol`` rule fires it ends only the first phase,
        whose hidden targets come from the hinge output update; the second
        takes them from the squared output update,
        consistent with the searched least-squares objective
        (``squared_targets_from_``), and runs until early stopping or its
        own end (without a validation split to stop it, it overfits).  With
        two or more hidden layers of a piecewise-linear activation (and no
        warm start) ``"admm"`` fits in stages: the first hidden layer
        alone; with a validation split, each further layer as the one
        hidden layer of a network on the standardised features of the
        layers below, its hidden targets from the squared output update
        from the start (kept while it beats the network below on the
        validation rows), any missing layers inserted as identities on
        their inputs, and that network is returned; without a validation
        split, the full network, started from the first hidden layer with
        the layers above it inserted as identities, so that it starts by
        computing that layer's network's function (the stages share
        ``max_iter``; each stage ends by the rules above).
        See the user guide.

        .. deprecated:: 0.2
           ``solver="plain"`` is deprecated in 0.2 and will be removed in
           0.3 (``fit`` warns); use ``solver="admm"`` (the default) or
           ``"paper"``.

    alpha : float, default=1e-4
        Strength of the L2 penalty ``alpha / 2 * ||W||^2`` on the weights
        (not the biases), as in scikit-learn's MLP: with no hidden layer and
        ``ADMMRegressor`` the model is :class:`~sklearn.linear_model.Ridge`
        with this ``alpha``.  With ``solver="admm"`` the relaxation search
        minimises the objective including it; in the hidden layers' step it
        damps the normal equations (it pulls no weight towards 0 there).

    gamma : float, default=10.0
        Penalty on the activation constraints ``a_l = h(z_l)`` (paper
        eq. (4)).  With ``solver="admm"`` it shapes the hidden layers'
        targets (eqs. (6), (7)) and so the direction of their steps.

    beta : float, default=1.0
        Penalty on the linear constraints ``z_l = W_l a_{l-1}`` (paper
        eq. (4)).

    n_warmup_iter : int, default=10
        Iterations at the start without multiplier updates (paper
        section 6).  Ignored on a warm start and by ``solver="admm"``, which
        has no multiplier.

    max_iter : int, default=100
        Maximum number of ADMM iterations (each a pass over all the data).

    tol : float, default=1e-4
        Stopping tolerance, as in scikit-learn's MLP: the fit stops when the
        training loss of the network's forward pass (``loss_curve_``; with
        ``early_stopping``, the validation score) has not improved by at
        least ``tol`` for ``n_iter_no_change`` consecutive iterations after
        the warm start (``n_warmup_iter``; none for ``solver="admm"``).
        With ``solver="admm"``, classification and early stopping, the first
        time this happens during the hinge-target phase it switches the
        hidden layers' targets to the squared ones instead (and the count
        restarts).  ``solver="admm"`` also has its own rule, ``search_tol``.
        ``ADMMClassifier`` also solves its output layer's log-loss fit to
        this tolerance, as :class:`~sklearn.linear_model.LogisticRegression`
        does (the largest entry of the mean loss's gradient; at least
        ``max(1e-8, 100 eps)`` of the data's dtype, at most ``1e-4``): at
        ``alpha`` without early stopping (``tol=0``: LogisticRegression's
        optimum on the hidden features to rounding), at the ridge its
        validation split chose with it (the ridge path's points are solved
        to ``1e-4``, so with the default the chosen one is returned as it
        is).

    n_iter_no_change : int, default=10
        See ``tol``.

    search_tol : float or None, default=0.02
        The default solver's own stopping rule (``solver="admm"``; ignored
        by the others): a phase of its relaxation search ends after 3
        consecutive iterations that each lowered the objective it searches
        (the network's regularised least-squares fit, with its output layer
        refitted) by at most this fraction, or lowered it not at all.  The
        fraction is of the phase's decrease so far when a validation split
        is held out (``do_early_stopping_``): the held-out rows judge
        overfitting, and the rule only says that the search has converged,
        whatever the objective's floor (large on noisy and many-class
        problems, where a steady 1 to 2 % of the objective per iteration is
        still most of the progress).  Without a split it is of the
        objective before the iteration: there the rule is the fit's only
        brake on overfitting (measured: the progress-relative rule without
        a split lowered most regressors' held-out R^2).  The end of the hinge-target
        phase (classification with early stopping) switches the targets
        (and the next phase's decrease is counted from there); the end of
        the last phase stops the fit, converged.  In a grown fit (see
        ``solver``) it ends each stage.  ``None`` switches the rule off:
        then only ``tol``, ``n_iter_no_change``, ``max_iter`` (and a
        callback) stop the fit; ``0`` keeps only the stall (an iteration
        that lowers nothing).  The default is one value and one rule for
        every problem, chosen on validation splits of the training rows of
        every shared dataset (``benchmarks/results/search_rule.md``).

    early_stopping : bool or "auto", default="auto"
        Hold out a validation split of the training rows (see
        ``validation_fraction``), stop when the validation score stops improving,
        and keep the weights with the best validation score.  ``"auto"``
        (as in :class:`~sklearn.ensemble.HistGradientBoostingClassifier`)
        turns it on when the training set has more than 10,000 rows (all
        MPI ranks together), where the held-out rows cost little and an
        ADMM iteration (a pass over all rows) is dear; scikit-learn's MLP
        defaults to ``False``.  Measured on the shared datasets, it is what
        brings the default's wall time to the MLP's (with
        ``early_stopping=True``) and guards against the slow overfitting of
        long runs (``benchmarks/bench_accuracy.py``).  For
        ``ADMMClassifier``, ``"auto"`` also turns it on whenever the rows (all
        ranks together) allow a split, that is ``ceil(validation_fraction *
        n)`` rows and the rest can each hold every class: the held-out rows
        also calibrate the
        probabilities (``temperature_``); without them the log-loss output
        layer, fitted on features that separate the training rows, is
        overconfident (PMLB segmentation, 100 hidden units, seed 0: test
        log-loss 0.48 without, 0.085 with; MLP with early stopping 0.22).

    validation_fraction : float, default=0.1
        Probability that a row is held out when ``early_stopping`` is on.
        Global row ``i`` (counted over all MPI ranks in rank order) is held
        out iff a uniform number that depends only on ``(random_state, i)``
        is below ``validation_fraction`` (:func:`skadmm._base.validation_mask`),
        so serial, joblib and MPI fits on any number of ranks hold out the
        same rows and return the same model.  The number held out is
        binomial and the split is not stratified, but, decided from counts
        summed over every rank: a class whose every row would be held out
        gets its held-out row of least global index back for training (the
        regressor: the first row, if every row would be held out); if no
        row is held out, ``"auto"`` trains on every row and
        ``early_stopping=True`` raises ``ValueError``.

    warm_start : bool, default=False
        Start from the previous ``coefs_`` (the per-sample state is rebuilt
        by a forward pass, with zero multipliers).

    random_state : int, RandomState instance or None, default=None
        Seeds the Gaussian initial state (and the validation split).  The
        initial state of a row depends only on its global index, so a fit
        is the same whatever the backend or partition.

    verbose : bool, default=False
        Print one line per iteration (rank 0 only under MPI).

    backend : str, default="joblib"
        Where the rows are processed: ``"joblib"`` (threads over row
        blocks), ``"serial"`` (one thread), ``"mpi"`` (each MPI rank fits
        its own rows) or a name added with
        :func:`skadmm.backends.register_backend`.  The model is the same,
        to the last bit, on every backend and number of threads.

    n_jobs : int, default=None
        Threads for ``backend="joblib"``; ``-1``: all cores.  ``None``: the
        ``n_jobs`` of :func:`joblib.parallel_config` where it sets one, else
        as many threads as BLAS may use
        (:func:`skadmm.backends.default_threads`: the cores, unless
        ``OMP_NUM_THREADS``, :func:`threadpoolctl.threadpool_limits` or a
        loky worker of ``GridSearchCV(n_jobs=k)`` limits them, shared among
        the MPI ranks of a node), as scikit-learn's OpenMP estimators do;
        one thread for a fit inside another running fit or started off the
        main thread (a nested or side-by-side fit finds the cores taken).  The
        solver's products are block-sized, too small for BLAS's own threads
        to pay, so on one thread (``backend="serial"``, the previous
        default) a fit uses one core.  Threads take whole chunks of 8,192
        rows: on two threads the default fits of the shared datasets whose
        training rows span several chunks ran 1.05-1.60 times faster
        than serially (geometric mean 1.32), and those within one chunk ran
        as serially, on the calling thread (validation splits, 1 and 2
        hidden layers: ``benchmarks/results/threads.md``).

    callback : callable, default=None
        ``callback(iteration, info)`` is called after every iteration with a
        dict of diagnostics (``loss``, ``objective``, ``residuals``,
        ``validation_score``, ``elapsed``, ``coefs``, ``intercepts``);
        returning True stops the fit.  With scikit-learn >= 1.9,
        ``set_callbacks`` also takes scikit-learn's callbacks
        (:mod:`sklearn.callback`: progress bars, score monitors), for which
        every iteration is a subtask of ``fit``; both work together.
"""

_COMMON_ATTRS = """
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape ``(n_units_i, n_units_{i+1})``.

    intercepts_ : list of ndarray

    n_iter_ : int
        Iterations run.

    n_layers_ : int

    n_outputs_ : int

    out_activation_ : str
        ``ADMMClassifier``: ``"logistic"`` (two classes) or ``"softmax"``;
        ``ADMMRegressor``: ``"identity"``.

    loss_curve_ : list of float
        Training loss of the forward pass after each iteration.

    best_loss_ : float or None
        Lowest ``loss_curve_`` value (None with early stopping).

    do_early_stopping_ : bool
        Whether this fit held out a validation split (``early_stopping``,
        with ``"auto"`` resolved).

    objective_curve_ : list of float
        Augmented objective (paper eq. (5)) after each iteration.

    search_objective_curve_ : list of float
        ``solver="admm"``: after each iteration, the objective its
        relaxation search minimises (the network's ridge least-squares fit,
        output layer refitted, plus ``alpha / 2`` times the hidden weights'
        squared norm); ``search_tol`` bounds its decrease from one entry
        to the next, relative to that entry, or with a validation split to
        the phase's decrease so far (the first iteration of a fit, or of a
        grown fit's later stage, from that stage's start, which is not
        listed).
        Empty for the other solvers.

    constraint_residuals_ : ndarray of shape ``(n_iter_, n_layers_ - 1)``
        RMS of ``z_l - W_l a_{l-1}`` per iteration and layer.  With
        ``solver="admm"`` (whose state is the network's own forward pass) it
        is the RMS displacement of each layer's target (NaN for the layers
        a stage of a grown fit does not fit: in its first stage those above
        the first, in a layer-wise stage all but its own).

    activation_residuals_ : ndarray of shape ``(n_iter_, n_layers_ - 2)``
        RMS of ``a_l - h(z_l)`` per iteration and hidden layer (NaN as in
        ``constraint_residuals_``).

    validation_scores_ : list of float or None
        Validation score after each iteration (``early_stopping`` only): of
        the iterate with its own output layer (for ``ADMMClassifier`` the
        least-squares one the search fits, read as logits), the scores early
        stopping compares.

    best_validation_score_ : float or None
        ``early_stopping`` only: the validation score (R^2, accuracy) of the
        returned model, the best iterate's hidden layers with the output
        layer refitted on them (``ADMMRegressor``: to the squared loss;
        ``ADMMClassifier``: to the log-loss, then the temperature); it can
        differ from ``max(validation_scores_)``, the iterates' scores with
        their own output layers.

    converged_ : bool
        False when the fit stopped at ``max_iter``.

    stop_reason_ : str

    fit_time_ : float
        Seconds spent in the solver (iterations and readout refit).

    iteration_time_ : float
        Mean seconds per iteration.

    readout_n_iter_ : int
        ``ADMMClassifier``: Newton steps of the output layer's log-loss fit,
        summed over the ridges of its path (with early stopping).
        ``ADMMRegressor``: iterations of the final output-layer refit on the
        network's own hidden features (``solver="admm"`` and ``"plain"``; 0
        otherwise).

    relaxation_factors_ : ndarray of shape ``(n_iter_, n_layers_ - 2)``
        ``solver="admm"``: the relaxation factor applied to each hidden
        layer's weight update at each iteration (0: no candidate lowered the
        objective; NaN for the layers a stage of a grown fit does not fit,
        as in ``constraint_residuals_``); shape ``(0, 0)`` for the other
        solvers and without hidden layers.

    squared_targets_from_ : int or None
        ``solver="admm"`` with early stopping: the first iteration whose
        hidden-layer targets came from the squared output update (after the
        search had slowed down on the hinge targets); None if that never
        happened (always without early stopping, for ``ADMMRegressor``,
        whose loss is already squared, and for the other solvers).  In a
        grown fit (see ``solver``) the first layer's stage starts on the
        hinge targets and switches on its own, and a layer-wise stage takes
        the squared ones from its first iteration; this is the switch of
        the last stage that ran an iteration.

    n_features_in_ : int

    feature_names_in_ : ndarray of shape ``(n_features_in_,)``
        Only when ``X`` has string feature names.
"""


class ADMMClassifier(ClassifierMixin, BaseADMM):
    __doc__ = (
        """Feed-forward network classifier trained without gradients, by ADMM.

    The hidden layers are trained by Taylor et al.'s ADMM sub-steps (ICML
    2016, Algorithm 1), each solved exactly, on the paper's
    0/1 hinge targets (one output per class, a single one for two classes;
    see ``solver`` for how the default applies them).  The output layer of
    the returned model is then fitted to the log-loss on the network's own
    hidden features, exactly (Newton's method): logistic with one output
    for two classes, softmax with one output per class otherwise, as in
    :class:`~sklearn.neural_network.MLPClassifier`.

    Parameters
    ----------"""
        + _COMMON_PARAMS
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (the union over ranks under MPI).

    readout_alpha_ : float
        The ridge of the output layer's log-loss fit: chosen on the
        validation rows along a path from ``sum(sample_weight)`` down to
        ``alpha`` with early stopping, ``alpha`` without.

    temperature_ : float
        With early stopping, the temperature ``T >= 1`` fitted on the
        validation rows (the output layer is the log-loss fit divided by it;
        it changes no prediction, only softens the confidence: Guo et al.,
        ICML 2017); 1.0 without a validation split."""
        + _COMMON_ATTRS
        + """
    See Also
    --------
    ADMMRegressor : The same method for regression.
    sklearn.neural_network.MLPClassifier : The backprop counterpart.

    Notes
    -----
    The output layer minimises ``sum_i s_i log_loss(f_i W + c, y_i) +
    rho / 2 ||W||^2`` over the hidden features ``f_i`` of the training
    rows: the problem of :class:`~sklearn.linear_model.LogisticRegression`
    with ``C = 1 / rho`` on those features, solved by Newton-CG (one
    reduction of an ``(h + 1) x K`` matrix per Hessian-vector product, so it
    runs unchanged on every backend), once, after the iterations.  Without
    early stopping ``rho = alpha``, solved to ``tol`` (``1e-4`` at the
    loosest; ``tol=0``: to its optimum; at most 100 Newton steps).  With
    early stopping the validation rows choose ``rho`` (``readout_alpha_``)
    along a decreasing path from ``sum(sample_weight)`` to ``alpha`` (at
    most 30 Newton steps per ridge) and then a temperature
    (``temperature_``) that divides the logits.
    ``decision_function`` returns the logits and ``predict_proba`` the
    probabilities they model (``out_activation_``).  See the user guide.

    References
    ----------
    Taylor, G., Burmeister, R., Xu, Z., Singh, B., Patel, A., Goldstein, T.
    "Training Neural Networks Without Gradients: A Scalable ADMM Approach",
    ICML 2016.

    Examples
    --------
    >>> from skadmm import ADMMClassifier
    >>> from skadmm.datasets import load_higgs
    >>> X, y = load_higgs(return_X_y=True)
    >>> clf = ADMMClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X[:2000], y[:2000])
    >>> clf.predict(X[-3:]).shape
    (3,)
    """
    )

    _loss = "hinge"
    _multi_output = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="admm",
        alpha=1e-4,
        gamma=10.0,
        beta=1.0,
        n_warmup_iter=10,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        search_tol=0.02,
        early_stopping="auto",
        validation_fraction=0.1,
        warm_start=False,
        random_state=None,
        verbose=False,
        backend="joblib",
        n_jobs=None,
        callback=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            gamma=gamma,
            beta=beta,
            n_warmup_iter=n_warmup_iter,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            search_tol=search_tol,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
            backend=backend,
            n_jobs=n_jobs,
            callback=callback,
        )

    def _check_targets(self, y):
        if type_of_target(y, input_name="y") == "multilabel-indicator":
            raise ValueError(
                "ADMMClassifier does not support multilabel targets; pass one label per sample."
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y, np.unique(y)

    def _encode_targets(self, y, classes, first_pass):
        if first_pass:
            if classes.size < 2:
                raise ValueError(
                    "ADMMClassifier needs samples of at least 2 classes in the data, but "
                    f"the data contains only one class: {classes[0]!r}"
                )
            self.classes_ = classes
        elif not np.all(np.isin(classes, self.classes_)):
            raise ValueError(
                f"warm_start with new classes: fitted classes_ are {self.classes_}, "
                f"y has {classes}. Refit with warm_start=False."
            )
        index = np.searchsorted(self.classes_, y)
        if self.classes_.size == 2:
            return (index == 1).astype(np.float64)[:, None]
        Y = np.zeros((y.shape[0], self.classes_.size))
        Y[np.arange(y.shape[0]), index] = 1.0
        return Y

    def _indices(self, raw):
        """Predicted class indices from the logits: the argmax of predict_proba."""
        if raw.shape[1] == 1:
            return (raw[:, 0] > 0).astype(np.intp)
        return np.argmax(raw, axis=1)

    def _score_sums(self, raw, Y, sample_weight):
        truth = (Y[:, 0] > 0.5).astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)
        correct = self._indices(raw) == truth
        if sample_weight is None:
            return np.array([correct.sum(), correct.size], dtype=np.float64)
        return np.array([np.dot(correct, sample_weight), sample_weight.sum()])

    def _score_from_sums(self, sums):
        return float(sums[0] / sums[1]) if sums[1] > 0 else 0.0

    def decision_function(self, X):
        """Logits of the output layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary: the log-odds of ``classes_[1]`` (positive means
            ``classes_[1]``).  Multi-class: one logit per class; the
            prediction is the largest.
        """
        raw = self._forward(X)
        if raw.shape[1] == 1:
            return raw[:, 0]
        return raw

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        raw = self._forward(X)
        return self.classes_[self._indices(raw)]

    def predict_proba(self, X):
        """Class probabilities: the logistic or softmax of the output layer's logits.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            float32 when both the model and ``X`` are float32, else float64
            (numpy's promotion of the two); rows sum to 1 and are finite for logits of any size.  A
            probability below the dtype's smallest normal number (``tiny``)
            is returned as ``tiny``, so that its logarithm is finite.
        """
        raw = self._forward(X)
        if raw.shape[1] == 1:
            proba = np.hstack([K.output_probabilities(-raw), K.output_probabilities(raw)])
        else:
            proba = K.output_probabilities(raw)
        return np.maximum(proba, np.finfo(proba.dtype).tiny, out=proba)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without forming it.

        Exact down to ``log(tiny)`` of the dtype (-708 in float64, -87 in
        float32), where :meth:`predict_proba` stops: finite for logits of any
        size, and equal to ``np.log(predict_proba(X))``.
        """
        raw = self._forward(X)
        if raw.shape[1] == 1:
            out = np.hstack([K.output_log_probabilities(-raw), K.output_log_probabilities(raw)])
        else:
            out = K.output_log_probabilities(raw)
        return np.maximum(out, np.log(np.finfo(out.dtype).tiny), out=out)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy; under ``backend="mpi"`` over all ranks' rows (collective).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        raw = self._forward(X, allow_empty=self._distributed())
        y = column_or_1d(y)
        if y.shape[0] != raw.shape[0]:
            raise ValueError(f"X has {raw.shape[0]} samples but y has {y.shape[0]}.")
        index = np.minimum(np.searchsorted(self.classes_, y), self.classes_.size - 1)
        known = self.classes_[index] == y
        correct = (self._indices(raw) == index) & known
        if sample_weight is None:
            sums = np.array([correct.sum(), correct.size], dtype=np.float64)
        else:
            w = _check_sample_weight(sample_weight, raw, dtype=np.float64)
            sums = np.array([np.dot(correct, w), w.sum()])
        return self._reduce_score(sums)


class ADMMRegressor(RegressorMixin, BaseADMM):
    __doc__ = (
        """Feed-forward network regressor trained without gradients, by ADMM.

    Taylor et al.'s ADMM / Bregman iteration (ICML 2016, Algorithm 1) with
    the squared loss ``(z - y)^2 / 2`` on a linear output layer (one output
    per target).  Every sub-step is solved exactly.

    Parameters
    ----------"""
        + _COMMON_PARAMS
        + """
    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """
    See Also
    --------
    ADMMClassifier : The same method for classification.
    sklearn.neural_network.MLPRegressor : The backprop counterpart.

    Notes
    -----
    Standardise the features and, for targets far from unit scale, the
    targets too (:class:`~sklearn.compose.TransformedTargetRegressor`): the
    penalties ``gamma`` and ``beta`` weigh the constraints against the loss
    in absolute units.

    Examples
    --------
    >>> import numpy as np
    >>> from skadmm import ADMMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = ADMMRegressor(hidden_layer_sizes=(), random_state=0).fit(X, y)
    >>> round(reg.score(X, y), 3)
    1.0
    """
    )

    _loss = "squared"
    _multi_output = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="admm",
        alpha=1e-4,
        gamma=10.0,
        beta=1.0,
        n_warmup_iter=10,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=10,
        search_tol=0.02,
        early_stopping="auto",
        validation_fraction=0.1,
        warm_start=False,
        random_state=None,
        verbose=False,
        backend="joblib",
        n_jobs=None,
        callback=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            gamma=gamma,
            beta=beta,
            n_warmup_iter=n_warmup_iter,
            max_iter=max_iter,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            search_tol=search_tol,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
            backend=backend,
            n_jobs=n_jobs,
            callback=callback,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _check_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        return y, None

    def _encode_targets(self, y, classes, first_pass):
        if first_pass:
            self._y_1d = y.ndim == 1
        return y.reshape(y.shape[0], -1)

    def _score_sums(self, raw, Y, sample_weight):
        w = np.ones(Y.shape[0]) if sample_weight is None else sample_weight
        w = w[:, None]
        return np.concatenate(
            [
                [w.sum()],
                (w * Y).sum(axis=0),
                (w * Y * Y).sum(axis=0),
                (w * (Y - raw) ** 2).sum(axis=0),
            ]
        )

    def _score_from_sums(self, sums):
        k = (len(sums) - 1) // 3
        wsum = sums[0]
        if wsum <= 0:
            return 0.0
        s1, s2, sse = sums[1 : 1 + k], sums[1 + k : 1 + 2 * k], sums[1 + 2 * k :]
        sst = np.maximum(s2 - s1 * s1 / wsum, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), 0.0)
        r2 = np.where((sst <= 0) & (sse <= 1e-30), 1.0, r2)
        return float(np.mean(r2))

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        raw = self._forward(X)
        return raw[:, 0] if self._y_1d else raw

    def score(self, X, y, sample_weight=None):
        """R^2; under ``backend="mpi"`` over all ranks' rows (collective).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Uniform average over outputs of the coefficient of determination.
        """
        raw = self._forward(X, allow_empty=self._distributed())
        Y = np.asarray(y, dtype=np.float64).reshape(raw.shape[0], -1)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, raw, dtype=np.float64)
        return self._reduce_score(self._score_sums(raw, Y, sample_weight))
