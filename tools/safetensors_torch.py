#!/usr/bin/python3
"""Reads or writes safetensors files with PyTorch, following the format's specification
(8-byte little-endian header size, JSON header, raw little-endian data), the same way
`safetensors.torch.load_file` does; Debian 12 does not package the safetensors module.

  safetensors_torch.py read FILE          prints {name: [shape, sum, first value]} as JSON
  safetensors_torch.py vgg16 FILE SEED    writes random VGG16 conv weights under
                                          torchvision's names (features.N.weight/bias)
"""
import json, struct, sys
import torch

DT = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}


def load(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = bytearray(raw[8 + n:])
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        t = torch.frombuffer(data[a:b], dtype=DT[e["dtype"]]) if b > a else torch.zeros(0, dtype=DT[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def save(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        b = t.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    if sys.argv[1] == "read":
        ts, meta = load(sys.argv[2])
        print(json.dumps({"meta": meta, "tensors": {k: [list(v.shape), float(v.double().sum()),
                                                        float(v.flatten()[0]) if v.numel() else 0.0]
                                                    for k, v in ts.items()}}))
    elif sys.argv[1] == "vgg16":
        g = torch.Generator().manual_seed(int(sys.argv[3]))
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        ts, cin, idx = {}, 3, 0
        for v in cfg:  # torchvision.models.vgg16().features indices
            if v == "M":
                idx += 1
                continue
            ts[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3, generator=g) * 0.1
            ts[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.1
            cin, idx = v, idx + 2
        ts["classifier.0.weight"] = torch.randn(4, 8, generator=g)  # present in real files; ignored
        save(sys.argv[2], ts)
    else:
        sys.exit("usage: safetensors_torch.py read FILE | vgg16 FILE SEED")


if __name__ == "__main__":
    main()
