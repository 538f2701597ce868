#!/usr/bin/python3
"""st_numpy_check.py — an independent safetensors reader (numpy + json +
struct only) that the C suite uses to check libnn's writer, and a writer of
conversion fixtures for libnn's reader.

  st_numpy_check.py FILE EXPECTED.json
      Reads FILE and compares it with EXPECTED, which is
        {"metadata": {"k": "v", ...},
         "tensors": [{"name": ..., "dtype": "F32", "shape": [...],
                      "data": [flat values, row-major]}, ...]}
      in header order.  Values compare exactly after rounding the expected
      number to the tensor's dtype.  Also checks the writer's layout promises:
      header padded with spaces to a multiple of 8, data offsets contiguous in
      header order and covering the whole data section.  Exit 0 when they
      agree; otherwise prints every difference and exits 1.

  st_numpy_check.py --dump FILE
      Prints FILE as EXPECTED-style JSON.

  st_numpy_check.py --write-conversions FILE
      Writes a file whose tensors pair each source dtype with numpy's own
      float32 (or float64) conversion of it:
        f16      all 65536 binary16 bit patterns,  f16_as_f32
        bf16     all 65536 bfloat16 bit patterns,   bf16_as_f32
        f64      awkward doubles,                   f64_as_f32, f64_as_f64
"""
import json
import struct
import sys

import numpy as np

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),   # numpy has no bfloat16: kept as raw bits
}


def read(path):
    """Returns (header_len, header dict in file order, metadata, tensors)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("header length %d past end of file" % n)
    text = raw[8:8 + n].decode("utf-8")
    pairs = json.loads(text, object_pairs_hook=lambda p: p)
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("duplicate names")
    data = raw[8 + n:]
    meta = {}
    tensors = []
    for name, info in pairs:
        if name == "__metadata__":
            meta = dict(info)
            continue
        info = dict(info)
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("%s: keys %s" % (name, sorted(info)))
        dt = DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != count * dt.itemsize or not 0 <= b <= e <= len(data):
            raise ValueError("%s: bad offsets %r for shape %r" % (name, (b, e), shape))
        arr = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
        tensors.append({"name": name, "dtype": info["dtype"], "shape": list(shape),
                        "offsets": (b, e), "array": arr})
    return n, text, meta, tensors, len(data)


def as_float(t):
    """A tensor's values as float64 (BF16 decoded from its bits)."""
    a = t["array"]
    if t["dtype"] == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float64).ravel()


def check(path, expected_path):
    with open(expected_path) as f:
        want = json.load(f)
    errors = []
    try:
        n, text, meta, tensors, data_len = read(path)
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        print("st_numpy_check: cannot read %s: %s" % (path, e))
        return 1
    if (8 + n) % 8:
        errors.append("header length %d: 8 + N is not a multiple of 8" % n)
    stripped = text.rstrip(" ")
    if stripped != text.strip() or len(text) - len(stripped) >= 8:
        errors.append("header padding is not 0..7 trailing spaces")
    if meta != want.get("metadata", {}):
        errors.append("metadata %r != expected %r" % (meta, want.get("metadata", {})))
    if [t["name"] for t in tensors] != [t["name"] for t in want["tensors"]]:
        errors.append("names %r != expected %r" % ([t["name"] for t in tensors],
                                                   [t["name"] for t in want["tensors"]]))
    at = 0
    for t in tensors:
        if t["offsets"][0] != at:
            errors.append("%s: begins at %d, expected %d (contiguous)" % (t["name"], t["offsets"][0], at))
        at = t["offsets"][1]
    if at != data_len:
        errors.append("tensors end at %d but data section has %d bytes" % (at, data_len))
    for t, w in zip(tensors, want["tensors"]):
        name = t["name"]
        if t["dtype"] != w["dtype"]:
            errors.append("%s: dtype %s != expected %s" % (name, t["dtype"], w["dtype"]))
            continue
        if t["shape"] != w["shape"]:
            errors.append("%s: shape %r != expected %r" % (name, t["shape"], w["shape"]))
            continue
        got = t["array"].ravel()
        exp = np.array(w["data"], dtype=np.float64).astype(DTYPES[t["dtype"]])
        if got.shape != exp.shape:
            errors.append("%s: %d values, expected %d" % (name, got.size, exp.size))
            continue
        # Bytewise, so that -0.0 and NaN payloads count too.
        width = got.dtype.itemsize
        gb, eb = got.tobytes(), exp.tobytes()
        bad = [i for i in range(got.size) if gb[i * width:(i + 1) * width] != eb[i * width:(i + 1) * width]]
        for i in bad[:10]:
            errors.append("%s[%d]: %r != expected %r" % (name, i, got[i], exp[i]))
    for e in errors:
        print("st_numpy_check: " + e)
    return 1 if errors else 0


def dump(path):
    _, _, meta, tensors, _ = read(path)
    out = {"metadata": meta, "tensors": [
        {"name": t["name"], "dtype": t["dtype"], "shape": t["shape"],
         "data": [float(x) for x in as_float(t)]} for t in tensors]}
    print(json.dumps(out))
    return 0


def write(path, tensors):
    """tensors: list of (name, dtype name, numpy array already in that dtype)."""
    header = {}
    blobs = []
    at = 0
    for name, dt, arr in tensors:
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_conversions(path):
    bits = np.arange(65536, dtype=np.uint32)
    f16 = bits.astype(np.uint16).view("<f2")
    bf16 = bits.astype(np.uint16)
    bf16_f32 = (bits << 16).view(np.float32)
    f64 = np.array([0.0, -0.0, 1.0, -1.5, 1e-300, 5e-324, 1e300, -1e300, np.inf, -np.inf,
                    np.nan, 0.1, 1 / 3, 3.4028234663852886e38, 3.4028235677973366e38,
                    1.401298464324817e-45, 7e-46, 2.0 ** -149 * 1.5, 16777217.0],
                   dtype="<f8")
    with np.errstate(over="ignore"):
        f64_f32 = f64.astype(np.float32)
    write(path, [
        ("f16", "F16", f16.reshape(256, 256)),
        ("f16_as_f32", "F32", f16.astype("<f4").reshape(256, 256)),
        ("bf16", "BF16", bf16.reshape(256, 256)),
        ("bf16_as_f32", "F32", bf16_f32.astype("<f4").reshape(256, 256)),
        ("f64", "F64", f64),
        ("f64_as_f32", "F32", f64_f32.astype("<f4")),
        ("f64_as_f64", "F64", f64),
    ])
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--dump":
        return dump(argv[2])
    if len(argv) == 3 and argv[1] == "--write-conversions":
        return write_conversions(argv[2])
    if len(argv) == 3:
        return check(argv[1], argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
