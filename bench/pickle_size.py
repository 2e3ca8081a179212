import os, pickle, sys, tempfile
import numpy as np
import fastgru
from fastgru import GRUClassifier
rng = np.random.default_rng(0)
X = rng.normal(size=(256, 100, 8)); y = (X[:, 0, 0] > 0).astype(int)
for hidden in (64, 128):
    clf = GRUClassifier(hidden_size=hidden, max_epochs=2, random_state=0).fit(X, y)
    fitted = len(pickle.dumps(clf))
    pclf = GRUClassifier(hidden_size=hidden, random_state=0).partial_fit(X, y, classes=[0, 1])
    partial = len(pickle.dumps(pclf))
    clf.predict(X[:3])
    after_predict = len(pickle.dumps(clf))
    path = os.path.join(tempfile.mkdtemp(), "m.fastgru")
    fastgru.save(clf, path)
    print(f"hidden {hidden}: pickle after fit {fitted/1e6:.3f} MB, after partial_fit {partial/1e6:.3f} MB, "
          f"after fit+predict {after_predict/1e6:.3f} MB, fastgru.save file {os.path.getsize(path)/1e6:.3f} MB")
