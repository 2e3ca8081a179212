"""A small HTTP server for a fastgru model: batch prediction and streaming sessions.

Starlette (an ASGI toolkit: routing, requests, responses, nothing more) on
uvicorn; see docs/serving.md for the choice, threads against processes, and
measured numbers. Run::

    pip install ".[onnx]" starlette uvicorn
    python examples/server.py model.npz --port 8000

where ``model.npz`` is what ``fastgru.save`` wrote for a fitted
``GRUClassifier`` or ``GRURegressor`` (or a ``GRU`` layer, which returns its
final states), or an ONNX file that ``to_onnx`` wrote (prediction only, for
comparing with onnxruntime). Endpoints, JSON in and out:

``GET /ready``
    200 ``{"ready": true, ...}`` once the model is loaded and its kernels
    compiled, 503 before: point a load balancer's readiness probe here.
``POST /predict`` ``{"x": [[[...]]]}``
    A batch ``(batch, time, features)`` (or one sequence ``(time,
    features)``); answers ``{"labels": [...], "probabilities": [[...]]}``
    (classifier), ``{"predictions": [...]}`` (regressor) or ``{"h_n": ...}``.
``POST /sessions``
    201 ``{"session": ID}``: a streaming session, its state zero.
``POST /sessions/{ID}/step`` ``{"x": [...]}``
    One time step ``(features,)`` or several ``(steps, features)``; the
    session's state advances and the answer is the prediction for the
    sequence so far (the same keys as ``/predict``, one row). 404 for an
    unknown or evicted session.
``DELETE /sessions/{ID}``
    Ends a session. At most ``--max-sessions`` live at once: a new one
    evicts the least recently used.

Every malformed request gets a 4xx with a message (``{"error": ...}``):
413 for a body over ``--max-body-bytes`` or more rows or steps than
allowed, 400 for what is not JSON, 422 for JSON of the wrong shape, type or
values (NaN, inf, strings, ragged lists, the wrong number of features).
The model runs in Starlette's thread pool (``--threads`` threads), so the
event loop keeps accepting while kernels run (they release the GIL).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import threading
import uuid

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.routing import Route


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------- the model
class FastgruModel:
    """A model file loaded with ``fastgru.load``: batch prediction and one step."""

    def __init__(self, path: str):
        import fastgru

        model = fastgru.load(path)
        if isinstance(model, fastgru.GRU):
            self.layer, self.estimator = model, None
        elif type(model).__name__ in ("GRUClassifier", "GRURegressor"):
            self.layer, self.estimator = model.gru_, model
        else:
            raise SystemExit(f"{path}: a {type(model).__name__}; this server serves "
                             "GRUClassifier, GRURegressor and GRU" + (
                                 " (docs/serving.md, 'Serving a forecaster', sketches a "
                                 "server of forecasts)" if type(model).__name__ ==
                                 "GRUForecaster" else ""))
        if self.layer.bidirectional:
            raise SystemExit(f"{path}: a bidirectional model cannot stream (step)")
        self.kind = type(model).__name__
        self.features = self.layer.input_size
        self.dtype = self.layer.dtype

    def warm_up(self) -> None:
        """Compile (or load from the cache) the kernels before serving."""
        x = np.zeros((1, 2, self.features), dtype=self.dtype)
        self.predict(x)
        self.predict(np.zeros((2, 2, self.features), dtype=self.dtype))
        self.step(np.zeros((1, self.features), dtype=self.dtype), self.new_state())

    def predict(self, x: np.ndarray) -> dict:
        est = self.estimator
        if est is None:
            return {"h_n": self.layer.forward(x)[1].tolist()}
        if self.kind == "GRUClassifier":
            proba = est.predict_proba(x)
            return {"labels": est.classes_[proba.argmax(axis=1)].tolist(),
                    "probabilities": proba.tolist()}
        return {"predictions": est.predict(x).tolist()}

    def new_state(self) -> np.ndarray:
        layer = self.layer
        return np.zeros((layer.num_layers, 1, layer.hidden_size), dtype=self.dtype)

    def step(self, steps: np.ndarray, h: np.ndarray) -> dict:
        """Advance ``h`` (in place) by ``steps`` (n, features); the prediction so far."""
        for x_t in steps:
            self.layer.step(x_t[None], h, out=h)  # (1, features): batch 1
        est = self.estimator
        if est is None:
            return {"h_n": h.tolist()}
        head = est.head_
        out = (h[-1] @ head["weight"].T + head["bias"]).astype(np.float64)
        if self.kind == "GRUClassifier":  # as predict_proba computes it
            shifted = out - out.max(axis=1, keepdims=True)
            proba = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
            return {"labels": est.classes_[proba.argmax(axis=1)].tolist(),
                    "probabilities": proba.tolist()}
        pred = out * est.y_scale_ + est.y_mean_
        return {"predictions": (pred[:, 0] if pred.shape[1] == 1 else pred).tolist()}


class OnnxModel:
    """An ONNX file under onnxruntime (``to_onnx`` of an estimator or a layer)."""

    def __init__(self, path: str):
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.features = inp.shape[-1] if isinstance(inp.shape[-1], int) else None
        self.dtype = np.float64 if "double" in inp.type else np.float32
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.kind = "onnx"

    def warm_up(self) -> None:
        self.predict(np.zeros((1, 2, self.features or 1), dtype=self.dtype))

    def predict(self, x: np.ndarray) -> dict:
        name = "probabilities" if "probabilities" in self.outputs else self.outputs[-1]
        out = self.session.run([name], {self.input_name: x})[0]
        if name == "probabilities":
            return {"labels": out.argmax(axis=1).tolist(), "probabilities": out.tolist()}
        return {name: out.tolist()}


# ------------------------------------------------------------ request bodies
async def read_body(request, max_bytes: int) -> bytes:
    """The request's body, refused beyond ``max_bytes`` without reading it all."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_bytes):
        raise RequestError(413, f"body larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(413, f"body larger than {max_bytes} bytes")
    return bytes(body)


def parse_json(body: bytes):
    """The body's JSON (in a pool thread: a large body does not hold up the event loop)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise RequestError(400, "body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"body is not JSON: {exc}") from None


def as_array(payload, name: str, ndims: tuple, features, dtype, limits: dict) -> np.ndarray:
    """``payload[name]`` as a finite array of ``dtype`` with one of ``ndims``
    dimensions, ``features`` in its last (None: any), within ``limits``."""
    if not isinstance(payload, dict) or name not in payload:
        raise RequestError(422, f'body must be a JSON object with the key "{name}"')
    try:
        arr = np.array(payload[name])
    except (ValueError, TypeError, RecursionError):
        raise RequestError(422, f'"{name}" must be a rectangular array of numbers '
                           "(lists of equal lengths)") from None
    if arr.dtype.kind not in "iuf":
        raise RequestError(422, f'"{name}" must hold numbers only, got {arr.dtype.kind!r} '
                           "data (strings, booleans, nulls or objects)")
    if arr.ndim not in ndims:
        raise RequestError(422, f'"{name}" must have {" or ".join(map(str, ndims))} '
                           f"dimensions, got shape {list(arr.shape)}")
    if arr.size == 0:
        raise RequestError(422, f'"{name}" is empty (shape {list(arr.shape)})')
    if features is not None and arr.shape[-1] != features:
        raise RequestError(422, f'"{name}" has {arr.shape[-1]} features per step, '
                           f"the model takes {features}")
    for axis, (what, most) in zip(range(arr.ndim - 1), limits.get(arr.ndim, ())):
        if arr.shape[axis] > most:
            raise RequestError(413, f'"{name}" has {arr.shape[axis]} {what}, at most '
                               f"{most} per request")
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise RequestError(422, f'"{name}" contains NaN or inf (or values beyond {dtype.__name__})')
    return arr


# ------------------------------------------------------------------ the app
def create_app(model, *, max_body_bytes=1 << 20, max_rows=256, max_steps=4096,
               max_sessions=1000, threads=8) -> Starlette:
    """The Starlette app serving ``model`` (a FastgruModel or OnnxModel)."""
    state = {"ready": False, "error": None}
    sessions: collections.OrderedDict = collections.OrderedDict()  # id -> (lock, state)
    table_lock = threading.Lock()
    dtype = np.dtype(model.dtype).type
    batch_limits = {3: (("sequences", max_rows), ("steps", max_steps)),
                    2: (("steps", max_steps),)}

    def refuse(exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    def call(fn, body, *args):
        """``fn(payload, *args)`` for the JSON ``body``, in a pool thread; what
        the model refuses is the client's error."""
        try:
            return fn(parse_json(body), *args)
        except (ValueError, TypeError) as exc:
            raise RequestError(422, str(exc)) from None

    async def ready(request):
        if state["ready"]:
            return JSONResponse({"ready": True, "model": model.kind,
                                 "features": model.features})
        return JSONResponse({"ready": False, "error": state["error"]}, status_code=503)

    def predict_body(payload):
        x = as_array(payload, "x", (2, 3), model.features, dtype, batch_limits)
        return model.predict(x[None] if x.ndim == 2 else x)

    async def predict(request):
        try:
            body = await read_body(request, max_body_bytes)
            return JSONResponse(await run_in_threadpool(call, predict_body, body))
        except RequestError as exc:
            return refuse(exc)

    async def new_session(request):
        if not hasattr(model, "step"):
            return refuse(RequestError(404, "this model does not stream (an ONNX file)"))
        sid = uuid.uuid4().hex
        with table_lock:
            sessions[sid] = (threading.Lock(), model.new_state())
            while len(sessions) > max_sessions:
                sessions.popitem(last=False)  # the least recently used
        return JSONResponse({"session": sid}, status_code=201)

    def advance(payload, sid):
        steps = as_array(payload, "x", (1, 2), model.features, dtype,
                         {2: (("steps", max_steps),)})
        if steps.ndim == 1:
            steps = steps[None]
        with table_lock:
            entry = sessions.get(sid)
            if entry is None:
                raise RequestError(404, f"no session {sid!r} (ended, evicted or never made)")
            sessions.move_to_end(sid)
        lock, h = entry
        with lock:  # one request at a time per session: steps stay in order
            return model.step(steps, h)

    async def step(request):
        try:
            body = await read_body(request, max_body_bytes)
            sid = request.path_params["sid"]
            return JSONResponse(await run_in_threadpool(call, advance, body, sid))
        except RequestError as exc:
            return refuse(exc)

    async def end_session(request):
        with table_lock:
            found = sessions.pop(request.path_params["sid"], None)
        if found is None:
            return refuse(RequestError(404, "no such session"))
        return JSONResponse({"ended": True})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads

        def warm():
            try:
                model.warm_up()
                state["ready"] = True
            except Exception as exc:  # reported by /ready, not a crash
                state["error"] = repr(exc)

        threading.Thread(target=warm, daemon=True).start()
        yield

    routes = [
        Route("/ready", ready, methods=["GET"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/sessions", new_session, methods=["POST"]),
        Route("/sessions/{sid}/step", step, methods=["POST"]),
        Route("/sessions/{sid}", end_session, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve a fastgru model over HTTP.")
    parser.add_argument("model", help="a file from fastgru.save, or an ONNX file (.onnx)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=8,
                        help="threads running the model (Starlette's thread pool)")
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
    parser.add_argument("--max-rows", type=int, default=256, help="sequences per request")
    parser.add_argument("--max-steps", type=int, default=4096, help="time steps per request")
    parser.add_argument("--max-sessions", type=int, default=1000)
    args = parser.parse_args(argv)
    model = OnnxModel(args.model) if args.model.endswith(".onnx") else FastgruModel(args.model)
    app = create_app(model, max_body_bytes=args.max_body_bytes, max_rows=args.max_rows,
                     max_steps=args.max_steps, max_sessions=args.max_sessions,
                     threads=args.threads)
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
