"""What the PyTorch peer (tools/torch_peer.py) shares with evonet's C side, format by format:

  network description JSON  (include/evonet/net.h, src/nn/net_spec.c, net_shape.c)
  the paper's saliency net  (src/nn/arch_saliency.c), He init (src/nn/weights.c)
  network files             (include/evonet/weights.h, src/nn/weights_io.c)
  datasets and samples      (include/evonet/data.h, src/data/*.c; classification sets:
                             src/data/classes*.c)
  metrics                   (include/evonet/metrics.h, src/report/metrics.c,
                             src/report/class_metrics.c)

Where the C side is deterministic the Python side is meant to give the same numbers: the
architecture JSON is byte-identical to ev_net_to_json, He init and the metrics agree
exactly, the epoch order, crop/flip draws and the bilinear resampling follow the same
float32 arithmetic, and both decode JPEG with libjpeg-turbo, so the batches are identical;
the classification sets' splits, statistics, shifts/flips and normalised samples are identical
bit for bit. tests/test_torch_peer.sh and tests/test_torch_peer_classes.sh check it all
against libevonet.a.

Runs under Debian's /usr/bin/python3 (torch, numpy, PIL).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_torch  # noqa: E402  (the spec-following safetensors reader/writer)

META_ARCH = "evonet.architecture"
OPS = ("conv", "deconv", "fc", "maxpool", "avgpool", "gap", "upsample", "concat", "add")
WEIGHT_OPS = ("conv", "deconv", "fc")  # layers with weights (fc: a conv whose kernel covers its input)
NAME_LEN = 32  # EV_NAME_LEN (names are shorter than this)
MAX_IN = 4     # EV_NET_MAX_IN
U64 = (1 << 64) - 1


class PeerError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def bench_device(name):
    """(device, sync) for timing on `name` ("cpu" or "cuda"): on CUDA true fp32 as evonet
    computes (TF32 off), cuDNN's fastest algorithm per shape (benchmark mode), and sync()
    waits for the GPU; on the CPU sync() does nothing."""
    dev = torch.device(name)
    if dev.type != "cuda":
        return dev, lambda: None
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return dev, torch.cuda.synchronize


# ---------------------------------------------------------------- network description
def _layer(name, op, inputs, **kw):
    d = {"name": name, "op": op, "in": list(inputs)}
    d.update(kw)
    return d


def saliency_vgg(width, bn=False):
    """The paper's ancestor at a width multiplier: the layer list ev_net_saliency_vgg builds
    (same names, order, kernel sizes, channel rounding), as a JSON-ready dict."""
    if not (0 < width <= 4):
        raise PeerError(f"width multiplier {width:g} must be in (0, 4]")

    def C(x):
        return int(max(1.0, math.floor(x * width + 0.5)))

    layers = []

    def conv(name, src, out, k, dil=1, relu=True):
        layers.append(_layer(name, "conv", [src], out=out, k=k, stride=1, pad=dil * (k - 1) // 2,
                             dil=dil, relu=relu, bn=bn and relu))
        return name

    def deconv(name, src, out, k, stride):
        layers.append(_layer(name, "deconv", [src], out=out, k=k, stride=stride,
                             pad=(k - stride) // 2, dil=1, out_pad=0, relu=True, bn=bn))
        return name

    x, ends = "input", []
    for s, (n, c) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512))):
        if s > 0:
            layers.append(_layer(f"pool{s}", "maxpool", [x], k=2, stride=2, pad=0))
            x = f"pool{s}"
        for j in range(n):
            x = conv(f"c{s + 1}_{j + 1}", x, C(c), 3)
        ends.append(x)
    c6 = conv("c6", ends[2], C(256), 3)
    c7 = conv("c7", ends[3], C(512), 3)
    c8 = conv("c8", ends[4], C(512), 3)
    d1 = deconv("d1", c7, C(256), 4, 2)
    d2 = deconv("d2", c8, C(256), 8, 4)
    layers.append(_layer("cat9", "concat", [c6, d1, d2]))
    c9 = conv("c9", "cat9", C(384), 3)
    c10 = conv("c10_2", conv("c10_1", ends[4], C(512), 7), C(384), 3)
    c11 = conv("c11_2", conv("c11_1", ends[4], C(512), 7, dil=2), C(384), 3, dil=2)
    s9 = conv("s9", c9, 2, 1, relu=False)
    s10 = conv("s10", c10, 2, 1, relu=False)
    s11 = conv("s11", c11, 2, 1, relu=False)
    layers.append(_layer("u10", "upsample", [s10], like=c9))
    layers.append(_layer("u11", "upsample", [s11], like=c9))
    layers.append(_layer("fuse", "add", [s9, "u10", "u11"]))
    layers.append(_layer("score", "upsample", ["fuse"], like="input"))
    return normalize_arch({"input": {"channels": 3}, "classes": 2, "layers": layers, "output": "score"})


ACTS = ("none", "relu", "leaky_relu", "tanh")


def _normalize_act(name, o):
    """The activation keys of layer o as ev_net_to_json writes them (evonet/ops/act.h): a ReLU
    as "relu": true, leaky_relu and tanh as "act" (leaky_relu with "alpha", the float32 value
    in its shortest decimal), none as nothing; "act" wins over the legacy "relu": true."""
    kind = "relu" if o.get("relu") is True else "none"
    if "act" in o:
        if o["act"] not in ACTS:
            raise PeerError(f"layer {name}: 'act' must be \"relu\", \"leaky_relu\", \"tanh\" or \"none\"")
        kind = o["act"]
    alpha = 0.01
    if "alpha" in o:
        if kind != "leaky_relu":
            raise PeerError(f"layer {name}: 'alpha' is the slope of \"act\": \"leaky_relu\" only")
        a = o["alpha"]
        ok = isinstance(a, (int, float)) and not isinstance(a, bool) and 0 < a <= np.finfo(np.float32).max
        if not ok or np.float32(a) <= 0:
            raise PeerError(f"layer {name}: 'alpha' must be a finite number > 0")
        alpha = a
    if kind == "relu":
        return {"relu": True}
    if kind == "tanh":
        return {"act": "tanh"}
    if kind == "leaky_relu":
        return {"act": "leaky_relu", "alpha": float(str(np.float32(alpha)))}
    return {}


def act_kind(L):
    """The activation of a normalized layer: one of ACTS."""
    return "relu" if L.get("relu") else L.get("act", "none")


def apply_act(L, y):
    """The layer's activation (F.relu, F.leaky_relu(alpha), torch.tanh) on y."""
    kind = act_kind(L)
    if kind == "relu":
        return F.relu(y)
    if kind == "leaky_relu":
        return F.leaky_relu(y, L.get("alpha", 0.01))
    if kind == "tanh":
        return torch.tanh(y)
    return y


def act_gain2(L):
    """The squared init gain of ev_weights_init_he (PyTorch's calculate_gain)."""
    kind = act_kind(L)
    if kind == "relu":
        return 2.0
    if kind == "leaky_relu":
        a = float(np.float32(L.get("alpha", 0.01)))
        return 2.0 / (1.0 + a * a)
    if kind == "tanh":
        return 25.0 / 9.0
    return 1.0


def normalize_arch(a):
    """Checks a description the way ev_net_from_json does (PeerError naming the layer) and
    returns it in ev_net_to_json's form: defaults filled in, only the keys that op prints
    ("act" folded into "relu", fc layers' k found from the input size)."""
    if not isinstance(a, dict) or not isinstance(a.get("layers"), list) or not a["layers"] \
            or not isinstance(a.get("input"), dict) or not isinstance(a.get("output"), str):
        raise PeerError("network description needs 'input', 'layers' and 'output'")

    def num(o, key, dflt):
        v = o.get(key, dflt)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else dflt

    cin, classes = num(a["input"], "channels", 0), num(a, "classes", 2)
    if cin < 1 or classes < 1:
        raise PeerError("network description has bad input channels or classes")
    task = a.get("task", "saliency")
    if task not in ("saliency", "classification"):
        raise PeerError("network description: 'task' must be \"saliency\" or \"classification\"")
    in_size = num(a["input"], "size", 0)
    if in_size < 0:
        raise PeerError("network description: the input size must be a whole number from 1 on")
    seen, out_layers = set(), []
    for idx, o in enumerate(a["layers"]):
        if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not isinstance(o.get("op"), str):
            raise PeerError(f"network layer {idx} has no name or op")
        name, op = o["name"], o["op"]
        if len(name.encode()) >= NAME_LEN or name == "input":
            raise PeerError(f"network layer {idx}: bad name '{name}'")
        if name in seen:
            raise PeerError(f"network layer name '{name}' is used twice")
        if op not in OPS:
            raise PeerError(f"layer {name}: unknown op '{op}' (expected conv, deconv, fc, maxpool, avgpool, gap, "
                            "upsample, concat or add)")
        ins = o.get("in")
        if not isinstance(ins, list) or not 1 <= len(ins) <= MAX_IN:
            raise PeerError(f"layer {name}: 'in' must list 1 to {MAX_IN} layers")
        for i in ins:
            if not isinstance(i, str):
                raise PeerError(f"layer {name}: bad input name")
            if i != "input" and i not in seen:
                raise PeerError(f"layer {name}: input '{i}' is not an earlier layer")
        L = {"name": name, "op": op, "in": list(ins)}
        full = op in ("fc", "gap")
        out, k, stride = num(o, "out", 0), num(o, "k", 0 if full else 1), num(o, "stride", 1)
        pad, dil, out_pad = num(o, "pad", 0), num(o, "dil", 1), num(o, "out_pad", 0)
        if full:  # the window is the whole input
            stride, pad, dil = 1, 0, 1
        is_conv = op in WEIGHT_OPS
        if is_conv and (out < 1 or (k < 1 and not full) or stride < 1 or pad < 0 or dil < 1 or len(ins) != 1):
            raise PeerError(f"layer {name}: bad {'fully connected' if full else 'convolution'} parameters")
        pool = op in ("maxpool", "avgpool", "gap")
        if pool and not full and (k < 1 or stride < 1 or pad < 0 or 2 * pad > k or len(ins) != 1):
            raise PeerError(f"layer {name}: bad pooling parameters")
        if pool and len(ins) != 1:
            raise PeerError(f"layer {name}: pooling takes one input")
        if op == "deconv" and (out_pad < 0 or (out_pad >= stride and out_pad >= dil)):
            raise PeerError(f"layer {name}: output padding must be smaller than stride or dilation")
        if is_conv:
            L["out"] = out
        if op == "fc":
            L["k"] = k  # the input side its weights were made for (0: found below)
        elif op in ("conv", "deconv", "maxpool", "avgpool"):
            L.update(k=k, stride=stride, pad=pad)
        if op in ("conv", "deconv"):
            L["dil"] = dil
        if op == "deconv":
            L["out_pad"] = out_pad
        L.update(_normalize_act(name, o))
        if o.get("bn") is True:
            L["bn"] = True
        if op == "upsample":
            like = o.get("like")
            if not isinstance(like, str):
                raise PeerError(f"layer {name}: upsample needs 'like'")
            if like != "input" and like not in seen:
                raise PeerError(f"layer {name}: 'like' must name an earlier layer or input")
            L["like"] = like
        seen.add(name)
        out_layers.append(L)
    if a["output"] not in seen:
        raise PeerError(f"network output '{a['output']}' is not a layer")
    inp = {"channels": cin}
    if in_size:
        inp["size"] = in_size
    r = {"input": inp, "classes": classes}
    if task == "classification":
        r["task"] = "classification"
    r.update(layers=out_layers, output=a["output"])
    # fc layers without k: k = 1 behind a layer that is 1x1 at any input size (gap, fc, their
    # sums and concatenations); otherwise their input size follows from the network's
    by_name = {L["name"]: L for L in out_layers}

    def one_by_one(name):
        L = by_name.get(name)
        if L is None:
            return False
        if L["op"] in ("fc", "gap"):
            return True
        return L["op"] in ("add", "concat") and all(one_by_one(i) for i in L["in"])

    for L in out_layers:
        if L["op"] == "fc" and L["k"] < 1 and one_by_one(L["in"][0]):
            L["k"] = 1
    for L in out_layers:
        if L["op"] == "fc" and L["k"] < 1:
            if in_size < 1:
                raise PeerError(f"layer {L['name']}: a fully connected layer needs the input size "
                                "(\"input\": {\"size\": S})")
            infer_shapes(r, in_size, in_size)
            break
    return r


def is_classifier(a):
    return a.get("task") == "classification"


def arch_json(a):
    """Compact JSON text, byte-identical to ev_net_to_json (cJSON_PrintUnformatted)."""
    return json.dumps(a, separators=(",", ":"))


def conv_out(n, k, stride, pad, dil):
    return (n + 2 * pad - dil * (k - 1) - 1) // stride + 1


def deconv_out(n, k, stride, pad, dil, out_pad):
    return (n - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1


def infer_shapes(a, h, w):
    """{layer name: (c, h, w)} for an h×w input, with ev_net_infer's checks and messages. An fc
    layer without k gets the side of its input (as ev_net_infer sets it)."""
    shp = {"input": (a["input"]["channels"], h, w)}
    for L in a["layers"]:
        ins = [shp[i] for i in L["in"]]
        c0, h0, w0 = ins[0]
        op = L["op"]
        if op in ("fc", "gap"):
            what = "fully connected" if op == "fc" else "global pooling"
            if h0 != w0:
                raise PeerError(f"layer {L['name']}: a {what} layer needs a square input, got {h0}x{w0} at input {h}x{w}")
            if op == "fc" and L["k"] > 0 and L["k"] != h0:
                raise PeerError(f"layer {L['name']}: its weights take a {L['k']}x{L['k']} input, got {h0}x{w0} at "
                                f"input {h}x{w} (the network is made for another input size)")
            if op == "fc":
                L["k"] = h0
            s = (L["out"] if op == "fc" else c0, 1, 1)
        elif op == "conv":
            s = (L["out"], conv_out(h0, L["k"], L["stride"], L["pad"], L["dil"]),
                 conv_out(w0, L["k"], L["stride"], L["pad"], L["dil"]))
        elif op == "deconv":
            s = (L["out"], deconv_out(h0, L["k"], L["stride"], L["pad"], L["dil"], L["out_pad"]),
                 deconv_out(w0, L["k"], L["stride"], L["pad"], L["dil"], L["out_pad"]))
        elif op in ("maxpool", "avgpool"):
            s = (c0, conv_out(h0, L["k"], L["stride"], L["pad"], 1), conv_out(w0, L["k"], L["stride"], L["pad"], 1))
        elif op == "upsample":
            s = (c0,) + shp[L["like"]][1:]
        else:  # concat, add
            for c, hh, ww in ins:
                if (hh, ww) != (h0, w0):
                    raise PeerError(f"layer {L['name']}: inputs of different sizes ({h0}x{w0} vs {hh}x{ww}) "
                                    f"at input {h}x{w}")
                if op == "add" and c != c0:
                    raise PeerError(f"layer {L['name']}: adding {c0} and {c} channels")
            s = (sum(c for c, _, _ in ins) if op == "concat" else c0, h0, w0)
        if s[1] < 1 or s[2] < 1:
            raise PeerError(f"layer {L['name']} has no pixels left at input {h}x{w}; use a larger input size")
        shp[L["name"]] = s
    o = shp[a["output"]]
    if is_classifier(a):
        if o != (a["classes"], 1, 1):
            raise PeerError(f"network output {a['output']} is {o[1]}x{o[2]}x{o[0]}, expected {a['classes']} "
                            f"classes at 1x1 (classification) for input {h}x{w}")
    elif o != (a["classes"], h, w):
        raise PeerError(f"network output {a['output']} is {o[1]}x{o[2]}x{o[0]}, expected {a['classes']} "
                        f"classes at {h}x{w}")
    return shp


def count_synapses(a):
    return sum(p.numel() for n, p in Net(a).named_parameters() if n.endswith(".weight") and p.dim() == 4)


# ---------------------------------------------------------------- the network in torch
class _ByName(nn.ModuleList):
    """Modules by layer name (names may hold characters nn.ModuleDict refuses, like '.')."""

    def __init__(self):
        super().__init__()
        self.index = {}

    def __setitem__(self, name, m):
        self.index[name] = len(self)
        self.append(m)

    def __getitem__(self, name):
        return super().__getitem__(self.index[name])

    def __contains__(self, name):
        return name in self.index


class Net(nn.Module):
    """The network of a description: conv/deconv/fc (bias) [-> BatchNorm2d] [-> ReLU], max-pool,
    average pool (zero padding counted), global average pool, bilinear upsample
    (align_corners=False) to another layer's size, concat, add. An fc layer is a Conv2d whose
    k x k kernel covers its whole input (so its weight is PyTorch's Linear weight over the
    input flattened in (C, H, W) order). Each layer with weights has a buffer `mask` (1 keep,
    0 removed synapse) shaped like its weight. A classification net's output is
    (N, classes, 1, 1) logits."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self.layers = arch["layers"]
        self.mods = _ByName()
        ch = {"input": arch["input"]["channels"]}
        for L in self.layers:
            c0, op = ch[L["in"][0]], L["op"]
            if op in WEIGHT_OPS:
                if op == "fc" and L["k"] < 1:
                    raise PeerError(f"layer {L['name']}: a fully connected layer needs the input size")
                m = nn.Module()
                if op == "deconv":
                    m.conv = nn.ConvTranspose2d(c0, L["out"], L["k"], stride=L["stride"], padding=L["pad"],
                                                dilation=L["dil"], output_padding=L["out_pad"], bias=True)
                elif op == "fc":
                    m.conv = nn.Conv2d(c0, L["out"], L["k"], bias=True)
                else:
                    m.conv = nn.Conv2d(c0, L["out"], L["k"], stride=L["stride"], padding=L["pad"],
                                       dilation=L["dil"], bias=True)
                m.register_buffer("mask", torch.ones_like(m.conv.weight))
                if L.get("bn"):
                    m.bn = nn.BatchNorm2d(L["out"])
                self.mods[L["name"]] = m
                ch[L["name"]] = L["out"]
            elif op == "maxpool":
                self.mods[L["name"]] = nn.MaxPool2d(L["k"], L["stride"], L["pad"])
                ch[L["name"]] = c0
            elif op == "avgpool":
                self.mods[L["name"]] = nn.AvgPool2d(L["k"], L["stride"], L["pad"], count_include_pad=True)
                ch[L["name"]] = c0
            elif op == "concat":
                ch[L["name"]] = sum(ch[i] for i in L["in"])
            else:
                ch[L["name"]] = c0
        if ch[arch["output"]] != arch["classes"]:
            raise PeerError(f"network output {arch['output']} has {ch[arch['output']]} channels, "
                            f"expected {arch['classes']} classes")

    def conv_layers(self):
        """(name, module with .conv, .mask[, .bn]) in description order: conv, deconv and fc."""
        return [(L["name"], self.mods[L["name"]]) for L in self.layers if L["op"] in WEIGHT_OPS]

    def forward(self, x):
        v = {"input": x}
        for L in self.layers:
            op, ins = L["op"], [v[i] for i in L["in"]]
            if op in WEIGHT_OPS:
                m = self.mods[L["name"]]
                y = m.conv(ins[0])
                if L.get("bn"):
                    y = m.bn(y)
                y = apply_act(L, y)
            elif op in ("maxpool", "avgpool"):
                y = self.mods[L["name"]](ins[0])
            elif op == "gap":
                y = ins[0].mean((2, 3), keepdim=True)
            elif op == "upsample":
                y = F.interpolate(ins[0], size=v[L["like"]].shape[2:], mode="bilinear", align_corners=False)
            elif op == "concat":
                y = torch.cat(ins, 1)
            else:
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            if op not in WEIGHT_OPS:
                y = apply_act(L, y)
            v[L["name"]] = y
        return v[self.arch["output"]]

    @torch.no_grad()
    def apply_masks(self):
        """weight *= mask: removed synapses are exactly 0."""
        for _, m in self.conv_layers():
            m.conv.weight.mul_(m.mask)

    def mask_grads(self):
        for _, m in self.conv_layers():
            if m.conv.weight.grad is not None:
                m.conv.weight.grad.mul_(m.mask)


# ---------------------------------------------------------------- init and network files
def _splitmix_stream(s0, n):
    """The n outputs of weights.c's splitmix(&s) from state s0 (numpy uint64, wrapping)."""
    z = np.uint64(s0) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@torch.no_grad()
def init_he(net, seed):
    """ev_weights_init_he: per layer i (its index in the description) a splitmix64 stream from
    seed ^ (0x5851f42d4c957f2d * (i+1)), Box-Muller normals, std sqrt(gain^2/fan_in) (act_gain2:
    relu 2, leaky_relu 2/(1+alpha^2), tanh 25/9, none 1),
    fan_in = cin*k*k (conv) or out*k*k (deconv); biases 0. BN layers keep PyTorch's (gamma 1,
    beta 0, mean 0, var 1), which is what ev_weights_alloc sets."""
    with np.errstate(over="ignore"):
        for i, L in enumerate(net.layers):
            if L["op"] not in WEIGHT_OPS:
                continue
            m = net.mods[L["name"]]
            wt = m.conv.weight
            # conv weight (out, cin, k, k): fan_in = cin*k*k; deconv (cin, out, k, k): out*k*k
            fan_in = wt.shape[1] * L["k"] * L["k"]
            std = math.sqrt(act_gain2(L) / fan_in)
            s0 = (int(seed) ^ (0x5851F42D4C957F2D * (i + 1))) & U64
            z = _splitmix_stream(s0, 2 * wt.numel())
            u1 = ((z[0::2] >> np.uint64(11)).astype(np.float64) + 1.0) * (1.0 / 9007199254740993.0)
            u2 = (z[1::2] >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
            normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)
            w = (std * normal).astype(np.float32).reshape(tuple(wt.shape))
            wt.copy_(torch.from_numpy(w) * m.mask)
            m.conv.bias.zero_()


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file, PeerError on a missing or corrupt file."""
    if not os.path.isfile(path):
        raise PeerError(f"cannot open {path}: no such file")
    try:
        return safetensors_torch.load(path)
    except Exception as e:  # struct, JSON, key and size errors from a corrupt file
        raise PeerError(f"{path} is not a readable safetensors file ({type(e).__name__}: {e})")


def read_network_file(path):
    """(architecture dict, tensors) of an evonet network file."""
    tensors, meta = read_safetensors(path)
    if META_ARCH not in meta:
        raise PeerError(f"{path} is a safetensors file but not an evonet network (no architecture)")
    try:
        arch = normalize_arch(json.loads(meta[META_ARCH]))
    except (ValueError, PeerError):
        raise PeerError(f"{path}: its architecture description is corrupt")
    return arch, tensors


def _fields(L):
    f = ["weight", "bias", "mask"]
    return f + (["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"] if L.get("bn") else [])


def _param(m, field):
    return {"weight": m.conv.weight, "bias": m.conv.bias, "mask": m.mask}[field] if "." not in field else \
        getattr(m.bn, field.split(".", 1)[1])


@torch.no_grad()
def load_weights(net, path):
    """Loads an evonet network file into net (same architecture required, as ev_weights_load
    with `expect`), then applies the masks."""
    arch, tensors = read_network_file(path)
    if arch_json(arch) != arch_json(net.arch):
        raise PeerError(f"{path} holds a different architecture than this run's network")
    for L in net.layers:
        if L["op"] not in WEIGHT_OPS:
            continue
        m = net.mods[L["name"]]
        for f in _fields(L):
            name = f"{L['name']}.{f}"
            dst = _param(m, f)
            t = tensors.get(name)
            if t is None:
                raise PeerError(f"{path} lacks tensor {name}")
            if tuple(t.shape) != tuple(dst.shape):
                raise PeerError(f"{path}: tensor {name} has the wrong shape for its architecture")
            dst.copy_(t.to(torch.float32))
    net.apply_masks()


@torch.no_grad()
def load_vgg16(net, path):
    """ev_weights_init_vgg16: torchvision VGG16 features.N into c1_1 ... c5_3."""
    tensors, _ = read_safetensors(path)
    idx = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    names = ("c1_1", "c1_2", "c2_1", "c2_2", "c3_1", "c3_2", "c3_3", "c4_1", "c4_2", "c4_3", "c5_1", "c5_2", "c5_3")
    for k, name in zip(idx, names):
        if name not in net.mods:
            raise PeerError(f"--init-vgg16: the network has no layer {name}")
        m = net.mods[name]
        w, b = tensors.get(f"features.{k}.weight"), tensors.get(f"features.{k}.bias")
        if w is None or b is None:
            raise PeerError(f"{path} has no features.{k}.{'bias' if w is not None else 'weight'}: "
                            "not a torchvision VGG16 file")
        if tuple(w.shape) != tuple(m.conv.weight.shape) or b.numel() != m.conv.bias.numel():
            raise PeerError(f"{path}: features.{k}.weight is {'x'.join(map(str, w.shape))}, layer {name} needs "
                            f"{'x'.join(map(str, m.conv.weight.shape))} (VGG16 weights fit width 1 only)")
        m.conv.weight.copy_(w.float() * m.mask)
        m.conv.bias.copy_(b.float().reshape(-1))


@torch.no_grad()
def save_weights(net, path, extra_meta=None):
    """Writes net as an evonet network file (ev_weights_save's names, order and layouts)."""
    tensors = {}
    for L in net.layers:
        if L["op"] in WEIGHT_OPS:
            for f in _fields(L):
                tensors[f"{L['name']}.{f}"] = _param(net.mods[L["name"]], f).detach().float().cpu()
    meta = {META_ARCH: arch_json(net.arch)}
    meta.update(extra_meta or {})
    tmp = path + ".tmp"
    safetensors_torch.save(tmp, tensors, meta)
    os.replace(tmp, path)


# ---------------------------------------------------------------- datasets
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")  # preference order when stems collide
SPLITS = {"": "all", "all": "all", "train": "train", "val": "val", "valid": "val", "test": "test"}


def _ext_rank(name, allow_png):
    low = name.lower()
    for r, e in enumerate(IMAGE_EXTS):
        if len(name) > len(e) and low.endswith(e):
            return -1 if (r == 2 and not allow_png) else r
    return -1


def _scan(dir_, allow_png):
    best = {}
    for n in os.listdir(dir_):
        r = _ext_rank(n, allow_png)
        if n.startswith(".") or r < 0:
            continue
        stem = n[:n.rfind(".")]
        if stem not in best or r < best[stem][0]:
            best[stem] = (r, n)
    return {s: n for s, (r, n) in best.items()}


def _read_list(path):
    stems = set()
    with open(path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            line = line.rsplit("/", 1)[-1]
            if "." in line and _ext_rank(line, True) >= 0 and not line.startswith("."):
                line = line[:line.rfind(".")]
            if line:
                stems.add(line)
    return sorted(stems, key=lambda s: s.encode())


def _add_folder(pairs, img_dir, mask_dir, list_path):
    if not os.path.isdir(img_dir):
        raise PeerError(f"missing folder {img_dir}")
    if not os.path.isdir(mask_dir):
        raise PeerError(f"missing mask folder {mask_dir}")
    imgs = _scan(img_dir, img_dir != mask_dir)
    stems = _read_list(list_path) if list_path else sorted(imgs, key=lambda s: s.encode())
    for s in stems:
        if s not in imgs:
            raise PeerError(f"'{s}' is listed in {list_path} but has no image in {img_dir}")
        image, mask = os.path.join(img_dir, imgs[s]), os.path.join(mask_dir, s + ".png")
        if not os.path.isfile(mask):
            raise PeerError(f"image {image} has no mask (expected {mask})")
        pairs.append((s, image, mask))


def _find_list(root, names):
    for n in names:
        if os.path.isfile(os.path.join(root, n)):
            return os.path.join(root, n)
    return None


_MSRAB_LISTS = {"train": ("train_cvpr2013.txt", "train.txt"), "val": ("valid_cvpr2013.txt", "val.txt"),
                "test": ("test_cvpr2013.txt", "test.txt")}
_HKUIS_LISTS = {"train": ("trainImgSet.txt", "train.txt"), "val": ("valImgSet.txt", "val.txt"),
                "test": ("testImgSet.txt", "test.txt")}


def _duts_dirs(root, part):
    for sub in (f"DUTS-{part}-Image", f"DUTS-{part}/DUTS-{part}-Image"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            return d, d[:-len("Image")] + "Mask"
    return None


def _detect(root):
    if os.path.isdir(os.path.join(root, "images")) or \
            any(os.path.isdir(os.path.join(root, s, "images")) for s in ("train", "val", "test")):
        return "generic"
    if os.path.isdir(os.path.join(root, "imgs")) and os.path.isdir(os.path.join(root, "gt")):
        return "hku-is"
    if _duts_dirs(root, "TR") or _duts_dirs(root, "TE"):
        return "duts"
    if _find_list(root, _MSRAB_LISTS["train"]) or _find_list(root, _MSRAB_LISTS["test"]) or \
            any(_ext_rank(n, False) >= 0 and not n.startswith(".") for n in os.listdir(root)):
        return "msra-b"
    cl = _class_layout(root)  # classification layouts only where no saliency layout fits
    if cl:
        return cl
    raise PeerError(f"cannot tell the layout of dataset folder {root}: expected images/ + masks/, imgs/ + gt/, "
                    "DUTS-TR-Image/, <stem>.jpg + <stem>.png side by side, train-images-idx3-ubyte[.gz] (IDX), "
                    "data_batch_1.bin (CIFAR-10) or train/<class>/<image> (imagefolder)")


def list_pairs(root, split, layout="auto"):
    """[(stem, image path, mask path)] of one split, sorted by stem: ev_dataset_open."""
    if split not in SPLITS:
        raise PeerError(f"unknown split '{split}' (expected train, val, test or all)")
    split = SPLITS[split]
    root, layout = dataset_layout(root, layout)
    if layout in CLASS_LAYOUTS:
        raise PeerError(f"dataset {root} holds labelled images ({layout} layout), not images with masks")
    pairs = []

    def generic_sub(sub, lp=None):
        base = os.path.join(root, sub) if sub else root
        if not os.path.isdir(os.path.join(base, "masks")):
            raise PeerError(f"missing folder {os.path.join(base, 'masks')}: the generic layout needs masks/ "
                            "beside images/")
        _add_folder(pairs, os.path.join(base, "images"), os.path.join(base, "masks"), lp)

    if layout == "generic":
        if split != "all" and os.path.isdir(os.path.join(root, split, "images")):
            generic_sub(split)
        elif os.path.isdir(os.path.join(root, "images")):
            generic_sub("", _find_list(root, [split + ".txt"]) if split != "all" else None)
        elif split == "all" and any(os.path.isdir(os.path.join(root, s, "images")) for s in ("train", "val", "test")):
            for s in ("train", "val", "test"):
                if os.path.isdir(os.path.join(root, s, "images")):
                    generic_sub(s)
        else:
            raise PeerError(f"missing folder {root}/{split}/images (or {root}/images) for the generic layout")
    elif layout == "msra-b":
        _add_folder(pairs, root, root, _find_list(root, _MSRAB_LISTS[split]) if split != "all" else None)
    elif layout == "hku-is":
        _add_folder(pairs, os.path.join(root, "imgs"), os.path.join(root, "gt"),
                    _find_list(root, _HKUIS_LISTS[split]) if split != "all" else None)
    else:  # duts
        if split == "val":
            raise PeerError(f"the DUTS layout has no val split (DUTS-TR is train, DUTS-TE is test): {root}")
        for part, sp in (("TR", "train"), ("TE", "test")):
            if split not in ("all", sp):
                continue
            d = _duts_dirs(root, part)
            if d is None:
                if split == "all":
                    continue
                raise PeerError(f"missing folder {root}/DUTS-{part}-Image for the DUTS {split} split")
            _add_folder(pairs, d[0], d[1], None)
    if not pairs:
        raise PeerError(f"dataset {root} ({layout} layout, split {split}) has no image/mask pairs")
    return sorted(pairs, key=lambda p: (p[0].encode(), p[1].encode()))


def _mix(z):
    """ds_mix (splitmix64 finaliser) on Python ints."""
    z = (z + 0x9E3779B97F4A7C15) & U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return z ^ (z >> 31)


def _unit(z):
    return np.float32(z >> 40) * np.float32(1.0 / 16777216.0)


def aug_draw(seed, epoch, index):
    """ev_aug_draw: (scale, ox, oy, flip, hue, sat, contrast, bright) of sample `index` in `epoch`."""
    h = _mix(_mix(_mix(seed & U64) ^ (epoch & U64)) ^ (index & U64))
    f32 = np.float32
    return (f32(0.75) + f32(0.25) * _unit(_mix(h ^ 1)), _unit(_mix(h ^ 2)), _unit(_mix(h ^ 3)),
            int(_mix(h ^ 4) >> 63),
            (f32(2.0) * _unit(_mix(h ^ 5)) - f32(1.0)) * f32(0.5235988),
            f32(0.6) + f32(0.8) * _unit(_mix(h ^ 6)),
            f32(0.75) + f32(0.5) * _unit(_mix(h ^ 7)),
            f32(0.75) + f32(0.5) * _unit(_mix(h ^ 8)))


def colour(rgb, hue, sat, contrast, bright):
    """sample.c colour_pixel on an (h, w, 3) float32 0..255 image: chroma turned by `hue`
    about the grey axis and scaled by `sat`, then contrast about 128 and brightness."""
    f32 = np.float32
    k_cos = f32(np.float64(sat) * np.cos(np.float64(hue)))
    k_sin = f32(np.float64(sat) * np.sin(np.float64(hue)) / np.sqrt(3.0))
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    grey = (r + g + b) / f32(3.0)
    cr, cg, cb = r - grey, g - grey, b - grey
    v = np.stack([k_cos * cr + k_sin * (cb - cg), k_cos * cg + k_sin * (cr - cb),
                  k_cos * cb + k_sin * (cg - cr)], axis=-1)
    t = ((grey[..., None] + v - f32(128.0)) * f32(contrast) + f32(128.0)) * f32(bright)
    return np.clip(t, f32(0.0), f32(255.0)).astype(f32)


def epoch_order(n, seed, epoch, shuffle=True):
    """ev_epoch_order: Fisher-Yates with draw i a pure function of (seed, epoch, i)."""
    order = list(range(n))
    if not shuffle:
        return order
    h = _mix(_mix(_mix((seed ^ 0x5348554646) & U64) ^ (epoch & U64)))
    for i in range(n - 1, 0, -1):
        j = _mix(h ^ i) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def _taps(start, step, n_out, n_in):
    f32 = np.float32
    f = f32(start) + (np.arange(n_out, dtype=f32) + f32(0.5)) * f32(step) - f32(0.5)
    f = np.minimum(np.maximum(f, f32(0.0)), f32(n_in - 1))
    lo = f.astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (f - lo.astype(f32)).astype(f32)


def resample(src, box, dw, dh):
    """ev_resample_u8: bilinear resampling of box (x0, y0, bw, bh) of src (h, w, c) uint8 to
    (dh, dw, c) float32, pixel centres at +0.5, taps clamped at the edges."""
    h, w = src.shape[:2]
    x0, y0, bw, bh = box
    ylo, yhi, wy = _taps(y0, np.float32(bh) / np.float32(dh), dh, h)
    xlo, xhi, wx = _taps(x0, np.float32(bw) / np.float32(dw), dw, w)
    s = src.astype(np.float32)
    a, b = s[ylo][:, xlo], s[ylo][:, xhi]
    d, e = s[yhi][:, xlo], s[yhi][:, xhi]
    wx, wy = wx[None, :, None], wy[:, None, None]
    top, bot = a + (b - a) * wx, d + (e - d) * wx
    return top + (bot - top) * wy


MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class SalientDataset(torch.utils.data.Dataset):
    """One split of a dataset. Item (index, epoch) -> (x (3,S,S) normalised, m (S,S) in [0,1]),
    ev_sample_load's recipe: crop box (scale, ox, oy) of ev_aug_draw(seed, epoch, index) when
    augmenting, bilinear resize to S×S, colour change, horizontal flip, ImageNet normalisation. Decoded
    images are cached while they fit in `cache_mb`."""

    def __init__(self, root, split, size, layout="auto", cache_mb=1024):
        from PIL import Image  # noqa: F401  (fail early if PIL is missing)
        self.pairs = list_pairs(root, split, layout)
        self.size, self.cache, self.cache_left = size, {}, cache_mb << 20

    def __len__(self):
        return len(self.pairs)

    def decode(self, i):
        if i in self.cache:
            return self.cache[i]
        from PIL import Image
        _, ip, mp = self.pairs[i]
        try:
            with Image.open(ip) as im:
                img = np.asarray(im.convert("RGB"), dtype=np.uint8)
            with Image.open(mp) as im:
                msk = np.asarray(im.convert("L"), dtype=np.uint8)[:, :, None]
        except (OSError, ValueError) as e:
            raise PeerError(f"cannot decode {ip} or its mask: {e}")
        if msk.shape[:2] != img.shape[:2]:
            raise PeerError(f"mask {mp} is {msk.shape[1]}x{msk.shape[0]} but its image {ip} is "
                            f"{img.shape[1]}x{img.shape[0]}")
        if img.nbytes + msk.nbytes <= self.cache_left:
            self.cache[i] = (img, msk)
            self.cache_left -= img.nbytes + msk.nbytes
        return img, msk

    def sample(self, i, aug=None):
        """aug: aug_draw's tuple or None (whole image, no flip, no colour change)."""
        img, msk = self.decode(i)
        S, (h, w) = self.size, img.shape[:2]
        f32 = np.float32
        scale, ox, oy, flip, hue, sat, contrast, bright = aug if aug is not None else (
            f32(1), f32(0), f32(0), 0, f32(0), f32(1), f32(1), f32(1))
        bw, bh = np.float32(scale) * np.float32(w), np.float32(scale) * np.float32(h)
        box = (ox * (np.float32(w) - bw), oy * (np.float32(h) - bh), bw, bh)
        rgb = resample(img, box, S, S)
        if hue != 0 or sat != 1 or contrast != 1 or bright != 1:
            rgb = colour(rgb, hue, sat, contrast, bright)
        x = (rgb / np.float32(255.0) - MEAN) / STD
        m = resample(msk, box, S, S)[:, :, 0] / np.float32(255.0)
        if flip:
            x, m = x[:, ::-1], m[:, ::-1]
        return np.ascontiguousarray(x.transpose(2, 0, 1)), np.ascontiguousarray(m)

    def batches(self, batch, seed=0, epoch=0, augment=False, shuffle=False, drop_last=False):
        """Yields (x (N,3,S,S), m (N,S,S), indices) in ev_loader's order."""
        order = epoch_order(len(self), seed, epoch, shuffle)
        n = len(order) // batch * batch if drop_last else len(order)
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            xs, ms = zip(*(self.sample(i, aug_draw(seed, epoch, i) if augment else None) for i in idx))
            yield torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms)), idx


# ---------------------------------------------------------------- classification sets
# src/data/classes*.c: IDX (MNIST / Fashion-MNIST), CIFAR-10 binary batches, ImageFolder.
KNOWN_SETS = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist", "install the Debian package dataset-fashion-mnist"),
              "mnist": ("/usr/share/datasets/mnist",
                        "put MNIST's IDX files there, or use fashion-mnist (Debian package dataset-fashion-mnist)")}
LAYOUTS = {"auto": "auto", "generic": "generic", "msrab": "msra-b", "hkuis": "hku-is", "duts": "duts",
           "idx": "idx", "cifar10": "cifar10", "imagefolder": "imagefolder"}
CLASS_LAYOUTS = ("idx", "cifar10", "imagefolder")
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")
CIFAR_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_RECORD = 1 + 3 * 32 * 32
CLASS_FILE_MAX = 2 << 30


def resolve_root(root):
    """ev_dataset_resolve: "fashion-mnist" and "mnist" name Debian's folders; others unchanged."""
    if root in KNOWN_SETS:
        d, how = KNOWN_SETS[root]
        if not os.path.isdir(d):
            raise PeerError(f"dataset '{root}' is not installed: {d} does not exist ({how})")
        return d
    return root


def layout_name(layout):
    lay = layout.lower().replace("-", "").replace("_", "")
    if lay not in LAYOUTS:
        raise PeerError(f"unknown dataset layout '{layout}' (expected auto, generic, msra-b, hku-is, duts, idx, "
                        "cifar10 or imagefolder)")
    return LAYOUTS[lay]


def _idx_file(root, prefix, kind):
    for name in (f"{prefix}-{kind}-ubyte", f"{prefix}-{kind}-ubyte.gz"):
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    return None


def _cifar_dir(root):
    for d in (root, os.path.join(root, "cifar-10-batches-bin")):
        if os.path.isfile(os.path.join(d, "data_batch_1.bin")):
            return d
    return None


def _is_image_name(name):
    return not name.startswith(".") and _ext_rank(name, True) >= 0


def _has_images(d):
    try:
        return any(_is_image_name(n) for n in os.listdir(d))
    except OSError:
        return False


def _is_class_split(d):
    if not os.path.isdir(d) or os.path.isdir(os.path.join(d, "images")):
        return False
    return any(not n.startswith(".") and os.path.isdir(os.path.join(d, n)) and _has_images(os.path.join(d, n))
               for n in os.listdir(d))


def _class_layout(root):
    if _idx_file(root, "train", "images-idx3"):
        return "idx"
    if _cifar_dir(root):
        return "cifar10"
    if any(_is_class_split(os.path.join(root, s)) for s in ("train", "val", "valid", "test")):
        return "imagefolder"
    return None


def dataset_layout(root, layout="auto"):
    """(resolved root, layout name) as ev_dataset_open finds them (saliency layouts first)."""
    root = resolve_root(root)
    lay = layout_name(layout)
    if not os.path.isdir(root):
        raise PeerError(f"dataset folder {root} does not exist")
    return root, (_detect(root) if lay == "auto" else lay)


def read_whole(path):
    """ds_read_whole: the bytes of a file, gunzipped when it is gzip (by its content)."""
    import gzip
    import zlib
    if not os.path.isfile(path):
        raise PeerError(f"cannot open {path}: no such file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise PeerError(f"{path} is a corrupt or truncated gzip file ({e})")
    if len(data) > CLASS_FILE_MAX:
        raise PeerError(f"{path} holds more than {CLASS_FILE_MAX} bytes, more than a dataset file may have")
    return data


def _read_idx(root, prefix):
    """(pixels (n, h, w, 1) uint8, labels (n) int32, image path) of one IDX file pair."""
    ip, lp = _idx_file(root, prefix, "images-idx3"), _idx_file(root, prefix, "labels-idx1")
    if ip is None:
        raise PeerError(f"missing file {root}/{prefix}-images-idx3-ubyte (or .gz)")
    if lp is None:
        raise PeerError(f"missing file {root}/{prefix}-labels-idx1-ubyte (or .gz)")
    d = read_whole(ip)
    if len(d) < 16:
        raise PeerError(f"{ip} is truncated: {len(d)} bytes, shorter than an IDX image header")
    magic, n, h, w = (int.from_bytes(d[i:i + 4], "big") for i in (0, 4, 8, 12))
    if magic != 0x803:
        raise PeerError(f"{ip} has the wrong magic number 0x{magic:08x} (an IDX image file starts with 0x00000803)")
    if not (0 < h <= 65536 and 0 < w <= 65536):
        raise PeerError(f"{ip} claims images of {w}x{h} pixels")
    have = len(d) - 16
    if n > have // (h * w):
        raise PeerError(f"{ip} is truncated: its header says {n} images of {w}x{h}, it holds {have} bytes of pixels")
    if n * h * w != have:
        raise PeerError(f"{ip} has {have - n * h * w} bytes past its {n} images of {w}x{h}")
    if n == 0:
        raise PeerError(f"{ip} holds no images")
    pix = np.frombuffer(d, np.uint8, offset=16).reshape(n, h, w, 1)
    t = read_whole(lp)
    if len(t) < 8:
        raise PeerError(f"{lp} is truncated: {len(t)} bytes, shorter than an IDX label header")
    magic, m = int.from_bytes(t[:4], "big"), int.from_bytes(t[4:8], "big")
    if magic != 0x801:
        raise PeerError(f"{lp} has the wrong magic number 0x{magic:08x} (an IDX label file starts with 0x00000801)")
    if m != len(t) - 8:
        raise PeerError(f"{lp} is truncated or has bytes past its {m} labels")
    if m != n:
        raise PeerError(f"{lp} holds {m} labels but {ip} holds {n} images")
    lab = np.frombuffer(t, np.uint8, offset=8).astype(np.int32)
    bad = np.nonzero(lab >= 10)[0]
    if bad.size:
        raise PeerError(f"{lp}: the label {lab[bad[0]]} of sample {bad[0]} is outside the 10 classes")
    return pix, lab, ip


def _read_cifar_batch(path):
    if not os.path.isfile(path):
        raise PeerError(f"missing CIFAR-10 batch {path}")
    d = read_whole(path)
    if len(d) == 0 or len(d) % CIFAR_RECORD:
        raise PeerError(f"{path} is {len(d)} bytes, not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records "
                        "(truncated, or not a CIFAR-10 batch)")
    rec = np.frombuffer(d, np.uint8).reshape(-1, CIFAR_RECORD)
    lab = rec[:, 0].astype(np.int32)
    bad = np.nonzero(lab >= 10)[0]
    if bad.size:
        raise PeerError(f"{path}: the label {lab[bad[0]]} of record {bad[0]} is outside the 10 classes")
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), lab  # planes -> HWC


def class_stats(pix, c):
    """ds_class_stats: per-channel mean and std of v/255 over all pixels, from a histogram in
    double (the same sums in the same order), as float32."""
    flat = pix.reshape(-1, c)
    n = flat.shape[0]
    mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    for k in range(c):
        hist = np.bincount(flat[:, k], minlength=256)
        s1 = s2 = 0.0
        for v in range(256):
            x = v / 255.0
            s1 += float(hist[v]) * x
            s2 += float(hist[v]) * x * x
        m = s1 / n
        var = s2 / n - m * m
        mean[k] = np.float32(m)
        std[k] = np.float32(math.sqrt(var)) if var > 1e-12 else np.float32(1.0)
    return mean, std


def class_aug_draw(seed, epoch, index, pad, flip_allowed):
    """ev_class_aug_draw: (dx, dy, flip) of sample `index` in `epoch` for a shift pad `pad`."""
    h = _mix(_mix(_mix(seed & U64) ^ (epoch & U64)) ^ (index & U64))
    span = 2 * max(pad, 0) + 1
    return (_mix(h ^ 11) % span - span // 2, _mix(h ^ 12) % span - span // 2,
            int(_mix(h ^ 13) >> 63) if flip_allowed else 0)


class ClassDataset:
    """One split of a classification set (ev_dataset_open of an IDX, CIFAR-10 or ImageFolder
    root). Splits: val = the last floor(n/12) of the training file, train the rest, test the
    test file, all = training file then test file; ImageFolder: ROOT/train, ROOT/val (valid),
    ROOT/test of class folders. Normalisation: per-channel mean/std over every image of the
    training file (ImageFolder: ImageNet's). Samples are ev_class_sample's: resized to S×S
    when their size differs (bilinear, ev_resample_u8), shifted by (dx, dy) with value-0
    pixels outside, mirrored, normalised, in float32 as the C code computes them."""

    def __init__(self, root, split, size, layout="auto", cache_mb=1024):
        if split not in SPLITS:
            raise PeerError(f"unknown split '{split}' (expected train, val, test or all)")
        split = SPLITS[split]
        self.root, self.layout = dataset_layout(root, layout)
        root = self.root
        if self.layout not in CLASS_LAYOUTS:
            raise PeerError(f"dataset {root} holds images with masks ({self.layout} layout), not labelled images")
        self.size, self.split, self.pixels, self.paths = size, split, None, None
        self.cache, self.cache_left = {}, cache_mb << 20
        if self.layout == "imagefolder":
            self._open_folder(root, split)
        else:
            if self.layout == "idx":
                tr_pix, tr_lab, tr_path = _read_idx(root, "train")
                te = _read_idx(root, "t10k") if split in ("test", "all") else None
                if te is not None and te[0].shape[1:] != tr_pix.shape[1:]:
                    raise PeerError(f"{te[2]} holds images of {te[0].shape[2]}x{te[0].shape[1]} but {tr_path} of "
                                    f"{tr_pix.shape[2]}x{tr_pix.shape[1]}")
                low = root.lower()
                self.source = "fashion-mnist" if "fashion" in low else "mnist" if "mnist" in low else "idx"
                self.class_names = list(FASHION_NAMES if self.source == "fashion-mnist" else map(str, range(10)))
                self.crop_pad, self.channels = 2, 1
            else:
                if _cifar_dir(root) is None:
                    raise PeerError(f"missing file {root}/data_batch_1.bin (or {root}/cifar-10-batches-bin/"
                                    "data_batch_1.bin) for the CIFAR-10 layout")
                d = _cifar_dir(root)
                parts = [_read_cifar_batch(os.path.join(d, f"data_batch_{b}.bin")) for b in range(1, 6)]
                tr_pix, tr_lab = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
                te = _read_cifar_batch(os.path.join(d, "test_batch.bin")) if split in ("test", "all") else None
                self.source, self.crop_pad, self.channels = "cifar10", 4, 3
                self.class_names = list(CIFAR_NAMES)
                meta = os.path.join(d, "batches.meta.txt")
                if os.path.isfile(meta):
                    names = [ln.strip() for ln in read_whole(meta).replace(b"\0", b"\n").decode("utf-8", "replace")
                             .split("\n") if ln.strip()]
                    if len(names) != 10:
                        raise PeerError(f"{meta} lists {len(names)} class names, CIFAR-10 has 10")
                    self.class_names = names
            self.flip = 0 if self.source in ("mnist", "idx") else 1  # digits do not mirror (classes_idx.c)
            self.mean, self.std = class_stats(tr_pix, self.channels)
            n_tr = tr_pix.shape[0]
            n_val = n_tr // 12
            if split == "train":
                self.pixels, self.labels = tr_pix[:n_tr - n_val], tr_lab[:n_tr - n_val]
            elif split == "val":
                self.pixels, self.labels = tr_pix[n_tr - n_val:], tr_lab[n_tr - n_val:]
            elif split == "test":
                self.pixels, self.labels = te[0], te[1]
            else:
                self.pixels = tr_pix if te is None else np.concatenate([tr_pix, te[0]])
                self.labels = tr_lab if te is None else np.concatenate([tr_lab, te[1]])
            self.h, self.w = tr_pix.shape[1:3]
        self.classes = len(self.class_names)
        if len(self.labels) == 0:
            raise PeerError(f"dataset {root} ({self.layout} layout, split {split}) has no images")

    def _open_folder(self, root, split):
        names = {"train": ("train",), "val": ("val", "valid"), "test": ("test",)}

        def split_dir(sp):
            for n in names[sp]:
                if os.path.isdir(os.path.join(root, n)):
                    return os.path.join(root, n)
            return None

        class_dir = split_dir("train")
        if class_dir is None:
            for sp in (("val", "test") if split == "all" else (split,)):
                class_dir = split_dir(sp)
                if class_dir:
                    break
            if class_dir is None:
                raise PeerError(f"missing folders {root}/train, val and test for the imagefolder layout"
                                if split == "all" else f"missing folder {root}/{split} for the imagefolder layout")

        def subdirs(d):
            return sorted((n for n in os.listdir(d) if not n.startswith(".") and os.path.isdir(os.path.join(d, n))),
                          key=lambda s: s.encode())

        self.class_names = subdirs(class_dir)
        if len(self.class_names) < 2:
            raise PeerError(f"{class_dir} holds {len(self.class_names)} class folders; a classification needs "
                            "at least 2")
        index = {c: i for i, c in enumerate(self.class_names)}
        paths, labels = [], []
        for sp in ("train", "val", "test"):
            if split not in ("all", sp):
                continue
            d = split_dir(sp)
            if d is None:
                if split == "all":
                    continue
                raise PeerError(f"missing folder {root}/{sp} for the imagefolder layout")
            for c in subdirs(d):
                cdir = os.path.join(d, c)
                if c not in index:
                    raise PeerError(f"class folder {cdir} is not one of the {len(index)} classes of {class_dir}")
                imgs = sorted((n for n in os.listdir(cdir) if _is_image_name(n)), key=lambda s: s.encode())
                if not imgs:
                    raise PeerError(f"class folder {cdir} holds no images (.jpg, .jpeg, .png, .bmp)")
                paths += [os.path.join(cdir, n) for n in imgs]
                labels += [index[c]] * len(imgs)
        for c in self.class_names:
            if not _has_images(os.path.join(class_dir, c)):
                raise PeerError(f"class folder {os.path.join(class_dir, c)} holds no images (.jpg, .jpeg, .png, .bmp)")
        self.paths, self.labels = paths, np.array(labels, np.int32)
        self.source, self.channels, self.crop_pad, self.flip = "imagefolder", 3, 0, 1
        self.mean, self.std = MEAN.copy(), STD.copy()

    def __len__(self):
        return len(self.labels)

    def pad(self):
        """ds_class_pad: the shift pad at this size (ImageFolder: S/8)."""
        return self.crop_pad if self.pixels is not None else self.size // 8

    def aug_draw(self, seed, epoch, index):
        return class_aug_draw(seed, epoch, index, self.pad(), self.flip)

    def pixels_at(self, i):
        """class_pixels: sample i as (S, S, c) float32 0..255 (copied, or resized to S×S)."""
        S = self.size
        if self.pixels is not None and (self.h, self.w) == (S, S):
            return self.pixels[i].astype(np.float32)
        if i in self.cache:
            return self.cache[i]
        if self.pixels is not None:
            img = self.pixels[i]
        else:
            from PIL import Image
            try:
                with Image.open(self.paths[i]) as im:
                    img = np.asarray(im.convert("RGB"), dtype=np.uint8)
            except (OSError, ValueError) as e:
                raise PeerError(f"cannot decode {self.paths[i]}: {e}")
        h, w = img.shape[:2]
        t = resample(img, (np.float32(0), np.float32(0), np.float32(w), np.float32(h)), S, S).astype(np.float32)
        if t.nbytes <= self.cache_left:
            self.cache[i] = t
            self.cache_left -= t.nbytes
        return t

    def _shift_norm(self, imgs, augs):
        """ev_class_sample's shift, flip and normalisation of (B, S, S, c) float32 0..255:
        out(y, x) = in(y + dy, (flip ? S-1-x : x) + dx), 0 outside; (v/255 - mean)/std."""
        B, S, _, c = imgs.shape
        P = max([abs(a) for dx, dy, _ in augs for a in (dx, dy)] + [0])
        padded = np.zeros((B, S + 2 * P, S + 2 * P, c), np.float32)
        padded[:, P:P + S, P:P + S] = imgs
        ar = np.arange(S)
        dx = np.array([a[0] for a in augs])[:, None]
        dy = np.array([a[1] for a in augs])[:, None]
        fl = np.array([a[2] for a in augs], bool)[:, None]
        ys = ar[None, :] + dy + P
        xs = np.where(fl, S - 1 - ar[None, :], ar[None, :]) + dx + P
        out = padded[np.arange(B)[:, None, None], ys[:, :, None], xs[:, None, :]]
        out = (out / np.float32(255.0) - self.mean[:c]) / self.std[:c]
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)

    def sample(self, i, aug=None):
        """(x (c, S, S) float32 normalised, label): ev_class_sample with aug (dx, dy, flip) or none."""
        return self._shift_norm(self.pixels_at(i)[None], [aug or (0, 0, 0)])[0], int(self.labels[i])

    def batches(self, batch, seed=0, epoch=0, augment=False, shuffle=False, drop_last=False):
        """Yields (x (N, c, S, S), labels (N) int64, indices) in ev_loader's order."""
        order = epoch_order(len(self), seed, epoch, shuffle)
        n = len(order) // batch * batch if drop_last else len(order)
        S = self.size
        native = self.pixels is not None and (self.h, self.w) == (S, S)
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            imgs = self.pixels[idx].astype(np.float32) if native else np.stack([self.pixels_at(i) for i in idx])
            augs = [self.aug_draw(seed, epoch, i) if augment else (0, 0, 0) for i in idx]
            yield (torch.from_numpy(self._shift_norm(imgs, augs)),
                   torch.from_numpy(self.labels[idx].astype(np.int64)), idx)


def open_dataset(root, split, size, layout="auto"):
    """ClassDataset or SalientDataset, by what the folder holds."""
    _, lay = dataset_layout(root, layout)
    return ClassDataset(root, split, size, lay) if lay in CLASS_LAYOUTS else SalientDataset(root, split, size, lay)


class ClassMetrics:
    """ev_class_metrics: top-1, top-k (k = min(classes, 5)), mean cross-entropy (log-sum-exp in
    double), per-class accuracy and its mean, with ties ranked to the lower class index and NaN
    above every number (the C definitions)."""

    def __init__(self, classes, names=None):
        self.C, self.names = classes, names or [str(c) for c in range(classes)]
        self.confusion = np.zeros((classes, classes), np.int64)
        self.n, self.top1, self.top5, self.loss_sum = 0, 0, 0, 0.0

    def add(self, logits, labels):
        """logits (B, C) float32, labels (B)."""
        lg = np.asarray(logits, np.float32).reshape(len(labels), self.C)
        y = np.asarray(labels, np.int64)
        c = np.arange(self.C)[None, :]
        ly = lg[np.arange(len(y)), y][:, None]
        na, nb = np.isnan(lg), np.isnan(ly)
        with np.errstate(invalid="ignore"):
            before = np.where(na | nb, na & (~nb | (c < y[:, None])), (lg > ly) | ((lg == ly) & (c < y[:, None])))
        before &= c != y[:, None]
        ahead = before.sum(1)
        pred = np.argmax(lg, 1)  # first maximum; the first NaN where there is one
        k = min(self.C, 5)
        self.n += len(y)
        self.top1 += int((pred == y).sum())
        self.top5 += int((ahead < k).sum())
        np.add.at(self.confusion, (y, pred), 1)
        l64 = lg.astype(np.float64)
        mx = l64.max(1, keepdims=True)
        per = np.log(np.exp(l64 - mx).sum(1)) + (mx[:, 0] - l64[np.arange(len(y)), y])
        for v in per:
            self.loss_sum += float(v)

    def class_acc(self, c):
        t = int(self.confusion[c].sum())
        return float(self.confusion[c, c]) / t if t else float("nan")

    def result(self):
        n = self.n
        accs = [self.class_acc(c) for c in range(self.C)]
        ok = [a for a in accs if not math.isnan(a)]
        return {"n_images": n, "top1": self.top1 / n if n else float("nan"),
                "top5": self.top5 / n if n else float("nan"), "top5_k": min(self.C, 5),
                "loss": self.loss_sum / n if n else float("nan"),
                "mean_class_acc": sum(ok) / len(ok) if ok else float("nan"),
                "classes": [{"name": self.names[c], "images": int(self.confusion[c].sum()), "accuracy": accs[c]}
                            for c in range(self.C)]}


# ---------------------------------------------------------------- metrics
BETA2 = 0.3
BINS = 256


def _fbeta(tp, fp, n_fg):
    """metrics.c fbeta, element-wise on float64 arrays (same operations, same order)."""
    tp, fp = np.asarray(tp, np.float64), np.asarray(fp, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, r = tp / (tp + fp), tp / n_fg
        f = (1.0 + BETA2) * p * r / (BETA2 * p + r)
    return np.where(tp > 0, f, 0.0)


def image_stats(pred, gt):
    """ev_metrics_image_stats: (fg hist, bg hist, adp_tp, adp_fp, abs_err) of one map."""
    p = np.asarray(pred, np.float32).ravel()
    g = np.asarray(gt, np.float32).ravel() > np.float32(0.5)
    ok = ~np.isnan(p)
    mn = p[ok].min() if ok.any() else np.float32(np.inf)
    mx = p[ok].max() if ok.any() else np.float32(-np.inf)
    rng = np.float32(mx - mn) if mx > mn else np.float32(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (p - mn) / rng if rng > 0 else p.copy()
    s = np.where(s >= 0, s, np.float32(0)).astype(np.float32)  # also NaN -> 0
    s = np.minimum(s, np.float32(1))
    s64 = s.astype(np.float64)
    total = np.cumsum(s64)[-1]                       # sequential double sums, like the C loop
    abs_err = np.cumsum(np.abs(s64 - g))[-1]
    q = np.minimum((s * np.float32(255.0)).astype(np.int64), 255)
    fg = np.bincount(q[g], minlength=BINS)
    bg = np.bincount(q[~g], minlength=BINS)
    thr = min(2.0 * total / float(p.size), 1.0)
    hit = s64 >= thr
    return fg, bg, int((hit & g).sum()), int((hit & ~g).sum()), float(abs_err)


class Metrics:
    """ev_metrics: sums over images of MAE, adaptive F and F_t, P_t, R_t (t = 0..255)."""

    def __init__(self):
        self.n, self.mae_sum, self.adp_f_sum = 0, 0.0, 0.0
        self.f_sum, self.p_sum, self.r_sum = (np.zeros(BINS) for _ in range(3))

    def add(self, pred, gt):
        fg, bg, adp_tp, adp_fp, abs_err = image_stats(pred, gt)
        n_fg, npix = float(fg.sum()), float(fg.sum() + bg.sum())
        tp = np.cumsum(fg[::-1])[::-1].astype(np.float64)  # TP(t) = sum over q >= t
        fp = np.cumsum(bg[::-1])[::-1].astype(np.float64)
        self.f_sum += _fbeta(tp, fp, n_fg)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.p_sum += np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            self.r_sum += tp / n_fg if n_fg > 0 else np.zeros(BINS)
        self.mae_sum += abs_err / npix
        self.adp_f_sum += float(_fbeta(adp_tp, adp_fp, n_fg))
        self.n += 1

    def result(self):
        """ev_metrics_result as a dict (mae, adaptive_f, max_f, mean_f, max_f_threshold, n_images)."""
        if self.n == 0:
            return {"n_images": 0, "mae": 0.0, "adaptive_f": 0.0, "max_f": 0.0, "mean_f": 0.0, "max_f_threshold": 0}
        f = self.f_sum / float(self.n)
        best, best_t, total = -1.0, 0, 0.0
        for t in range(BINS):
            total += float(f[t])
            if f[t] > best:
                best, best_t = float(f[t]), t
        return {"n_images": self.n, "mae": self.mae_sum / self.n, "adaptive_f": self.adp_f_sum / self.n,
                "max_f": best, "mean_f": total / BINS, "max_f_threshold": best_t}
