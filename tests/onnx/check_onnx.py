"""Checks every model of a manifest (tests/onnx/run_ort.js describes it)
with Debian's python3-onnx and python3-opencv:

  - onnx.checker.check_model(model, full_check=True), which runs strict
    shape inference too; the inferred output shape must be the declared
    one, the batch dimension symbolic;
  - IR version at most 8 and the default domain's opset at most 17;
  - metadata_props: traind.model, traind.classes, traind.preprocess,
    traind.features and traind.output present (traind.features equal to
    the case's "features" when it gives them, traind.classes to "classes");
  - OpenCV's dnn (cv2.dnn.readNetFromONNX): a case with "opencv": true must
    load and give traind's predictions (the tolerances of run_ort.js); one
    with "opencv": false must fail to load or to run (docs/onnx.md lists
    them), so that the list stays true.

  /usr/bin/python3 tests/onnx/check_onnx.py MANIFEST.json

Prints a line per model and "N passed, M failed"; exits 1 when any failed.
"""
import json
import sys

import numpy as np
import onnx
import cv2

REQUIRED_META = ("traind.version", "traind.model", "traind.classes", "traind.preprocess",
                 "traind.features", "traind.output")


def within(kind, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if kind == "probabilities":
        return np.abs(got - want) <= 1e-5
    return np.abs(got - want) <= 1e-5 * np.abs(want) + 1e-6


def check_file(c):
    m = onnx.load(c["onnx"])
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version <= 8, "IR version %d" % m.ir_version
    for o in m.opset_import:
        assert o.domain in ("", "ai.onnx") and o.version <= 17, "opset %s %d" % (o.domain, o.version)
    inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    dims = [d.dim_param or d.dim_value for d in out]
    want = ["N"] + c["output_shape"][1:]
    assert dims == want, "output shape %s, want %s" % (dims, want)
    inp = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert inp == ["N"] + c["input_shape"][1:], "input shape %s" % inp
    meta = {p.key: p.value for p in m.metadata_props}
    for k in REQUIRED_META:
        assert k in meta, "no metadata %s" % k
    json.loads(meta["traind.model"])
    if "features" in c:
        assert json.loads(meta["traind.features"]) == c["features"], meta["traind.features"]
    if "classes" in c:
        assert json.loads(meta["traind.classes"]) == c["classes"], meta["traind.classes"]
    assert meta["traind.output"] in ("probabilities", "probability", "values")


def run_opencv(c):
    """None when OpenCV gives traind's outputs, else why not."""
    try:
        net = cv2.dnn.readNetFromONNX(c["onnx"])
        x = np.array([np.nan if v is None else v for v in c["input"]], np.float32)
        net.setInput(x.reshape(c["input_shape"]))
        y = net.forward().astype(np.float64).ravel()
    except cv2.error as e:
        return "OpenCV: " + " ".join(str(e).split())[:200]
    if y.size != len(c["expected"]):
        return "OpenCV gave %d values, want %d" % (y.size, len(c["expected"]))
    ok = within(c["kind"], y, c["expected"])
    if not ok.all():
        i = int(np.argmin(ok))
        return "OpenCV output %d: %g, traind predicted %g" % (i, y[i], c["expected"][i])
    return None


def main():
    cases = json.load(open(sys.argv[1]))
    passed = failed = 0
    for c in cases:
        try:
            check_file(c)
            why = run_opencv(c)
            if c["opencv"] and why:
                raise AssertionError(why)
            if not c["opencv"] and not why:
                raise AssertionError("OpenCV runs it: mark it opencv (and docs/onnx.md)")
            note = "OpenCV matches" if not why else "OpenCV cannot: " + why
            print("ok   %s: checker accepts; %s" % (c["name"], note))
            passed += 1
        except Exception as e:  # every failure is reported, then counted
            print("FAIL %s: %s: %s" % (c["name"], type(e).__name__, e))
            failed += 1
    print("onnx checker and OpenCV: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not cases else 0)


main()
