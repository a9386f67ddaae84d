"""
Convergence of ADMM on the HIGGS sample
=======================================

What ``skadmm.plot.plot_convergence`` shows for an ADMM fit
(``solver="paper"``: Algorithm 1 of the paper exactly) of the paper's HIGGS
network (300 hidden ReLU units) with early stopping: the training loss of the network and the
validation score, the augmented objective (paper eq. (5)), and the
constraint residuals per layer.  The grey band is the warm start
(``n_warmup_iter`` iterations without multiplier updates, paper section 6);
after it the Bregman multiplier drives the output residual down.  The
validation scores are those of the iterates; the solver then refits the
output layer to the log-loss on the network's own hidden features, which is the model
``predict`` uses.  Last, the default ``solver="admm"`` on the same data: it
trains the hidden layer (relaxed closed-form steps, see the user guide),
which this iteration barely moves.
"""

# %%
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_higgs
from skadmm.plot import plot_convergence

X, y = load_higgs(return_X_y=True)
X, X_test, y, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X)
X, X_test = scaler.transform(X), scaler.transform(X_test)
clf = ADMMClassifier(
    hidden_layer_sizes=(300,), solver="paper", early_stopping=True, max_iter=40, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X, y)
print(
    f"{clf.n_iter_} iterations; validation accuracy of the returned model "
    f"{clf.best_validation_score_:.4f} (best iterate: {max(clf.validation_scores_):.4f})"
)

print(
    "test accuracy of the fitted model (after the output layer's log-loss fit): "
    f"{clf.score(X_test, y_test):.4f}"
)
default = ADMMClassifier(hidden_layer_sizes=(300,), early_stopping=True, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    default.fit(X, y)
print(
    f"default solver='admm': test accuracy {default.score(X_test, y_test):.4f} after "
    f"{default.n_iter_} iterations; relaxation factors of the first ones: "
    f"{default.relaxation_factors_[:5, 0].tolist()}"
)

# %%
fig = plot_convergence(clf)

if __name__ == "__main__":
    fig.savefig("higgs_convergence.png", dpi=110)
