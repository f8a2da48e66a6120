"""What the PyTorch peer (tools/torch_peer.py) shares with evonet's C side, format by format:

  network description JSON  (include/evonet/net.h, src/nn/net_spec.c, net_shape.c)
  the paper's saliency net  (src/nn/arch_saliency.c), He init (src/nn/weights.c)
  network files             (include/evonet/weights.h, src/nn/weights_io.c)
  datasets and samples      (include/evonet/data.h, src/data/*.c)
  metrics                   (include/evonet/metrics.h, src/report/metrics.c)

Where the C side is deterministic the Python side is meant to give the same numbers: the
architecture JSON is byte-identical to ev_net_to_json, He init and the metrics agree
exactly, the epoch order, crop/flip draws and the bilinear resampling follow the same
float32 arithmetic, and both decode JPEG with libjpeg-turbo, so the batches are identical.
tests/test_torch_peer.sh checks all of it against libevonet.a.

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
OPS = ("conv", "deconv", "maxpool", "upsample", "concat", "add")
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
    returns it in ev_net_to_json's form: defaults filled in, only the keys that op prints."""
    if not isinstance(a, dict) or not isinstance(a.get("layers"), list) or not a["layers"] \
            or not isinstance(a.get("input"), dict) or not isinstance(a.get("output"), str):
        raise PeerError("network description needs 'input', 'layers' and 'output'")

    def num(o, key, dflt):
        v = o.get(key, dflt)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else dflt

    cin, classes = num(a["input"], "channels", 0), num(a, "classes", 2)
    if cin < 1 or classes < 1:
        raise PeerError("network description has bad input channels or classes")
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
            raise PeerError(f"layer {name}: unknown op '{op}'")
        ins = o.get("in")
        if not isinstance(ins, list) or not 1 <= len(ins) <= MAX_IN:
            raise PeerError(f"layer {name}: 'in' must list 1 to {MAX_IN} layers")
        for i in ins:
            if not isinstance(i, str):
                raise PeerError(f"layer {name}: bad input name")
            if i != "input" and i not in seen:
                raise PeerError(f"layer {name}: input '{i}' is not an earlier layer")
        L = {"name": name, "op": op, "in": list(ins)}
        out, k, stride = num(o, "out", 0), num(o, "k", 1), num(o, "stride", 1)
        pad, dil, out_pad = num(o, "pad", 0), num(o, "dil", 1), num(o, "out_pad", 0)
        is_conv = op in ("conv", "deconv")
        if is_conv and (out < 1 or k < 1 or stride < 1 or pad < 0 or dil < 1 or len(ins) != 1):
            raise PeerError(f"layer {name}: bad convolution parameters")
        if op == "maxpool" and (k < 1 or stride < 1 or pad < 0 or 2 * pad > k or len(ins) != 1):
            raise PeerError(f"layer {name}: bad pooling parameters")
        if op == "deconv" and (out_pad < 0 or (out_pad >= stride and out_pad >= dil)):
            raise PeerError(f"layer {name}: output padding must be smaller than stride or dilation")
        if is_conv:
            L["out"] = out
        if is_conv or op == "maxpool":
            L.update(k=k, stride=stride, pad=pad)
        if is_conv:
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
    return {"input": {"channels": cin}, "classes": classes, "layers": out_layers, "output": a["output"]}


def arch_json(a):
    """Compact JSON text, byte-identical to ev_net_to_json (cJSON_PrintUnformatted)."""
    return json.dumps(a, separators=(",", ":"))


def conv_out(n, k, stride, pad, dil):
    return (n + 2 * pad - dil * (k - 1) - 1) // stride + 1


def deconv_out(n, k, stride, pad, dil, out_pad):
    return (n - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1


def infer_shapes(a, h, w):
    """{layer name: (c, h, w)} for an h×w input, with ev_net_infer's checks and messages."""
    shp = {"input": (a["input"]["channels"], h, w)}
    for L in a["layers"]:
        ins = [shp[i] for i in L["in"]]
        c0, h0, w0 = ins[0]
        op = L["op"]
        if op == "conv":
            s = (L["out"], conv_out(h0, L["k"], L["stride"], L["pad"], L["dil"]),
                 conv_out(w0, L["k"], L["stride"], L["pad"], L["dil"]))
        elif op == "deconv":
            s = (L["out"], deconv_out(h0, L["k"], L["stride"], L["pad"], L["dil"], L["out_pad"]),
                 deconv_out(w0, L["k"], L["stride"], L["pad"], L["dil"], L["out_pad"]))
        elif op == "maxpool":
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
    if o != (a["classes"], h, w):
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
    """The network of a description: conv/deconv (bias) [-> BatchNorm2d] [-> ReLU], max-pool,
    bilinear upsample (align_corners=False) to another layer's size, concat, add. Each
    conv/deconv has a buffer `mask` (1 keep, 0 removed synapse) shaped like its weight."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self.layers = arch["layers"]
        self.mods = _ByName()
        ch = {"input": arch["input"]["channels"]}
        for L in self.layers:
            c0, op = ch[L["in"][0]], L["op"]
            if op in ("conv", "deconv"):
                cls = nn.Conv2d if op == "conv" else nn.ConvTranspose2d
                kw = dict(output_padding=L["out_pad"]) if op == "deconv" else {}
                m = nn.Module()
                m.conv = cls(c0, L["out"], L["k"], stride=L["stride"], padding=L["pad"], dilation=L["dil"],
                             bias=True, **kw)
                m.register_buffer("mask", torch.ones_like(m.conv.weight))
                if L.get("bn"):
                    m.bn = nn.BatchNorm2d(L["out"])
                self.mods[L["name"]] = m
                ch[L["name"]] = L["out"]
            elif op == "maxpool":
                self.mods[L["name"]] = nn.MaxPool2d(L["k"], L["stride"], L["pad"])
                ch[L["name"]] = c0
            elif op == "concat":
                ch[L["name"]] = sum(ch[i] for i in L["in"])
            else:
                ch[L["name"]] = c0
        if ch[arch["output"]] != arch["classes"]:
            raise PeerError(f"network output {arch['output']} has {ch[arch['output']]} channels, "
                            f"expected {arch['classes']} classes")

    def conv_layers(self):
        """(name, module with .conv, .mask[, .bn]) in description order."""
        return [(L["name"], self.mods[L["name"]]) for L in self.layers if L["op"] in ("conv", "deconv")]

    def forward(self, x):
        v = {"input": x}
        for L in self.layers:
            op, ins = L["op"], [v[i] for i in L["in"]]
            if op in ("conv", "deconv"):
                m = self.mods[L["name"]]
                y = m.conv(ins[0])
                if L.get("bn"):
                    y = m.bn(y)
                y = apply_act(L, y)
            elif op == "maxpool":
                y = self.mods[L["name"]](ins[0])
            elif op == "upsample":
                y = F.interpolate(ins[0], size=v[L["like"]].shape[2:], mode="bilinear", align_corners=False)
            elif op == "concat":
                y = torch.cat(ins, 1)
            else:
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            if op not in ("conv", "deconv"):
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
            if L["op"] not in ("conv", "deconv"):
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
        if L["op"] not in ("conv", "deconv"):
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
        if L["op"] in ("conv", "deconv"):
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
    raise PeerError(f"cannot tell the layout of dataset folder {root}: expected images/ + masks/, imgs/ + gt/, "
                    "DUTS-TR-Image/, or <stem>.jpg + <stem>.png side by side")


def list_pairs(root, split, layout="auto"):
    """[(stem, image path, mask path)] of one split, sorted by stem: ev_dataset_open."""
    if split not in SPLITS:
        raise PeerError(f"unknown split '{split}' (expected train, val, test or all)")
    split = SPLITS[split]
    lay = layout.lower().replace("-", "").replace("_", "")
    names = {"auto": "auto", "generic": "generic", "msrab": "msra-b", "hkuis": "hku-is", "duts": "duts"}
    if lay not in names:
        raise PeerError(f"unknown dataset layout '{layout}' (expected auto, generic, msra-b, hku-is or duts)")
    if not os.path.isdir(root):
        raise PeerError(f"dataset folder {root} does not exist")
    layout = _detect(root) if names[lay] == "auto" else names[lay]
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
