#!/usr/bin/python3
"""schema_check.py — checks schema/model.schema.json (JSON Schema 2020-12).

With no arguments: the schema is a valid 2020-12 schema, every
examples/*.json and a list of valid definitions (VALID, below) validate
against it, and a list of invalid definitions (INVALID) is rejected by it.

  --expect-valid FILE     FILE holds a JSON array of definitions that must validate
  --expect-invalid FILE   FILE holds a JSON array of definitions that must not

(tests/server/test_spec_json.c writes such files from its own tables, so the
C parser and the schema are checked against the same documents.)

Paths are relative to the repository root: $TRAIND_SRCDIR, else this file's
parent directory.  Prints one line per failure; exits 1 when any.
"""
import copy
import glob
import json
import os
import sys

from jsonschema import Draft202012Validator

ROOT = os.environ.get("TRAIND_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strict_load(text):
    """json.loads that, like the server, rejects NaN/Infinity and duplicate keys."""
    def no_constant(name):
        raise ValueError("not JSON: " + name)

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError("duplicate key(s): " + ", ".join(sorted(dup)))
        return dict(pairs)

    return json.loads(text, parse_constant=no_constant, object_pairs_hook=no_duplicates)


BASE = {
    "input": [4],
    "layers": [{"type": "dense", "units": 8, "activation": "relu"},
               {"type": "dense", "units": 3}],
    "loss": "cross_entropy",
}


DELETE = object()


def image(*layers):
    """A definition of a [1, 8, 8] image through the given layers."""
    return {"input": [1, 8, 8], "layers": list(layers), "loss": "mse"}


CONV = {"type": "conv2d", "filters": 2, "kernel": 3}


def conv(**options):
    """A conv2d layer: CONV with options added, or removed when DELETE."""
    layer = dict(CONV, **options)
    return {k: v for k, v in layer.items() if v is not DELETE}


def seq(*layers):
    """A definition of a sequence of 5 steps of 3 features through the given layers."""
    return {"input": [5, 3], "layers": list(layers), "loss": "mse"}


def rec(kind, **options):
    """A recurrent layer of 4 units with options added, or removed when DELETE."""
    layer = dict({"type": kind, "units": 4}, **options)
    return {k: v for k, v in layer.items() if v is not DELETE}


def with_(path, value):
    """BASE with the value at path (a list of keys/indices) replaced; value
    DELETE removes the member."""
    doc = copy.deepcopy(BASE)
    if path and path[0] == "training" and "training" not in doc:
        doc["training"] = {}
    node = doc
    for k in path[:-1]:
        if isinstance(node, dict) and k not in node:
            node[k] = {}
        node = node[k]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


# Definitions the schema must reject: (what, document).
INVALID = [
    ("root is an array", []),
    ("unknown top-level key", dict(BASE, extra=1)),
    ("input missing", with_(["input"], DELETE)),
    ("input not an array", with_(["input"], 4)),
    ("input empty", with_(["input"], [])),
    ("input rank 4", with_(["input"], [1, 2, 3, 4])),
    ("input dimension 0", with_(["input"], [0])),
    ("input dimension too big", with_(["input"], [16777217])),
    ("input dimension a string", with_(["input"], ["4"])),
    ("input dimension a boolean", with_(["input"], [True])),
    ("layers missing", with_(["layers"], DELETE)),
    ("layers empty", with_(["layers"], [])),
    ("257 layers", with_(["layers"], [{"type": "relu"}] * 257)),
    ("layer not an object", with_(["layers", 0], "relu")),
    ("layer without type", with_(["layers", 0], {"units": 3})),
    ("unknown layer type", with_(["layers", 0], {"type": "conv3d"})),
    ("layer type in capitals", image(dict(CONV, type="Conv2D"))),
    ("dense without units", with_(["layers", 0], {"type": "dense"})),
    ("dense units 0", with_(["layers", 0, "units"], 0)),
    ("dense units too big", with_(["layers", 0, "units"], 1048577)),
    ("dense units 2.5", with_(["layers", 0, "units"], 2.5)),
    ("dense units a string", with_(["layers", 0, "units"], "8")),
    ("dense unknown key", with_(["layers", 0, "unit"], 8)),
    ("dense with a dropout option", with_(["layers", 0, "rate"], 0.5)),
    ("dense unknown activation", with_(["layers", 0, "activation"], "relux")),
    ("dense activation a number", with_(["layers", 0, "activation"], 3)),
    ("activation object without type", with_(["layers", 0, "activation"], {"alpha": 0.1})),
    ("alpha on relu", with_(["layers", 0, "activation"], {"type": "relu", "alpha": 0.1})),
    ("leaky_relu alpha < 0", with_(["layers", 0, "activation"], {"type": "leaky_relu", "alpha": -1})),
    ("elu alpha 0", with_(["layers", 0, "activation"], {"type": "elu", "alpha": 0})),
    ("use_bias 1", with_(["layers", 0, "use_bias"], 1)),
    ("unknown init", with_(["layers", 0, "init"], "xavier")),
    ("dropout without rate", with_(["layers", 0], {"type": "dropout"})),
    ("dropout rate 1", with_(["layers", 0], {"type": "dropout", "rate": 1})),
    ("dropout rate < 0", with_(["layers", 0], {"type": "dropout", "rate": -0.1})),
    ("dropout with units", with_(["layers", 0], {"type": "dropout", "rate": 0.5, "units": 3})),
    ("relu layer with alpha", with_(["layers", 0], {"type": "relu", "alpha": 0.5})),
    ("relu layer with units", with_(["layers", 0], {"type": "relu", "units": 3})),
    ("leaky_relu layer alpha < 0", with_(["layers", 0], {"type": "leaky_relu", "alpha": -0.5})),
    ("elu layer alpha 0", with_(["layers", 0], {"type": "elu", "alpha": 0})),
    ("activation layer without activation", with_(["layers", 0], {"type": "activation"})),
    ("activation layer with alpha", with_(["layers", 0], {"type": "activation", "activation": "elu", "alpha": 1})),
    ("conv2d without filters", image(conv(filters=DELETE))),
    ("conv2d without kernel", image(conv(kernel=DELETE))),
    ("conv2d filters 0", image(conv(filters=0))),
    ("conv2d filters too big", image(conv(filters=65537))),
    ("conv2d filters a string", image(conv(filters="8"))),
    ("conv2d kernel 0", image(conv(kernel=0))),
    ("conv2d kernel too big", image(conv(kernel=1025))),
    ("conv2d kernel 2.5", image(conv(kernel=2.5))),
    ("conv2d kernel a string", image(conv(kernel="3"))),
    ("conv2d kernel of one", image(conv(kernel=[3]))),
    ("conv2d kernel of three", image(conv(kernel=[3, 3, 3]))),
    ("conv2d kernel [3, 0]", image(conv(kernel=[3, 0]))),
    ("conv2d kernel [3, true]", image(conv(kernel=[3, True]))),
    ("conv2d stride 0", image(conv(stride=0))),
    ("conv2d stride [1, -1]", image(conv(stride=[1, -1]))),
    ("conv2d stride null", image(conv(stride=None))),
    ("conv2d padding full", image(conv(padding="full"))),
    ("conv2d padding SAME", image(conv(padding="SAME"))),
    ("conv2d padding -1", image(conv(padding=-1))),
    ("conv2d padding too big", image(conv(padding=1025))),
    ("conv2d padding [1]", image(conv(padding=[1]))),
    ("conv2d padding [1, -1]", image(conv(padding=[1, -1]))),
    ("conv2d padding true", image(conv(padding=True))),
    ("conv2d same with stride 2", image(conv(padding="same", stride=2))),
    ("conv2d same with stride [1, 2]", image(conv(padding="same", stride=[1, 2]))),
    ("conv2d unknown activation", image(conv(activation="relux"))),
    ("conv2d alpha on relu", image(conv(activation={"type": "relu", "alpha": 0.1}))),
    ("conv2d use_bias 1", image(conv(use_bias=1))),
    ("conv2d unknown init", image(conv(init="kaiming"))),
    ("conv2d with units", image(conv(units=3))),
    ("conv2d with size", image(conv(size=2))),
    ("conv2d with alpha", image(conv(alpha=0.1))),
    ("conv2d unknown key", image(conv(kernel_size=3))),
    ("dense with filters", with_(["layers", 0, "filters"], 8)),
    ("dense with padding", with_(["layers", 0, "padding"], "same")),
    ("relu layer with eps", with_(["layers", 0], {"type": "relu", "eps": 1e-5})),
    ("maxpool2d without size", image({"type": "maxpool2d"})),
    ("maxpool2d size 0", image({"type": "maxpool2d", "size": 0})),
    ("maxpool2d size too big", image({"type": "maxpool2d", "size": 1025})),
    ("avgpool2d size [2, 0]", image({"type": "avgpool2d", "size": [2, 0]})),
    ("avgpool2d size of three", image({"type": "avgpool2d", "size": [2, 2, 2]})),
    ("maxpool2d stride 0", image({"type": "maxpool2d", "size": 2, "stride": 0})),
    ("avgpool2d stride [1]", image({"type": "avgpool2d", "size": 2, "stride": [1]})),
    ("maxpool2d with padding", image({"type": "maxpool2d", "size": 2, "padding": 1})),
    ("maxpool2d with kernel", image({"type": "maxpool2d", "kernel": 2})),
    ("avgpool2d unknown key", image({"type": "avgpool2d", "pool_size": 2})),
    ("global_avgpool with size", image({"type": "global_avgpool", "size": 2})),
    ("flatten with units", image({"type": "flatten", "units": 3})),
    ("flatten unknown key", image({"type": "flatten", "start_dim": 1})),
    ("batchnorm momentum 0", image({"type": "batchnorm", "momentum": 0})),
    ("batchnorm momentum > 1", image({"type": "batchnorm", "momentum": 1.5})),
    ("batchnorm momentum a string", image({"type": "batchnorm", "momentum": "0.1"})),
    ("batchnorm momentum null", image({"type": "batchnorm", "momentum": None})),
    ("batchnorm eps 0", image({"type": "batchnorm", "eps": 0})),
    ("batchnorm eps < 0", image({"type": "batchnorm", "eps": -1e-5})),
    ("batchnorm unknown key", image({"type": "batchnorm", "affine": False})),
    ("batchnorm with rate", image({"type": "batchnorm", "rate": 0.5})),
    ("rnn without units", seq(rec("rnn", units=DELETE))),
    ("lstm without units", seq(rec("lstm", units=DELETE))),
    ("gru without units", seq(rec("gru", units=DELETE, return_sequences=True))),
    ("lstm units 0", seq(rec("lstm", units=0))),
    ("gru units too big", seq(rec("gru", units=65537))),
    ("rnn units 2.5", seq(rec("rnn", units=2.5))),
    ("lstm units a string", seq(rec("lstm", units="8"))),
    ("gru units null", seq(rec("gru", units=None))),
    ("lstm return_sequences 1", seq(rec("lstm", return_sequences=1))),
    ("gru return_sequences a string", seq(rec("gru", return_sequences="true"))),
    ("rnn return_sequences null", seq(rec("rnn", return_sequences=None))),
    ("lstm bptt < 0", seq(rec("lstm", bptt=-1))),
    ("gru bptt too big", seq(rec("gru", bptt=1000001))),
    ("rnn bptt 2.5", seq(rec("rnn", bptt=2.5))),
    ("lstm bptt a string", seq(rec("lstm", bptt="10"))),
    ("gru bptt true", seq(rec("gru", bptt=True))),
    ("rnn use_bias 1", seq(rec("rnn", use_bias=1))),
    ("lstm use_bias null", seq(rec("lstm", use_bias=None))),
    ("rnn activation sigmoid", seq(rec("rnn", activation="sigmoid"))),
    ("rnn activation linear", seq(rec("rnn", activation="linear"))),
    ("rnn activation gelu", seq(rec("rnn", activation="gelu"))),
    ("rnn activation as an object", seq(rec("rnn", activation={"type": "tanh"}))),
    ("rnn activation TANH", seq(rec("rnn", activation="TANH"))),
    ("lstm with activation", seq(rec("lstm", activation="tanh"))),
    ("gru with activation", seq(rec("gru", activation="relu"))),
    ("rnn with init", seq(rec("rnn", init="zeros"))),
    ("lstm with init", seq(rec("lstm", init="default"))),
    ("gru with init", seq(rec("gru", init="he_uniform"))),
    ("lstm with rate", seq(rec("lstm", rate=0.5))),
    ("gru with filters", seq(rec("gru", filters=4))),
    ("rnn with alpha", seq(rec("rnn", alpha=0.1))),
    ("lstm hidden_size", seq(rec("lstm", hidden_size=4))),
    ("lstm num_layers", seq(rec("lstm", num_layers=2))),
    ("gru bidirectional", seq(rec("gru", bidirectional=True))),
    ("lstm dropout", seq(rec("lstm", dropout=0.1))),
    ("rnn nonlinearity", seq(rec("rnn", nonlinearity="relu"))),
    ("dense with return_sequences", with_(["layers", 0, "return_sequences"], True)),
    ("conv2d with bptt", image(conv(bptt=3))),
    ("tanh layer with bptt", seq({"type": "tanh", "bptt": 0})),
    ("flatten with return_sequences", seq({"type": "flatten", "return_sequences": True})),
    ("layer type LSTM", seq(dict(rec("lstm"), type="LSTM"))),
    ("layer type simple_rnn", seq(dict(rec("rnn"), type="simple_rnn"))),
    ("loss missing", with_(["loss"], DELETE)),
    ("unknown loss", with_(["loss"], "hinge")),
    ("training not an object", with_(["training"], [])),
    ("training null", with_(["training"], None)),
    ("training unknown key", with_(["training", "lr"], 0.1)),
    ("unknown optimizer", with_(["training", "optimizer"], "nadam")),
    ("optimizer without type", with_(["training", "optimizer"], {"lr": 0.1})),
    ("beta1 on sgd", with_(["training", "optimizer"], {"type": "sgd", "beta1": 0.9})),
    ("momentum on adam", with_(["training", "optimizer"], {"type": "adam", "momentum": 0.9})),
    ("nesterov on rmsprop", with_(["training", "optimizer"], {"type": "rmsprop", "nesterov": True})),
    ("lr 0", with_(["training", "optimizer"], {"type": "adam", "lr": 0})),
    ("momentum 1", with_(["training", "optimizer"], {"type": "sgd", "momentum": 1})),
    ("nesterov without momentum", with_(["training", "optimizer"], {"type": "sgd", "nesterov": True})),
    ("nesterov with momentum 0", with_(["training", "optimizer"], {"type": "sgd", "momentum": 0, "nesterov": True})),
    ("eps 0", with_(["training", "optimizer"], {"type": "adamw", "eps": 0})),
    ("weight_decay < 0", with_(["training", "optimizer"], {"type": "adam", "weight_decay": -1})),
    ("unknown schedule", with_(["training", "schedule"], "linear")),
    ("gamma on constant", with_(["training", "schedule"], {"type": "constant", "gamma": 0.5})),
    ("step_size on cosine", with_(["training", "schedule"], {"type": "cosine", "step_size": 3})),
    ("step_size 0", with_(["training", "schedule"], {"type": "step", "step_size": 0})),
    ("gamma 0", with_(["training", "schedule"], {"type": "exponential", "gamma": 0})),
    ("gamma > 1", with_(["training", "schedule"], {"type": "step", "gamma": 1.5})),
    ("warmup_steps < 0", with_(["training", "schedule"], {"type": "constant", "warmup_steps": -1})),
    ("clip_norm 0", with_(["training", "clip_norm"], 0)),
    ("batch_size 0", with_(["training", "batch_size"], 0)),
    ("batch_size too big", with_(["training", "batch_size"], 65537)),
    ("epochs 0", with_(["training", "epochs"], 0)),
    ("validation_split 1", with_(["training", "validation_split"], 1)),
    ("seed < 0", with_(["training", "seed"], -1)),
    ("seed >= 2^63", with_(["training", "seed"], 2 ** 63)),
    ("shuffle 0", with_(["training", "shuffle"], 0)),
    ("target_loss a string", with_(["training", "target_loss"], "0.1")),
    ("max_seconds 0", with_(["training", "max_seconds"], 0)),
    ("early_stopping true", with_(["training", "early_stopping"], True)),
    ("unknown monitor", with_(["training", "early_stopping"], {"monitor": "val_acc"})),
    ("patience < 0", with_(["training", "early_stopping"], {"patience": -1})),
    ("early_stopping unknown key", with_(["training", "early_stopping"], {"mode": "min"})),
]


# Definitions the schema must accept, beyond the examples: (what, document).
VALID = [
    ("conv2d, the short form", image(CONV)),
    ("conv2d, every option", image(conv(kernel=[3, 2], stride=[2, 1], padding=[1, 0],
                                        activation={"type": "leaky_relu", "alpha": 0.2},
                                        use_bias=False, init="he_normal"))),
    ("conv2d padding 0", image(conv(padding=0))),
    ("conv2d same", image(conv(padding="same"))),
    ("conv2d same with stride 1", image(conv(padding="same", stride=1))),
    ("conv2d same with stride [1, 1]", image(conv(padding="same", stride=[1, 1]))),
    ("conv2d valid with stride 2", image(conv(padding="valid", stride=2))),
    ("conv2d at the limits", image(conv(filters=65536, kernel=[1024, 1], stride=1024,
                                        padding=[1024, 0]))),
    ("pooling", image({"type": "maxpool2d", "size": 2},
                      {"type": "avgpool2d", "size": [2, 1], "stride": [1, 1]})),
    ("global_avgpool, flatten", image({"type": "global_avgpool"}, {"type": "flatten"})),
    ("batchnorm", image({"type": "batchnorm"}, {"type": "batchnorm", "momentum": 1, "eps": 1})),
    ("rnn, lstm, gru, the short form", seq(rec("rnn"), rec("lstm"), rec("gru"))),
    ("rnn, every option", seq(rec("rnn", activation="relu", return_sequences=True, bptt=3,
                                  use_bias=False))),
    ("rnn, the defaults written out", seq(rec("rnn", activation="tanh", return_sequences=False,
                                              bptt=0, use_bias=True))),
    ("lstm, every option", seq(rec("lstm", return_sequences=True, bptt=1, use_bias=False))),
    ("gru at the limits", seq(rec("gru", units=65536, bptt=1000000))),
    ("stacked, dense per step", seq(rec("lstm", return_sequences=True),
                                    rec("gru", return_sequences=True),
                                    {"type": "dense", "units": 1})),
    ("an LSTM for cross_entropy", dict(seq(rec("lstm", units=128),
                                           {"type": "dense", "units": 10,
                                            "activation": "softmax"}),
                                       loss="cross_entropy")),
    ("a CNN for cross_entropy", dict(image(CONV, {"type": "batchnorm"}, {"type": "relu"},
                                           {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
                                           {"type": "dense", "units": 10}),
                                     loss="cross_entropy")),
]


def first_error(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    return "/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message[:160]


def main(argv):
    with open(os.path.join(ROOT, "schema", "model.schema.json"), encoding="utf-8") as f:
        schema = strict_load(f.read())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    failures = []
    checked = 0

    def expect(what, doc, valid):
        nonlocal checked
        checked += 1
        err = first_error(validator, doc)
        if valid and err:
            failures.append("%s: rejected by the schema: %s" % (what, err))
        elif not valid and not err:
            failures.append("%s: accepted by the schema, but it is invalid" % what)

    if not argv:
        examples = sorted(glob.glob(os.path.join(ROOT, "examples", "*.json")))
        if not examples:
            failures.append("no examples/*.json found under " + ROOT)
        for path in examples:
            try:
                with open(path, encoding="utf-8") as f:
                    doc = strict_load(f.read())
            except ValueError as e:
                failures.append("%s: not JSON: %s" % (path, e))
                continue
            expect(os.path.relpath(path, ROOT), doc, True)
        expect("BASE", BASE, True)
        for what, doc in VALID:
            expect(what, doc, True)
        for what, doc in INVALID:
            expect(what, doc, False)
    while argv:
        if len(argv) < 2 or argv[0] not in ("--expect-valid", "--expect-invalid"):
            print("usage: schema_check.py [--expect-valid FILE] [--expect-invalid FILE]...",
                  file=sys.stderr)
            return 2
        valid = argv[0] == "--expect-valid"
        with open(argv[1], encoding="utf-8") as f:
            docs = strict_load(f.read())
        for i, doc in enumerate(docs):
            expect("%s[%d] %s" % (os.path.basename(argv[1]), i,
                                  json.dumps(doc, separators=(",", ":"))[:200]), doc, valid)
        argv = argv[2:]

    for line in failures:
        print("schema_check: FAIL " + line)
    print("schema_check: %d documents, %d failed" % (checked, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
