"""
Calibrated probabilities: reliability diagrams of ADMM and backprop
====================================================================

:class:`~skadmm.ADMMClassifier` fits its output layer to the log-loss of the
network's own hidden features (logistic regression on them, by Newton's
method), with its ridge and a temperature chosen on the validation rows, so
:meth:`~skadmm.ADMMClassifier.predict_proba` estimates probabilities.  A
reliability diagram plots, per bin of predicted probability, the observed
frequency of the positive class: a calibrated model lies on the diagonal.
Here for ADMM and scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`
(early stopping), both with one hidden layer of 100 ReLU units, on a fixed
split of the HIGGS sample, with the test log-loss and Brier score of each and
of the class prior (the constant predictor).
"""

# %%
# Data: the embedded HIGGS sample, standardised on the training rows.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skadmm import ADMMClassifier
from skadmm.datasets import load_higgs

X, y = load_higgs(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# Fit both, then compare their probabilities on the test rows.
models = {
    "ADMM": ADMMClassifier(hidden_layer_sizes=(100,), random_state=0),
    "MLP (adam)": MLPClassifier(hidden_layer_sizes=(100,), early_stopping=True, random_state=0),
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for model in models.values():
        model.fit(X_train, y_train)

prior = np.full(len(y_test), y_train.mean())
print(
    f"class prior: log-loss {log_loss(y_test, prior):.4f}, "
    f"Brier {brier_score_loss(y_test, prior):.4f}"
)
for name, model in models.items():
    p = model.predict_proba(X_test)[:, 1]
    print(
        f"{name}: accuracy {model.score(X_test, y_test):.4f}, log-loss {log_loss(y_test, p):.4f}, "
        f"Brier {brier_score_loss(y_test, p):.4f}"
    )
admm = models["ADMM"]
print(
    f"ADMM output layer: {admm.out_activation_}, ridge {admm.readout_alpha_:.3g} (alpha "
    f"{admm.alpha:g}), temperature {admm.temperature_:.3f}, {admm.readout_n_iter_} Newton steps"
)

# %%
# The reliability diagrams (10 bins of equal width).
fig, ax = plt.subplots(figsize=(5.5, 5))
for name, model in models.items():
    CalibrationDisplay.from_estimator(model, X_test, y_test, n_bins=10, name=name, ax=ax)
ax.set_title("HIGGS sample, test rows")
fig.tight_layout()
plt.show()
