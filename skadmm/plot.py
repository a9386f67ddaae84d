"""Convergence plots of a fitted ADMM estimator (needs matplotlib).

matplotlib is imported when a function here is called, not with skadmm.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_convergence"]


def plot_convergence(estimator, axes=None):
    """Plot a fitted estimator's histories against the iteration.

    Three panels: the training loss of the network (``loss_curve_``) and,
    with early stopping, the validation score; the augmented objective
    (``objective_curve_``, paper eq. (5)); the RMS constraint residuals
    ``z_l - W_l a_{l-1}`` per layer and ``a_l - h(z_l)`` per hidden layer.

    Parameters
    ----------
    estimator : ADMMClassifier or ADMMRegressor
        A fitted estimator.
    axes : array of 3 matplotlib Axes, default=None
        Where to draw; a new figure when omitted.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    check_is_fitted(estimator, "loss_curve_")
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    else:
        fig = axes[0].figure
    it = np.arange(1, len(estimator.loss_curve_) + 1)
    ax = axes[0]
    handles = ax.plot(it, estimator.loss_curve_, label="training loss (forward pass)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if estimator.validation_scores_:
        twin = ax.twinx()
        handles += twin.plot(
            it, estimator.validation_scores_, color="C1", label="validation score"
        )
        twin.set_ylabel("validation score")
    ax.legend(handles=handles, loc="center right", fontsize="small", framealpha=0.9)
    if estimator.n_warmup_iter and not estimator.warm_start:
        for a in axes:
            a.axvspan(0.5, min(estimator.n_warmup_iter, len(it)) + 0.5, color="0.92")
    ax.set_title("loss")
    axes[1].plot(it, estimator.objective_curve_)
    axes[1].set_yscale("symlog")
    axes[1].set_xlabel("iteration")
    axes[1].set_title("augmented objective (eq. 5)")
    ax = axes[2]
    for layer in range(estimator.constraint_residuals_.shape[1]):
        ax.semilogy(
            it,
            estimator.constraint_residuals_[:, layer],
            label=f"z{layer + 1} - W{layer + 1} a{layer}",
        )
    for layer in range(estimator.activation_residuals_.shape[1]):
        ax.semilogy(
            it,
            estimator.activation_residuals_[:, layer],
            "--",
            label=f"a{layer + 1} - h(z{layer + 1})",
        )
    ax.set_xlabel("iteration")
    ax.set_title("RMS constraint residuals")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
