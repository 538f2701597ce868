#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzing harnesses: tests/fuzz/corpus/NAME/.

Each seed is a small valid input in the harness's own layout (the option
bytes first where the harness reads them; see the header of fuzz_NAME.c).
The output is deterministic (gzip without a time stamp), so running this
again changes no committed file.  Usage: make_corpus.py [OUTDIR]
"""
import gzip
import io
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
EXAMPLES = os.path.join(HERE, "..", "..", "examples")


def gz(data):
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", mtime=0, filename="") as f:
        f.write(data)
    return b.getvalue()


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- CSV: delimiter byte, flags byte, label byte, then the text -------------

def csv_seed(name, text, delim=0, flags=0, label=0):
    put("csv", name, bytes([delim, flags, label]) + text)

csv_seed("classes", b"a,b,label\n1,2,x\n3.5,-4e2,y\n0,0,x\n")
csv_seed("numeric", b"a,b,y\n1,2,0.5\n3,4,1.25\n", flags=2)
csv_seed("int-labels-crlf", b"f1,f2,f3,label\r\n1,2,3,0\r\n4,5,6,1\r\n7,8,9,2\r\n")
csv_seed("quoted", b'"x 1","x, 2",label\n"1",2,"a ""b"""\n3,"4",c\n\n')
csv_seed("semicolon-by-name", b"label;a;b\nx;1;2\ny;3;4\n", delim=ord(";"), label=128)
csv_seed("tab-by-index", b"a\tlabel\tb\n1\tx\t2\n3\ty\t4\n", delim=ord("\t"), label=2)
csv_seed("given-classes", b"a,b,label\n1,2,a\n3,4,c\n", flags=4)
csv_seed("gzip", gz(b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n"))


# --- IDX: flags, u16 length of the images file, images, labels ---------------

IDX_TYPES = {"B": 0x08, "b": 0x09, ">h": 0x0B, ">i": 0x0C, ">f": 0x0D, ">d": 0x0E}


def idx(fmt, shape, values):
    head = bytes([0, 0, IDX_TYPES[fmt], len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return head + b"".join(struct.pack(fmt if fmt[0] == ">" else ">" + fmt, v) for v in values)


def pair_seed(harness, name, x, y, flags=0):
    put(harness, name, bytes([flags]) + struct.pack("<H", len(x)) + x + y)

pair_seed("idx", "u8-images", idx("B", [3, 2, 2], range(12)), idx("B", [3], [0, 1, 2]))
pair_seed("idx", "f32-vectors", idx(">f", [2, 3], [0.5, -1, 2, 3, 4.25, 1e-3]), idx("B", [2], [1, 0]))
pair_seed("idx", "i16-numeric", idx(">h", [2, 2], [-300, 2, 3, 4]), idx(">d", [2], [0.5, 1.5]), flags=2)
pair_seed("idx", "i32-given-classes", idx(">i", [2, 1], [7, -7]), idx("b", [2], [3, 1]), flags=4)
pair_seed("idx", "gzip", gz(idx("B", [2, 2, 2], range(8))), gz(idx("B", [2], [1, 0])))


# --- NPY: the same layout as IDX ---------------------------------------------

def npy(descr, shape, fmt, values, version=1):
    shp = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    lensz = 2 if version == 1 else 4
    pad = (-(6 + 2 + lensz + len(header) + 1)) % 64
    header = (header + " " * pad + "\n").encode()
    pre = b"\x93NUMPY" + bytes([version, 0])
    pre += struct.pack("<H" if version == 1 else "<I", len(header))
    return pre + header + struct.pack(fmt % len(values) if "%" in fmt else fmt, *values)

pair_seed("npy", "f4-i8", npy("<f4", [3, 2], "<%df", [1, 2, 3, 4, 5.5, -6]), npy("<i8", [3], "<%dq", [0, 2, 1]))
pair_seed("npy", "u1-images-v2", npy("|u1", [2, 2, 2], "<%dB", range(8), version=2),
          npy("|u1", [2], "<%dB", [1, 0], version=2))
pair_seed("npy", "f8-targets", npy(">f8", [2, 1], ">%dd", [0.25, 4]), npy("<f4", [2, 2], "<%df", [1, 2, 3, 4]))
pair_seed("npy", "b1-i4-u4", npy("|b1", [2, 3], "<%dB", [1, 0, 1, 0, 0, 1]), npy("<u4", [2], "<%dI", [3, 1]),
          flags=4)
pair_seed("npy", "gzip-v3", gz(npy("<f4", [2, 2], "<%df", [1, 2, 3, 4], version=3)),
          gz(npy("<i4", [2], "<%di", [0, 1])))


# --- safetensors --------------------------------------------------------------

ST_FMT = {"F32": "<%df", "F64": "<%dd", "F16": "<%de", "I64": "<%dq", "I32": "<%di", "U8": "<%dB",
          "BOOL": "<%dB", "I8": "<%db", "I16": "<%dh"}


def safetensors(tensors, meta=None):
    """tensors: [(name, dtype, shape, values)] in order; BF16 values are raw u16."""
    head, data = {}, b""
    if meta is not None:
        head["__metadata__"] = meta
    for name, dtype, shape, values in tensors:
        fmt = "<%dH" if dtype == "BF16" else ST_FMT[dtype]
        b = struct.pack(fmt % len(values), *values)
        head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 8)
    return struct.pack("<Q", len(h)) + h + data


def vals(n, scale=0.1):
    return [((i * 7) % 11 - 5) * scale for i in range(n)]

# the harness's model: input [1, 4, 4] -> conv2d 2x3x3 -> batchnorm -> flatten -> dense 3
MODEL = [("layers.0.weight", "F32", [2, 1, 3, 3], vals(18)),
         ("layers.0.bias", "F32", [2], vals(2)),
         ("layers.1.weight", "F32", [2], [1.0, 1.0]),
         ("layers.1.bias", "F32", [2], [0.0, 0.0]),
         ("layers.1.running_mean", "F32", [2], [0.0, 0.5]),
         ("layers.1.running_var", "F32", [2], [1.0, 2.0]),
         ("layers.1.num_batches_tracked", "F32", [], [3.0]),
         ("layers.3.weight", "F32", [3, 8], vals(24)),
         ("layers.3.bias", "F32", [3], vals(3))]
put("safetensors", "model-f32", safetensors(MODEL, {"format": "pt"}))
# as traind writes it: the definition and a fitted standardization of the 16
# pixels in its metadata (the ONNX exporter reads both)
TRAIND_MODEL = ('{"input":[1,4,4],"layers":[{"type":"conv2d","filters":2,"kernel":3},'
                '{"type":"batchnorm"},{"type":"flatten"},{"type":"dense","units":3}],'
                '"loss":"cross_entropy"}')
TRAIND_PREP = json.dumps({"version": 1, "table": False, "standardize": True, "min_max": False,
                          "missing": {"numeric": "mean", "categorical": "most_frequent"},
                          "n_features": 16,
                          "columns": [{"name": None, "kind": "numeric", "fill": 0.5,
                                       "center": 0.25, "scale": 2.0}] * 16},
                         separators=(",", ":"))
put("safetensors", "model-traind", safetensors(MODEL, {
    "format": "traind", "version": "0.1.0", "model": TRAIND_MODEL, "classes": '["a","b","c"]',
    "preprocess": TRAIND_PREP}))
put("safetensors", "model-f16", safetensors([(n, "F16", s, v) for n, _, s, v in MODEL]))
put("safetensors", "dtypes", safetensors(
    [("f64", "F64", [2], [1.5, -2]), ("bf16", "BF16", [2, 1], [0x3F80, 0xC000]),
     ("i64", "I64", [1], [-3]), ("i32", "I32", [2], [1, 2]), ("i16", "I16", [1], [5]),
     ("i8", "I8", [1], [-1]), ("u8", "U8", [3], [1, 2, 3]), ("bool", "BOOL", [2], [0, 1]),
     ("scalar", "F32", [], [4.0]), ("empty", "F32", [0, 3], [])],
    {"note": "every dtype", "k": "v"}))
put("safetensors", "no-tensors", safetensors([], {}))


# --- jsonlite: limits byte, then the document ----------------------------------

put("jsonlite", "safetensors-header", b"\0" + json.dumps(
    {"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}).encode())
put("jsonlite", "values", b"\0" + b' [null, true, false, 0, -0.5e+3, 12345678901234567890, 1E-2, "",'
    b' "a\\"\\\\\\/\\b\\f\\n\\r\\t", {"k": [[], {}]}] ')
put("jsonlite", "unicode", b"\0" + '{"\\u00e9\\ud83d\\ude00": "caf\u00e9 \u2603 \U0001f600", "nul": "a\\u0000b"}'.encode())
put("jsonlite", "small-limits", bytes([0x23]) + b'{"a": [1, [2, [3]]], "b": {"c": null}}')


# --- spec_json: the examples, and a few more -----------------------------------

for f in sorted(os.listdir(EXAMPLES)):
    if f.endswith(".json"):
        with open(os.path.join(EXAMPLES, f), "rb") as fh:
            put("spec_json", f[:-5], fh.read())
put("spec_json", "every-option", json.dumps({
    "input": [1, 8, 8],
    "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
               {"type": "elu", "alpha": 0.5},
               {"type": "avgpool2d", "size": [2, 2], "stride": [2, 2]},
               {"type": "flatten"},
               {"type": "dense", "units": 5, "activation": "gelu", "use_bias": False, "init": "glorot_normal"},
               {"type": "dropout", "rate": 0.5},
               {"type": "softmax"}],
    "loss": "cross_entropy",
    "training": {"optimizer": {"type": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999},
                 "schedule": {"type": "cosine", "warmup_steps": 10},
                 "epochs": 3, "batch_size": 8, "clip_norm": 1.0, "seed": 3,
                 "early_stopping": {"patience": 2}}}).encode())


# --- dataset_json: flags byte, then the document --------------------------------

put("dataset_json", "classes", b"\0" + b'{"x": [[1, 2], [3, 4], [5, 6]], "y": [0, 1, 0]}')
put("dataset_json", "text-labels", b"\0" + b'{"x": [0.5, 1.5], "y": ["cat", "dog"]}')
put("dataset_json", "targets", b"\x02" + b'{"y": [[0.5, 1], [2, 3]], "x": [[[1], [2]], [[3], [4]]]}')
put("dataset_json", "gzip", b"\x01" + gz(b'{"x": [[1], [2]], "y": [1, 0]}'))


# --- router: METHOD TARGET -------------------------------------------------------

for i, line in enumerate(["GET /v1/jobs/42", "POST /v1/jobs/7/cancel", "GET /v1/jobs?state=queued&limit=5",
                          "POST /v1/datasets?name=iris&label=species&label_kind=class&delimiter=%3B",
                          "DELETE /v1/models/0012", "PUT /healthz", "GET /ui/app.js",
                          "GET /v1/jobs/3/metrics?since=10&max_points=100", "PATCH /v1/jobs/1"]):
    put("router", "%02d" % i, line.encode())


# --- http: raw requests ------------------------------------------------------------

def request(method, target, body=b"", ctype=None, headers=()):
    h = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1"]
    if ctype:
        h.append("Content-Type: " + ctype)
    if body or method in ("POST", "PUT"):
        h.append("Content-Length: %d" % len(body))
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def multipart(parts, boundary="XyZ"):
    out = b""
    for name, filename, data in parts:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()
        out += data + b"\r\n"
    return out + ("--%s--\r\n" % boundary).encode()

put("http", "csv-upload", request("POST", "/v1/datasets?name=toy&label=label", b"a,b,label\n1,2,x\n3,4,y\n",
                                  "text/csv"))
put("http", "csv-options", request("POST", "/v1/datasets?name=t%20b&delimiter=%3B&label_kind=numeric&label=0",
                                   b"y;a\n0.5;1\n1.5;2\n", "text/csv; charset=utf-8"))
put("http", "json-upload", request("POST", "/v1/datasets?label_kind=class",
                                   b'{"x": [[1, 2], [3, 4]], "y": ["a", "b"]}', "application/json"))
put("http", "idx-multipart", request("POST", "/v1/datasets?name=mnist&scale_u8=false", multipart(
    [("x", "images.idx", idx("B", [2, 2, 2], range(8))), ("y", "labels.idx", gz(idx("B", [2], [1, 0])))]),
    "multipart/form-data; boundary=XyZ"))
put("http", "npy-multipart", request("POST", "/v1/datasets", multipart(
    [("x", "x.npy", npy("<f4", [2, 2], "<%df", [1, 2, 3, 4])), ("y", "y.npy", npy("<i8", [2], "<%dq", [0, 1]))]),
    "multipart/form-data; boundary=XyZ"))
with open(os.path.join(EXAMPLES, "xor.json"), "rb") as fh:
    put("http", "model", request("POST", "/v1/models?name=xor", fh.read(), "application/json"))
put("http", "model-dry-run", request("POST", "/v1/models?dry_run=true",
                                     b'{"input": [2], "layers": [{"type": "dense", "units": 1}], "loss": "mse"}',
                                     "application/json"))
put("http", "job", request("POST", "/v1/jobs", b'{"model": 1, "dataset": 1, "training": {"epochs": 1}}',
                           "application/json"))
put("http", "pipelined-gets", request("GET", "/v1/datasets", headers=["X-Request-Id: fuzz-1"]) +
    request("GET", "/v1/models/1") + request("GET", "/v1/jobs?state=queued&limit=2") +
    request("DELETE", "/v1/datasets/1"))
put("http", "health", request("GET", "/healthz", headers=["Connection: close"]))
