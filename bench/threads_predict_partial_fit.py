"""Predict in one thread while partial_fit trains the same estimator in another, for 5 s.

Prints the number of calls of each and every exception raised (there should
be none). Run from the repository root (or with ``PYTHONPATH`` on another
version of fastgru)::

    python bench/threads_predict_partial_fit.py
"""

import threading
import time

import numpy as np

from fastgru import GRUClassifier

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 50, 8))
y = (X[:, 0, 0] > 0).astype(int)
clf = GRUClassifier(hidden_size=32, random_state=0).partial_fit(X, y, classes=[0, 1])
errors, done, predictions = [], threading.Event(), [0]


def serve():
    while not done.is_set():
        try:
            clf.predict(X[:16])
            clf.predict(X[:1])
            clf.predict_proba([X[0, :7], X[1]])
            predictions[0] += 3
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(repr(exc))


thread = threading.Thread(target=serve)
thread.start()
end, fits = time.time() + 5, 0
while time.time() < end:
    try:
        clf.partial_fit(X, y)
        fits += 1
    except Exception as exc:  # noqa: BLE001
        errors.append("partial_fit: " + repr(exc))
done.set()
thread.join()
print(f"partial_fit calls {fits}, predict calls {predictions[0]}, errors {len(errors)}",
      errors[:3])
