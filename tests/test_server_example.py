"""examples/server.py on 127.0.0.1: real HTTP requests from a real client,
answers equal to in-process predict, and a 4xx with a message (never a 500)
for every malformed or oversized body."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import fastgru  # noqa: E402
from fastgru import GRUClassifier  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "examples", "server.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 12, 3)).astype(np.float32)
    y = np.where(X[:, 0, 0] > 0, "up", "down")
    clf = GRUClassifier(hidden_size=8, max_epochs=3, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    fastgru.save(clf, path)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, SERVER, str(path), "--port", str(port), "--max-body-bytes", "20000",
         "--max-rows", "16", "--max-steps", "50", "--max-sessions", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server was not ready in 300 s"
                time.sleep(0.2)
            yield client, clf, X
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_ready_reports_the_model(served):
    client, clf, X = served
    body = client.get("/ready").json()
    assert body == {"ready": True, "model": "GRUClassifier", "features": 3}


def test_predict_equals_in_process_predict(served):
    client, clf, X = served
    for rows in (X[:1], X[:5], X[:16]):
        r = client.post("/predict", json={"x": rows.tolist()})
        assert r.status_code == 200, r.text
        body = r.json()
        np.testing.assert_array_equal(body["probabilities"], clf.predict_proba(rows))
        assert body["labels"] == clf.predict(rows).tolist()
    r = client.post("/predict", json={"x": X[3].tolist()})  # one sequence, 2-D
    np.testing.assert_array_equal(r.json()["probabilities"], clf.predict_proba(X[3:4]))


def test_streaming_session_follows_the_sequence(served):
    client, clf, X = served
    sid = client.post("/sessions").json()["session"]
    for t in range(X.shape[1]):
        r = client.post(f"/sessions/{sid}/step", json={"x": X[0, t].tolist()})
        assert r.status_code == 200, r.text
        if t in (4, X.shape[1] - 1):  # the prediction for the sequence so far
            np.testing.assert_allclose(r.json()["probabilities"],
                                       clf.predict_proba(X[:1, : t + 1]), rtol=1e-5)
    other = client.post("/sessions").json()["session"]  # several steps in one request
    r = client.post(f"/sessions/{other}/step", json={"x": X[1].tolist()})
    np.testing.assert_allclose(r.json()["probabilities"], clf.predict_proba(X[1:2]),
                               rtol=1e-5)
    assert client.delete(f"/sessions/{other}").status_code == 200
    assert client.post(f"/sessions/{other}/step", json={"x": X[1, 0].tolist()}).status_code \
        == 404


def test_session_table_is_bounded(served):
    client, clf, X = served
    ids = [client.post("/sessions").json()["session"] for _ in range(3)]  # at most 2
    step = {"x": X[0, 0].tolist()}
    codes = [client.post(f"/sessions/{sid}/step", json=step).status_code for sid in ids]
    assert codes == [404, 200, 200]
    assert "evicted" in client.post(f"/sessions/{ids[0]}/step", json=step).json()["error"]


BAD_BODIES = [
    (b"{not json", 400, "not JSON"),
    (b"[" * 9000 + b"]" * 9000, 400, "nested"),
    (b'"just a string"', 422, "key"),
    (b'{"y": 1}', 422, "key"),
    (b'{"x": 3}', 422, "dimensions"),
    (b'{"x": [[[1, 2, 3]], [[1, 2]]]}', 422, "rectangular"),
    (b'{"x": [[["a", "b", "c"]]]}', 422, "numbers"),
    (b'{"x": [[[true, false, true]]]}', 422, "numbers"),
    (b'{"x": [[[null, 1, 2]]]}', 422, "numbers"),
    (b'{"x": [[[1, 2]]]}', 422, "features"),
    (b'{"x": [[[NaN, 1, 2]]]}', 422, "NaN"),
    (b'{"x": [[[1e39, 1, 2]]]}', 422, "NaN or inf"),
    (b'{"x": [[[1e999, 1, 2]]]}', 422, "NaN or inf"),
    (b'{"x": [[[' + b"1" * 500 + b', 1, 2]]]}', 422, "numbers"),
    (b'{"x": [[]]}', 422, "empty"),
    (b'{"x": [[[[1, 2, 3]]]]}', 422, "dimensions"),
    (json.dumps({"x": np.zeros((17, 1, 3)).tolist()}).encode(), 413, "sequences"),
    (json.dumps({"x": np.zeros((1, 51, 3)).tolist()}).encode(), 413, "steps"),
    (json.dumps({"x": np.zeros((1, 50, 3)).tolist(), "pad": "x" * 30000}).encode(), 413,
     "larger"),
]


@pytest.mark.parametrize("body,status,words", BAD_BODIES,
                         ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(BAD_BODIES)])
def test_malformed_and_oversized_bodies_get_a_4xx_with_a_message(served, body, status, words):
    client, clf, X = served
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert client.get("/ready").status_code == 200  # still serving


BAD_STEPS = [
    (b"{not json", 400, "not JSON"),
    (b'{"x": [1, 2]}', 422, "features"),
    (b'{"x": [[1, 2, 3], [1, 2]]}', 422, "rectangular"),
    (b'{"x": [1, "2", 3]}', 422, "numbers"),
    (b'{"x": [1, NaN, 3]}', 422, "NaN"),
    (b'{"x": [[[1, 2, 3]]]}', 422, "dimensions"),
    (json.dumps({"x": np.zeros((51, 3)).tolist()}).encode(), 413, "steps"),
]


@pytest.mark.parametrize("body,status,words", BAD_STEPS,
                         ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(BAD_STEPS)])
def test_malformed_steps_get_a_4xx_and_leave_the_state_alone(served, body, status, words):
    client, clf, X = served
    sid = client.post("/sessions").json()["session"]
    r = client.post(f"/sessions/{sid}/step", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    r = client.post(f"/sessions/{sid}/step", json={"x": X[2].tolist()})  # from zeros
    np.testing.assert_allclose(r.json()["probabilities"], clf.predict_proba(X[2:3]), rtol=1e-5)


def test_a_lying_content_length_and_a_chunked_body_are_bounded(served):
    client, clf, X = served
    big = b'{"x": ' + b" " * 30000 + b"[[[1, 2, 3]]]}"

    def chunks():
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    port = client.base_url.port  # a Content-Length no client library would send
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 99999999999\r\n\r\n{}")
        status = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status.split()[1] == b"413", status
