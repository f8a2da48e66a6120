#!/usr/bin/env python3
"""Tiny classification datasets in the three formats evonet reads, for the shell tests:
  make_class_data.py idx DIR N_TRAIN N_TEST [--gz]   MNIST-style IDX files, 28x28 grey, 10 classes
  make_class_data.py cifar DIR N_PER_BATCH N_TEST     CIFAR-10 binary batches, 32x32 RGB, 10 classes
  make_class_data.py folder DIR N_PER_CLASS SIZE      ImageFolder train/ val/ test/, 3 classes, PNG
Images are noise plus a class-dependent bright bar (class k: rows 2k..2k+2, scaled to the side), so a
small network learns them in an epoch or two; labels cycle through the classes. Stdlib only."""
import gzip
import os
import random
import struct
import sys
import zlib


def image(k, side, channels, rnd):
    px = bytearray(rnd.randrange(0, 60) for _ in range(side * side * channels))
    r0 = (2 * k * side) // 28
    for y in range(r0, min(side, r0 + max(2, side // 10))):
        for x in range(side // 8, side - side // 8):
            for c in range(channels):
                px[(y * side + x) * channels + c] = 200 + rnd.randrange(0, 55)
    return bytes(px)


def write_idx(path, magic_dims, payload, gz):
    data = struct.pack(">I", magic_dims[0]) + b"".join(struct.pack(">I", d) for d in magic_dims[1:]) + payload
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def idx(root, n_train, n_test, gz):
    os.makedirs(root, exist_ok=True)
    rnd = random.Random(11)
    for name, n in (("train", n_train), ("t10k", n_test)):
        labels = [i % 10 for i in range(n)]
        rnd.shuffle(labels)
        imgs = b"".join(image(k, 28, 1, rnd) for k in labels)
        write_idx(os.path.join(root, f"{name}-images-idx3-ubyte"), (0x803, n, 28, 28), imgs, gz)
        write_idx(os.path.join(root, f"{name}-labels-idx1-ubyte"), (0x801, n), bytes(labels), gz)


def cifar(root, n_per_batch, n_test):
    os.makedirs(root, exist_ok=True)
    rnd = random.Random(12)
    for name, n in [(f"data_batch_{i}.bin", n_per_batch) for i in range(1, 6)] + [("test_batch.bin", n_test)]:
        out = bytearray()
        for i in range(n):
            k = rnd.randrange(10)
            hwc = image(k, 32, 3, rnd)
            out.append(k)
            for c in range(3):  # planes R, G, B
                out += bytes(hwc[p * 3 + c] for p in range(32 * 32))
        with open(os.path.join(root, name), "wb") as f:
            f.write(out)


def png(path, side, rgb):
    raw = b"".join(b"\x00" + rgb[y * side * 3:(y + 1) * side * 3] for y in range(side))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def folder(root, n_per_class, side):
    rnd = random.Random(13)
    for split, n in (("train", n_per_class), ("val", max(1, n_per_class // 4)), ("test", max(1, n_per_class // 4))):
        for k, cls in enumerate(("ant", "bee", "cat")):
            d = os.path.join(root, split, cls)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                png(os.path.join(d, f"{cls}{i:03d}.png"), side, image(3 * k, side, 3, rnd))


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    if kind == "idx":
        idx(root, int(sys.argv[3]), int(sys.argv[4]), "--gz" in sys.argv)
    elif kind == "cifar":
        cifar(root, int(sys.argv[3]), int(sys.argv[4]))
    elif kind == "folder":
        folder(root, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown kind {kind}")
