"""
Scores at every iteration with scikit-learn's ScoringMonitor
=============================================================

scikit-learn 1.9's callbacks (:mod:`sklearn.callback`) reach
:class:`~skadmm.ADMMClassifier` as they reach
:class:`~sklearn.linear_model.LogisticRegression`: a
:class:`~sklearn.callback.ScoringMonitor` set with ``set_callbacks`` scores
the model as it stands at the end of every iteration.  Here it logs the
training and the validation accuracy of an ADMM network (300 hidden ReLU
units, the paper's HIGGS network) and of a logistic regression (one L-BFGS
step per iteration) on the embedded HIGGS sample.

``ScoringMonitor`` scores the training rows that ``fit`` received; a second
entry of its ``scoring`` dict, a plain callable that ignores them, scores a
held-out split.  ADMM's per-iteration scores are those of its iterates: the
fitted model (the root ``fit`` entry of the log) has, in addition, its output
layer refitted on the network's own hidden features (``readout_n_iter_``).
"""

# %%
# Data: the embedded HIGGS sample, standardised, with a validation split.
import warnings

import matplotlib.pyplot as plt
from sklearn.callback import ScoringMonitor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_higgs

X, y = load_higgs(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)


def validation_accuracy(estimator, X, y):
    """Ignores the training rows it is given: scores the held-out split."""
    return estimator.score(X_val, y_val)


def monitor():
    return ScoringMonitor(
        scoring={"train": get_scorer("accuracy"), "validation": validation_accuracy}
    )


# %%
# Fit both, each with its own monitor.  With ``early_stopping=True`` ADMM
# holds out 10 % of the rows it is given (its own split; the monitor's
# "train" scores all of them) and keeps the weights with the best score
# there.
admm = ADMMClassifier(
    hidden_layer_sizes=(300,), max_iter=40, early_stopping=True, random_state=0
).set_callbacks(admm_monitor := monitor())
logreg = LogisticRegression(max_iter=30).set_callbacks(logreg_monitor := monitor())
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    admm.fit(X_train, y_train)
    logreg.fit(X_train, y_train)

# %%
# One log entry per iteration (plus one for the whole fit, and for ADMM one
# for the readout refit).
admm_log = admm_monitor.get_logs().data
iterations = [row for row in admm_log if row["task_name"] == "iteration"]
print(f"ADMM: {admm.n_iter_} iterations, {len(iterations)} iteration entries")
for row in iterations[:3]:
    print(
        f"  iteration #{row['task_id']}: train {row['train']:.4f}, "
        f"validation {row['validation']:.4f}"
    )
(fit_row,) = [row for row in admm_log if row["task_name"] == "fit"]
print(f"fitted model: train {fit_row['train']:.4f}, validation {fit_row['validation']:.4f}")
print(f"logistic regression: validation {logreg.score(X_val, y_val):.4f}")

# %%
# The curves: training and validation accuracy per iteration, side by side.
# ADMM's training accuracy keeps climbing while its validation accuracy
# peaks early; its early stopping (on its own held-out rows) keeps the best
# weights, which the readout refit then completes.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
for ax, name, mon, task in [
    (axes[0], "ADMMClassifier (300 ReLU units)", admm_monitor, "iteration"),
    (axes[1], "LogisticRegression (L-BFGS)", logreg_monitor, "lbfgs-iter"),
]:
    rows = [row for row in mon.get_logs().data if row["task_name"] == task and "train" in row]
    steps = [row["task_id"] + 1 for row in rows]
    ax.plot(steps, [row["train"] for row in rows], label="train")
    ax.plot(steps, [row["validation"] for row in rows], label="validation")
    ax.set(title=name, xlabel="iteration")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("accuracy")
axes[0].legend()
plt.show()
