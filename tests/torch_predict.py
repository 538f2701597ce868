#!/usr/bin/python3
"""Loads traind's exported weights into the equivalent PyTorch network and
prints its predictions, so that a test can compare them with traind's own
POST /v1/jobs/{id}/predict.

    /usr/bin/python3 tests/torch_predict.py MODEL.json WEIGHTS.safetensors INSTANCES

MODEL.json is a model definition (docs/model.md), or any JSON object holding
one under "definition" (the answer of GET /v1/models/{id} or of a job).
WEIGHTS is what GET /v1/jobs/{id}/weights returns.  INSTANCES is a JSON file
(the body of a predict request, {"instances": [...]}, or a bare array) or an
NPY file of float32/float64 samples; each instance has the model's input
shape, nested or flat.

The network is an nn.Module whose `layers` ModuleList is indexed like the
definition's layers, so traind's tensor names ("layers.<i>.<tensor>") are
its state_dict keys as they are; loading is strict (a name or shape that
does not match is an error).  A layer with a fused activation ("activation"
on dense and conv2d) is one module whose activation has no state, so it
keeps one index.  The output is printed as JSON in the form of traind's
predict answer, probabilities for classifiers (the loss's softmax or sigmoid,
applied once whether the last layer already ends in it or gives logits):

    {"predictions": [{"class_index": 9, "probabilities": [...]}, ...]}

Layers are built by the functions in BUILDERS, one per layer type, each
taking the layer's JSON object and its input shape (without the batch) and
returning the module and its output shape; a new layer type is one more
entry.  A recurrent layer (rnn, lstm, gru) is a one-layer nn.RNN / nn.LSTM /
nn.GRU with batch_first=True, whose state_dict keys are PyTorch's
weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0; its forward returns the
output sequence [B, T, units] (return_sequences) or the last step's output
[B, units] instead of the (output, state) tuple.  A dense layer after a
sequence applies to every step (nn.Linear on [B, T, F]).

A sequence classifier (an output [T, C] under cross_entropy) gets one
prediction per instance whose "class_index" is a list of T classes and
whose "probabilities" are [T][C], as traind answers; a regression output is
nested in the output's shape ([T][k] for a sequence).

Exits with a non-zero status and a message naming the problem when torch
cannot be imported or the input does not fit.
"""
import json
import math
import struct
import sys

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as exc:  # the caller's test must fail, not skip
    sys.exit("torch_predict.py: cannot import %s (%s); install python3-torch and "
             "python3-numpy (make deps)" % (getattr(exc, "name", "torch"), exc))


def fail(msg):
    sys.exit("torch_predict.py: " + msg)


# ---------------------------------------------------------------------------
# safetensors: u64 little-endian header length N, N bytes of JSON, the data.

ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
             "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        fail("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail("%s: header length %d past the end of the file (%d bytes)" % (path, n, len(raw)))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = ST_DTYPES.get(info["dtype"])
        if dtype is None:
            fail("%s: tensor %s: unsupported dtype %s" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(dtype).newbyteorder("<"))
        if arr.size != math.prod(shape):
            fail("%s: tensor %s: %d values for shape %s" % (path, name, arr.size, list(shape)))
        tensors[name] = torch.from_numpy(arr.reshape(shape).copy())
    return tensors


# ---------------------------------------------------------------------------
# Activations: a name, or {"type": name, "alpha": a}.

def activation(spec):
    if isinstance(spec, dict):
        kind, alpha = spec["type"], spec.get("alpha")
    else:
        kind, alpha = spec, None
    if kind == "linear":
        return nn.Identity()
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.01 if alpha is None else alpha)
    if kind == "elu":
        return nn.ELU(1.0 if alpha is None else alpha)
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "softmax":
        return nn.Softmax(dim=-1)
    if kind == "gelu":
        return nn.GELU()   # the exact (erf) form, as traind's
    fail("unknown activation %r" % (kind,))


def act_name(spec):
    return spec["type"] if isinstance(spec, dict) else spec


def pair(v):
    return (v, v) if isinstance(v, int) else (v[0], v[1])


# ---------------------------------------------------------------------------
# Modules whose state_dict keys are traind's: the fused activation is a
# stateless child, so "weight" and "bias" stay at the top of the layer.

class Dense(nn.Linear):
    def __init__(self, inputs, units, bias, act):
        super().__init__(inputs, units, bias=bias)
        self.act = act

    def forward(self, x):   # x:(B, in) or (B, T, in) -> (B, units) or (B, T, units)
        return self.act(super().forward(x))


class Conv(nn.Conv2d):
    def __init__(self, act, **kw):
        super().__init__(**kw)
        self.act = act

    def forward(self, x):   # x:(B, C, H, W) -> (B, filters, H', W')
        return self.act(super().forward(x))


class BatchNormSeq(nn.BatchNorm1d):
    """traind normalizes [time, features] per feature (the last dimension);
    BatchNorm1d wants the features second."""

    def forward(self, x):   # x:(B, T, F)
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class SequenceOutput:
    """Mixed into nn.RNN / nn.LSTM / nn.GRU (one layer, batch_first): their
    parameters stay at the top of the layer (layers.<i>.weight_ih_l0), and
    forward gives a tensor, the whole output sequence or its last step,
    instead of the (output, state) tuple."""

    def __init__(self, return_sequences, **kw):
        super().__init__(batch_first=True, num_layers=1, **kw)
        self.return_sequences = return_sequences

    def forward(self, x):   # x:(B, T, F) -> (B, T, units) or (B, units)
        out, _ = super().forward(x)
        return out if self.return_sequences else out[:, -1]


class RNN(SequenceOutput, nn.RNN):
    pass


class LSTM(SequenceOutput, nn.LSTM):
    pass


class GRU(SequenceOutput, nn.GRU):
    pass


class GlobalAvgPool(nn.Module):
    def forward(self, x):   # x:(B, C, H, W) -> (B, C)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def need_image(layer, shape, i):
    if len(shape) != 3:
        fail("layer %d (%s) needs an image [C, H, W], got %s" % (i, layer["type"], list(shape)))


def build_dense(layer, shape, i):
    units = layer["units"]
    mod = Dense(shape[-1], units, layer.get("use_bias", True),
                activation(layer.get("activation", "linear")))
    return mod, shape[:-1] + [units]


def conv_out(n, k, s, p_before, p_after):
    return (n + p_before + p_after - k) // s + 1


def build_conv2d(layer, shape, i):
    need_image(layer, shape, i)
    c, h, w = shape
    kh, kw = pair(layer["kernel"])
    sh, sw = pair(layer.get("stride", 1))
    pad = layer.get("padding", "valid")
    if pad == "valid":
        padding, (ph0, ph1, pw0, pw1) = 0, (0, 0, 0, 0)
    elif pad == "same":
        # torch puts an even kernel's extra row/column after, as traind
        padding = "same"
        ph0, pw0 = (kh - 1) // 2, (kw - 1) // 2
        ph1, pw1 = kh - 1 - ph0, kw - 1 - pw0
    else:
        padding = pair(pad)
        ph0 = ph1 = padding[0]
        pw0 = pw1 = padding[1]
    mod = Conv(activation(layer.get("activation", "linear")), in_channels=c,
               out_channels=layer["filters"], kernel_size=(kh, kw), stride=(sh, sw),
               padding=padding, bias=layer.get("use_bias", True))
    return mod, [layer["filters"], conv_out(h, kh, sh, ph0, ph1), conv_out(w, kw, sw, pw0, pw1)]


def build_pool(layer, shape, i):
    need_image(layer, shape, i)
    size = pair(layer["size"])
    stride = pair(layer.get("stride", layer["size"]))
    cls = nn.MaxPool2d if layer["type"] == "maxpool2d" else nn.AvgPool2d
    c, h, w = shape
    return cls(size, stride), [c, (h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1]


RECURRENT = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def build_recurrent(layer, shape, i):
    if len(shape) != 2:
        fail("layer %d (%s) needs a sequence [time, features], got %s"
             % (i, layer["type"], list(shape)))
    t, f = shape
    units = layer["units"]
    seq = layer.get("return_sequences", False)
    kw = dict(input_size=f, hidden_size=units, bias=layer.get("use_bias", True))
    if layer["type"] == "rnn":
        kw["nonlinearity"] = act_name(layer.get("activation", "tanh"))
    mod = RECURRENT[layer["type"]](seq, **kw)
    return mod, [t, units] if seq else [units]


def build_global_avgpool(layer, shape, i):
    need_image(layer, shape, i)
    return GlobalAvgPool(), shape[:1]


def build_batchnorm(layer, shape, i):
    kw = dict(eps=layer.get("eps", 1e-5), momentum=layer.get("momentum", 0.1))
    if len(shape) == 3:
        return nn.BatchNorm2d(shape[0], **kw), shape
    if len(shape) == 2:
        return BatchNormSeq(shape[1], **kw), shape
    return nn.BatchNorm1d(shape[0], **kw), shape


def build_flatten(layer, shape, i):
    return nn.Flatten(), [math.prod(shape)]


def build_dropout(layer, shape, i):
    return nn.Dropout(layer["rate"]), shape


def build_activation(layer, shape, i):
    if layer["type"] == "activation":
        return activation(layer["activation"]), shape
    return activation(layer), shape


BUILDERS = {
    "dense": build_dense,
    "conv2d": build_conv2d,
    "maxpool2d": build_pool,
    "avgpool2d": build_pool,
    "global_avgpool": build_global_avgpool,
    "rnn": build_recurrent,
    "lstm": build_recurrent,
    "gru": build_recurrent,
    "batchnorm": build_batchnorm,
    "flatten": build_flatten,
    "dropout": build_dropout,
    "activation": build_activation,
}
for _name in ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "gelu"):
    BUILDERS[_name] = build_activation


def last_activation(layer):
    """The activation the last layer ends in ("linear" when none)."""
    t = layer["type"]
    if t in ("dense", "conv2d"):
        return act_name(layer.get("activation", "linear"))
    if t == "activation":
        return act_name(layer["activation"])
    if t in BUILDERS and BUILDERS[t] is build_activation:
        return t
    return "linear"


class Network(nn.Module):
    def __init__(self, definition):
        super().__init__()
        self.input = list(definition["input"])
        self.loss = definition["loss"]
        shape = list(self.input)
        mods = []
        for i, layer in enumerate(definition["layers"]):
            build = BUILDERS.get(layer["type"])
            if build is None:
                fail("layer %d: no PyTorch equivalent for type %r" % (i, layer["type"]))
            try:
                mod, shape = build(layer, shape, i)
            except KeyError as exc:
                fail("layer %d (%s): missing %s" % (i, layer["type"], exc))
            mods.append(mod)
        self.layers = nn.ModuleList(mods)
        self.out_shape = shape
        # the loss's fused function, applied when the network gives logits
        fused = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(self.loss)
        ends_in = last_activation(definition["layers"][-1])
        self.final = None
        if fused and ends_in == "linear":
            self.final = nn.Softmax(dim=-1) if fused == "softmax" else nn.Sigmoid()

    def forward(self, x):
        for mod in self.layers:
            x = mod(x)
        return self.final(x) if self.final is not None else x


# ---------------------------------------------------------------------------

def load_instances(path, in_shape):
    if path.endswith(".npy"):
        x = np.load(path, allow_pickle=False).astype(np.float32)
    else:
        with open(path) as f:
            doc = json.load(f)
        if isinstance(doc, dict):
            doc = doc["instances"]
        x = np.asarray(doc, dtype=np.float32)
    per = math.prod(in_shape)
    if x.size % per or x.size == 0:
        fail("%s: %d values are not a whole number of instances of shape %s"
             % (path, x.size, in_shape))
    return torch.from_numpy(x.reshape([-1] + list(in_shape)))


def predictions(net, y):
    """traind's predict answer: per sample for an output [C] (or [1] under
    binary_cross_entropy), per step (lists over T) for a sequence [T, C]."""
    y = y.detach().numpy().astype(np.float64)
    shape, cols = net.out_shape, net.out_shape[-1]
    per_step = len(shape) > 1
    rows = y.reshape(len(y), -1, cols)   # (B, T, C); T = 1 for an output [C]
    if net.loss == "cross_entropy":
        out = [{"class_index": p.argmax(-1).tolist(), "probabilities": p.tolist()} for p in rows]
    elif net.loss == "binary_cross_entropy" and cols == 1:
        out = [{"class_index": (p[:, 0] > 0.5).astype(int).tolist(),
                "probability": p[:, 0].tolist()} for p in rows]
    else:
        return y.reshape([len(y)] + list(shape)).tolist()
    if not per_step:
        for p in out:
            for k in p:
                p[k] = p[k][0]
    return out


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    with open(argv[1]) as f:
        definition = json.load(f)
    if "definition" in definition:
        definition = definition["definition"]
    torch.set_num_threads(1)
    net = Network(definition)
    try:
        net.load_state_dict(read_safetensors(argv[2]), strict=True)
    except RuntimeError as exc:
        fail("%s does not fit the definition: %s" % (argv[2], exc))
    net.eval()
    x = load_instances(argv[3], net.input)
    with torch.no_grad():
        y = net(x)
    json.dump({"predictions": predictions(net, y), "torch": torch.__version__}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
