"""Pickle size of a fitted GRUClassifier against fastgru.save's file.

256 sequences of 100 steps and 8 features, hidden 64 and 128, two epochs of
``fit`` (and one ``partial_fit``). Run from the repository root (or with
``PYTHONPATH`` on another version of fastgru)::

    python bench/pickle_size.py
"""

import os
import pickle
import tempfile

import numpy as np

import fastgru
from fastgru import GRUClassifier

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 100, 8))
y = (X[:, 0, 0] > 0).astype(int)
for hidden in (64, 128):
    clf = GRUClassifier(hidden_size=hidden, max_epochs=2, random_state=0).fit(X, y)
    fitted = len(pickle.dumps(clf))
    streamed = GRUClassifier(hidden_size=hidden, random_state=0)
    partial = len(pickle.dumps(streamed.partial_fit(X, y, classes=[0, 1])))
    clf.predict(X[:3])
    after_predict = len(pickle.dumps(clf))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.fastgru")
        fastgru.save(clf, path)
        saved = os.path.getsize(path)
    print(f"hidden {hidden}: pickle after fit {fitted / 1e6:.3f} MB, after partial_fit "
          f"{partial / 1e6:.3f} MB, after fit + predict {after_predict / 1e6:.3f} MB; "
          f"fastgru.save's file {saved / 1e6:.3f} MB")
