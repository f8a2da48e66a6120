#!/usr/bin/python3
"""Writes the fuzz targets' seed inputs into tests/fuzz/corpus/: a tiny network file with
every kind of layer (conv with batch norm, max-pool, transposed conv, upsample, concat,
add), its architecture JSON, small PNG/BMP/JPEG images, and IDX / CIFAR-10 files (gzip too)
for fuzz_classes. Run from the repository root:
    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import gzip
import io
import json
import os
import struct

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = np.random.default_rng(7)


def conv(name, inp, out, k, stride=1, pad=0, dil=1, relu=True, bn=False, op="conv", out_pad=None):
    d = {"name": name, "op": op, "in": [inp], "out": out, "k": k, "stride": stride, "pad": pad,
         "dil": dil, "relu": relu, "bn": bn}
    if out_pad is not None:
        d["out_pad"] = out_pad
    return d


ARCH = {
    "input": {"channels": 3}, "classes": 2,
    "layers": [
        conv("c1", "input", 2, 3, pad=1, bn=True),
        {"name": "p1", "op": "maxpool", "in": ["c1"], "k": 2, "stride": 2, "pad": 0},
        conv("d1", "p1", 2, 4, stride=2, pad=1, op="deconv", out_pad=0),
        {"name": "u1", "op": "upsample", "in": ["p1"], "like": "input"},
        {"name": "cat", "op": "concat", "in": ["d1", "u1"]},
        {"name": "sum", "op": "add", "in": ["d1", "c1"]},
        conv("score", "cat", 2, 1, relu=False),
    ],
    "output": "score",
}
# (layer, cin, out, k, bn, transposed)
PARAMS = [("c1", 3, 2, 3, True, False), ("d1", 2, 2, 4, False, True), ("score", 4, 2, 1, False, False)]


def safetensors(tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, arr in tensors:
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def network_file():
    t = []
    for name, cin, out, k, bn, tr in PARAMS:
        shape = (cin, out, k, k) if tr else (out, cin, k, k)
        t.append((f"{name}.weight", rng.standard_normal(shape)))
        t.append((f"{name}.bias", rng.standard_normal(out)))
        t.append((f"{name}.mask", (rng.random(shape) < 0.7).astype(np.float32)))
        if bn:
            for f in ("weight", "bias", "running_mean"):
                t.append((f"{name}.bn.{f}", rng.standard_normal(out)))
            t.append((f"{name}.bn.running_var", rng.random(out) + 0.5))
    meta = {"evonet.architecture": json.dumps(ARCH, separators=(",", ":")),
            "evonet.state": json.dumps({"epoch": 1})}
    return safetensors(t, meta)


def image(fmt, mode):
    a = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(a).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


write("fuzz_weights", "seed_tiny_network.safetensors", network_file())
write("fuzz_net_json", "seed_tiny_arch.json", json.dumps(ARCH).encode())
write("fuzz_image", "seed_rgb.png", image("PNG", "RGB"))
write("fuzz_image", "seed_gray.png", image("PNG", "L"))
write("fuzz_image", "seed_rgb.bmp", image("BMP", "RGB"))
write("fuzz_image", "seed_rgb.jpg", image("JPEG", "RGB"))
write("fuzz_image", "seed_gray.jpg", image("JPEG", "L"))


# fuzz_classes: the first byte picks the file (0 IDX images, 1 IDX labels, 2 CIFAR-10 batch);
# its own generator, so the seeds above stay as they are
crng = np.random.default_rng(11)


def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + crng.integers(1, 256, n * h * w, dtype=np.uint8).tobytes()


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + crng.integers(0, 10, n, dtype=np.uint8).tobytes()


def cifar_batch(n):
    return b"".join(bytes([int(crng.integers(0, 10))]) + crng.integers(1, 256, 3072, dtype=np.uint8).tobytes()
                    for _ in range(n))


write("fuzz_classes", "seed_idx_images", b"\x00" + idx_images(13, 3, 4))
write("fuzz_classes", "seed_idx_images_gz", b"\x00" + gzip.compress(idx_images(13, 3, 4), mtime=0))
write("fuzz_classes", "seed_idx_labels", b"\x01" + idx_labels(13))
write("fuzz_classes", "seed_idx_labels_gz", b"\x01" + gzip.compress(idx_labels(13), mtime=0))
write("fuzz_classes", "seed_cifar_batch", b"\x02" + cifar_batch(2))
