"""
HIGGS: test accuracy against time, ADMM and backprop
====================================================

The paper's Figure 2b in miniature: test accuracy as a function of wall
seconds for :class:`~skadmm.ADMMClassifier` and scikit-learn's
:class:`~sklearn.neural_network.MLPClassifier` (adam), both with one hidden
layer of 300 ReLU units (the paper's HIGGS network), on a fixed 80/20 split
of the HIGGS sample, on this machine, in one run.  The dotted line is the
paper's 64 % target.

The time of evaluating the test set after every iteration / epoch is not
counted.  Run it as a script to save ``higgs_accuracy_vs_time.png``.
"""

# %%
# Data: the embedded HIGGS sample, standardised.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_higgs

X, y = load_higgs(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=0, stratify=y
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# ADMM: a callback records the test accuracy after every iteration, and its
# own time, so that it can be subtracted.
admm = ADMMClassifier(hidden_layer_sizes=(300,), max_iter=60, tol=0, random_state=0)
admm_curve, spent = [], [0.0]


def record(iteration, info):
    start = time.perf_counter()
    (W1, W2), (b1, b2) = info["coefs"], info["intercepts"]
    margin = np.maximum(X_test @ W1 + b1, 0) @ W2 + b2  # the network's forward pass
    accuracy = np.mean((margin[:, 0] > 0.5) == y_test)  # 0/1 hinge targets: cut at 0.5
    admm_curve.append((info["elapsed"] - spent[0], accuracy))
    spent[0] += time.perf_counter() - start


admm.set_params(callback=record)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    admm.fit(X_train, y_train)

# %%
# Backprop: one epoch at a time with ``warm_start``, timing only the fits.
mlp = MLPClassifier(hidden_layer_sizes=(300,), max_iter=1, warm_start=True, random_state=0)
mlp_curve, elapsed = [], 0.0
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for _ in range(40):
        start = time.perf_counter()
        mlp.fit(X_train, y_train)
        elapsed += time.perf_counter() - start
        mlp_curve.append((elapsed, mlp.score(X_test, y_test)))

# %%
# The figure.
fig, ax = plt.subplots(figsize=(6, 4))
for curve, label in ((admm_curve, "ADMMClassifier"), (mlp_curve, "MLPClassifier (adam)")):
    t, acc = np.array(curve).T
    ax.plot(t, acc, marker=".", label=label)
ax.axhline(0.64, color="gray", linestyle=":", label="paper's 64 % target")
ax.set_xscale("log")
ax.set_xlabel("wall seconds (this machine)")
ax.set_ylabel("test accuracy")
ax.set_title("HIGGS sample, 300 hidden ReLU units")
ax.legend(loc="lower right")
fig.tight_layout()
print(
    f"ADMM: {admm_curve[-1][1]:.4f} after {admm_curve[-1][0]:.2f} s; "
    f"MLP: {mlp_curve[-1][1]:.4f} after {mlp_curve[-1][0]:.2f} s"
)

if __name__ == "__main__":
    fig.savefig("higgs_accuracy_vs_time.png", dpi=120)
