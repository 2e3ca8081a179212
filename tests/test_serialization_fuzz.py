"""fastgru.load on hostile files: only ValueError, no code run, bounded memory.

Truncations, bit flips and crafted members (pickled object arrays with a
canary, huge sizes in the JSON and in .npy headers, a zip bomb, duplicate and
unknown members, wrong dtypes, deep JSON...) are loaded in a subprocess that
reports, per file, the exception and its peak memory growth (ru_maxrss).
"""

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import fastgru

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_TRUNCATIONS = 20
N_BIT_FLIPS = 40
#: peak memory a hostile file may add (the valid file loads in far less)
MAX_GROWTH_MB = 64


def _npy(arr, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npy_header_only(shape, descr="<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(members, compress=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _meta(members) -> dict:
    raw = np.load(io.BytesIO(members["__meta__.npy"]))
    return json.loads(raw.tobytes())


def _with_meta(members, meta) -> bytes:
    enc = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return _zip([(n, _npy(enc) if n == "__meta__.npy" else d) for n, d in members.items()])


class _Canary:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # unpickling it would create the canary file
        return (open, (self.path, "w"))


def _crafted(valid: bytes, canary: str) -> dict:
    m = _members(valid)
    meta = _meta(m)
    cases = {}

    def meta_case(name, **changes):
        new = json.loads(json.dumps(meta))
        for key, value in changes.items():
            target = new
            *path, last = key.split(".")
            for p in path:
                target = target[p]
            target[last] = value
        cases[name] = _with_meta(m, new)

    meta_case("num_layers 1e9", **{"layer.num_layers": 1e9})
    meta_case("num_layers int 10**9", **{"layer.num_layers": 10**9})
    meta_case("hidden_size 30000", **{"layer.hidden_size": 30000})
    meta_case("hidden_size 10**30", **{"layer.hidden_size": 10**30})
    meta_case("kind list", kind=["GRU"])
    meta_case("dtype float16", **{"layer.dtype": "float16"})
    meta_case("variant unknown", **{"layer.variant": "lstm"})
    meta_case("bias string", **{"layer.bias": "yes"})
    meta_case("future version", format_version=99)
    meta_case("kind estimator without params", kind="GRURegressor")
    cases["deep JSON"] = _zip([("__meta__.npy", _npy(np.frombuffer(
        ("[" * 200000 + "]" * 200000).encode(), dtype=np.uint8)))] + [
        (n, d) for n, d in m.items() if n != "__meta__.npy"])
    cases["huge JSON"] = _zip([("__meta__.npy", _npy(np.zeros(8 << 20, np.uint8)))])
    w = "gru/weight_hh_l0.npy"
    cases["npy header huge shape"] = _zip(
        [(n, _npy_header_only((10**6, 10**6)) + d[-64:] if n == w else d) for n, d in m.items()])
    cases["npy header wrong shape"] = _zip(
        [(n, _npy(np.zeros((5, 4), np.float32)) if n == w else d) for n, d in m.items()])
    cases["npy int weights"] = _zip(
        [(n, _npy(np.zeros((12, 4), np.int64)) if n == w else d) for n, d in m.items()])
    cases["npy unicode weights"] = _zip(
        [(n, _npy(np.full((12, 4), "a")) if n == w else d) for n, d in m.items()])
    cases["npy NaN weights"] = _zip(
        [(n, _npy(np.full((12, 4), np.nan, np.float32)) if n == w else d) for n, d in m.items()])
    cases["npy structured"] = _zip(
        [(n, _npy(np.zeros(48, [("a", "<f4")])) if n == w else d) for n, d in m.items()])
    cases["pickled object array"] = _zip(
        [(n, _npy(np.array([_Canary(canary)], dtype=object), allow_pickle=True)
          if n == w else d) for n, d in m.items()])
    cases["pickled object member"] = _zip(list(m.items()) + [(
        "attr/x.npy", _npy(np.array([_Canary(canary)], dtype=object), allow_pickle=True))])
    cases["not npy member"] = _zip([(n, b"hello" if n == w else d) for n, d in m.items()])
    cases["member not .npy"] = _zip(list(m.items()) + [("readme.txt", b"hi")])
    cases["unknown top-level member"] = _zip(list(m.items()) + [("extra.npy", _npy(np.ones(2)))])
    cases["unknown attr member"] = _zip(list(m.items()) + [("attr/x.npy", _npy(np.ones(2)))])
    cases["unknown head member"] = _zip(list(m.items()) + [("head/w.npy", _npy(np.ones(2)))])
    cases["unknown gru member"] = _zip(list(m.items()) + [
        ("gru/weight_ih_l1.npy", m["gru/weight_ih_l0.npy"])])
    cases["missing gru member"] = _zip([(n, d) for n, d in m.items() if n != w])
    with pytest.warns(UserWarning, match="Duplicate"):
        cases["duplicate member"] = _zip(list(m.items()) + [(w, m[w])])
    cases["no meta"] = _zip([(n, d) for n, d in m.items() if n != "__meta__.npy"])
    # a zip bomb: 256 MB of zeros deflated to ~250 KB, declared honestly
    bomb = _npy_header_only((64 << 20,)) + bytes(256 << 20)
    cases["zip bomb"] = _zip(list(m.items()) + [("attr/x.npy", bomb)], zipfile.ZIP_DEFLATED)
    cases["zip bomb as weights"] = _zip(
        [(n, bomb if n == w else d) for n, d in m.items()], zipfile.ZIP_DEFLATED)
    # a directory that lies: says a small size, while the data inflate to 256 MB
    lying = bytearray(_zip(list(m.items()) + [("attr/x.npy", bomb)], zipfile.ZIP_DEFLATED))
    size = (64 << 20) * 4 + len(_npy_header_only((64 << 20,)))
    small = (1000).to_bytes(4, "little")
    lying = bytes(lying).replace(size.to_bytes(4, "little"), small)
    cases["lying directory"] = lying
    cases["empty"] = b""
    cases["not a zip"] = b"PK\x03\x04" + os.urandom(200)
    return cases


SCRIPT = textwrap.dedent(r"""
    import io, json, os, resource, sys, traceback
    import fastgru

    files = json.load(open(sys.argv[1]))
    valid = open(files.pop("__valid__"), "rb").read()
    fastgru.load(io.BytesIO(valid))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = {}
    for name, path in files.items():
        data = open(path, "rb").read()
        try:
            fastgru.load(io.BytesIO(data) if len(data) % 2 else path)
            outcome = "loaded"
        except ValueError as exc:
            named = "not a valid fastgru file" in str(exc)
            outcome = "ValueError" if named else f"bad message {exc}"
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"[:300]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results[name] = [outcome, (peak - base) / 1024]
    print(json.dumps(results))
""")


def test_load_of_hostile_files(tmp_path):
    canary = str(tmp_path / "canary")
    layer = fastgru.GRU(2, 4, random_state=0)
    valid_path = tmp_path / "valid.npz"
    fastgru.save(layer, valid_path)
    valid = valid_path.read_bytes()
    cases = _crafted(valid, canary)
    rng = np.random.default_rng(16)
    for i, cut in enumerate(rng.integers(0, len(valid), N_TRUNCATIONS)):
        cases[f"truncated {i} at {cut}"] = valid[:cut]
    for i in range(N_BIT_FLIPS):
        data = bytearray(valid)
        bit = int(rng.integers(0, 8 * len(data)))
        data[bit // 8] ^= 1 << (bit % 8)
        cases[f"bit flip {i} at {bit}"] = bytes(data)
    files = {"__valid__": str(valid_path)}
    for i, (name, data) in enumerate(cases.items()):
        path = tmp_path / f"case{i}.npz"
        path.write_bytes(data)
        files[name] = str(path)
    listing = tmp_path / "files.json"
    listing.write_text(json.dumps(files))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(listing)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    assert not os.path.exists(canary), "loading ran code from the file"
    # a bit flip may land where nothing is checked (the zip's comment, a
    # timestamp, the low bits of a weight): then the file loads, as it should
    flips_loaded = {k for k, (o, _) in results.items() if o == "loaded" and k.startswith("bit")}
    bad = {k: v for k, v in results.items()
           if v[0] != "ValueError" and k not in flips_loaded}
    assert not bad, bad
    growth = {k: mb for k, (_, mb) in results.items() if mb > MAX_GROWTH_MB}
    assert not growth, growth


def test_an_array_of_a_dtype_of_no_bytes_is_refused_before_it_is_allocated(tmp_path):
    # its shape is bounded by no size: 10**12 elements of U0 (which NumPy makes U1) took 4 TB
    path = tmp_path / "model.npz"
    fastgru.save(fastgru.GRUForecaster(horizon=2, hidden_size=4, max_epochs=1,
                                       random_state=0).fit(np.sin(np.arange(30.0))), path)
    members = _members(path.read_bytes())
    attrs = [n for n in members if n.startswith("attr/")]
    assert attrs
    for name in attrs:
        path.write_bytes(_zip([(n, _npy_header_only((10**12,), "<U0") if n == name else d)
                               for n, d in members.items()]))
        with pytest.raises(ValueError, match="not a valid fastgru file.*of no bytes"):
            fastgru.load(path)


# ------------------------------------------------------- exhaustive damage
def _zip_structures(data: bytes) -> list:
    """Offsets of every byte of the zip's own records (local headers, central
    directory entries, end record): the fields zipfile parses."""
    offsets = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            local = info.header_offset
            name_len = int.from_bytes(data[local + 26: local + 28], "little")
            extra_len = int.from_bytes(data[local + 28: local + 30], "little")
            offsets.extend(range(local, local + 30 + name_len + extra_len))
    central = data.rfind(b"PK\x01\x02", 0)
    first_central = data.find(b"PK\x01\x02")
    offsets.extend(range(first_central if first_central >= 0 else central, len(data)))
    return sorted(set(offsets))


def _damaged(valid: bytes, other: bytes, rng) -> dict:
    cases = {}
    for off in _zip_structures(valid):
        for value in (0x00, 0xFF, valid[off] ^ 0x01, valid[off] ^ 0x80, 0x7F):
            data = bytearray(valid)
            data[off] = value
            cases[f"byte {off} = {value:#x}"] = bytes(data)
        cases[f"truncated at {off}"] = valid[:off]
    for i in range(300):  # random bits anywhere, one to seven at a time
        data = bytearray(valid)
        for bit in rng.integers(0, 8 * len(data), int(rng.integers(1, 8))):
            data[bit // 8] ^= 1 << (int(bit) % 8)
        cases[f"random flips {i}"] = bytes(data)
    for cut in rng.integers(0, len(valid), 100):  # truncated anywhere
        cases[f"truncated at {cut}"] = valid[:cut]
    for i in range(100):  # the head of one file on the tail of another
        cut_a, cut_b = (int(v) for v in rng.integers(0, [len(valid), len(other)]))
        cases[f"spliced {i}"] = valid[:cut_a] + other[cut_b:]
    return cases


def _load_outcome(data: bytes) -> str:
    try:
        loaded = fastgru.load(io.BytesIO(data))
    except ValueError as exc:
        return "ValueError" if "<BytesIO> is not a valid fastgru file" in str(exc) \
            else f"ValueError without the file's name: {exc}"
    except Exception as exc:  # noqa: BLE001 - the point: which other types get out
        return f"{type(exc).__name__}: {exc}"[:200]
    return f"loaded {type(loaded).__name__}"


def test_zip_version_needed_field_is_a_value_error(tmp_path):
    """A flip in the central directory's "version needed to extract" makes
    zipfile raise NotImplementedError("zip file version 17.3"): load names
    the file in a ValueError."""
    path = tmp_path / "layer.npz"
    fastgru.save(fastgru.GRU(2, 4, random_state=0), path)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 6: central + 8] = (173).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"layer\.npz' is not a valid fastgru file"):
        fastgru.load(path)
    with pytest.raises(ValueError, match="<BytesIO> is not a valid fastgru file"):
        fastgru.load(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("kind", ["GRU", "GRURegressor", "GRUClassifier", "GRUForecaster"])
def test_every_damaged_byte_of_the_zip_records_is_a_value_error(tmp_path, kind):
    """Each byte of the zip's records set to five values and cut there, random
    flips, random truncations and splices of two files: every outcome is a
    ValueError naming the file, or the file loading as what was saved (a flip
    in a timestamp or a weight's low bits leaves a valid file); never another
    exception type, and most damage is refused (the zip records hold
    timestamps and fields that zipfile does not read: many of their bytes may change)."""
    from fastgru import GRUClassifier, GRUForecaster, GRURegressor

    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 4, 2))
    objs = {
        "GRU": lambda: fastgru.GRU(2, 3, random_state=0),
        "GRURegressor": lambda: GRURegressor(hidden_size=3, max_epochs=1,
                                             random_state=0).fit(X, X[:, -1, 0]),
        "GRUClassifier": lambda: GRUClassifier(
            hidden_size=3, bidirectional=True, dtype="float64", max_epochs=1,
            random_state=0).fit(X, np.where(X[:, -1, 0] > 0, "up", "down")),
        "GRUForecaster": lambda: GRUForecaster(window=4, hidden_size=3, max_epochs=1,
                                               random_state=0).fit(np.sin(np.arange(30.0))),
    }
    fastgru.save(objs[kind](), tmp_path / "a.npz")
    fastgru.save(fastgru.GRU(2, 3, 2, random_state=1), tmp_path / "b.npz")
    valid, other = (tmp_path / "a.npz").read_bytes(), (tmp_path / "b.npz").read_bytes()
    outcomes = {name: _load_outcome(data) for name, data in _damaged(valid, other, rng).items()}
    assert len(outcomes) > 1000

    def clean(name, outcome):  # a splice may keep all of the other file: a GRU
        return outcome in ("ValueError", f"loaded {kind}") or (
            name.startswith("spliced") and outcome == "loaded GRU")

    bad = {k: v for k, v in outcomes.items() if not clean(k, v)}
    assert not bad, dict(list(bad.items())[:20])
    refused = sum(v == "ValueError" for v in outcomes.values())
    assert refused > len(outcomes) // 2, (refused, len(outcomes))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_or_a_folder_is_refused_before_it_is_read(tmp_path):
    import threading

    with pytest.raises(ValueError, match="not a regular file"):
        fastgru.load(tmp_path)
    # a pipe (or a device such as /dev/zero) has no size to bound what is read
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)

    def writer():  # gives a reader that opened the pipe an empty stream, not a wait
        with open(fifo, "wb"):
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    with pytest.raises(ValueError, match="not a regular file"):
        fastgru.load(fifo)
    if thread.is_alive():  # load did not open it: let the writer's open return
        with open(fifo, "rb"):
            pass
    thread.join(5)
    assert not thread.is_alive()
