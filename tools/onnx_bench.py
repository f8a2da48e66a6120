#!/usr/bin/python3
"""ONNX size and OpenCV-dnn CPU speed of every generation of an evolve run, beside evonet's
own inference, in the same run, interleaved.

    tools/onnx_bench.py RUN_DIR [--evonet build/evonet] [--rounds 5] [--batch 8] [--size 128]

For each selected generation in RUN_DIR/report.json: `evonet export` writes RUN_DIR/<gen>/
net.onnx; then, round after round, each generation is timed in OpenCV's dnn module (batch
--batch, median of 10 forwards after 2 warm-ups, random normalised input) and by
`evonet eval --json` (its infer_ms_per_image: batch 8, median of 5 forwards). Prints a
markdown table of medians over the rounds (ms per image) and writes RUN_DIR/onnx_bench.json."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np


def gens(run):
    with open(os.path.join(run, "report.json")) as f:
        rep = json.load(f)
    out = []
    for r in rep["records"]:
        if r.get("selected"):
            d = "gen1" if r["generation"] == 1 else f"gen{r['generation']}_o{r['offspring']}"
            out.append((r["generation"], os.path.join(run, d)))
    return out


def opencv_ms(net, x, reps=10):
    net.setInput(x)
    net.forward()
    net.forward()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        net.setInput(x)
        net.forward()
        t.append((time.perf_counter() - t0) * 1e3 / x.shape[0])
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--evonet", default="build/evonet")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    rows = []
    for g, d in gens(a.run):
        onnx = os.path.join(d, "net.onnx")
        subprocess.run([a.evonet, "export", "--weights", os.path.join(d, "net.safetensors"), "--onnx", onnx,
                        "--size", str(a.size)], check=True, stdout=subprocess.DEVNULL)
        net = cv2.dnn.readNetFromONNX(onnx)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        rows.append({"generation": g, "dir": d, "onnx_bytes": os.path.getsize(onnx), "net": net,
                     "opencv_ms": [], "evonet_ms": []})
    x = np.random.default_rng(1).uniform(-2, 2, (a.batch, 3, a.size, a.size)).astype(np.float32)
    for _ in range(a.rounds):
        for r in rows:
            r["opencv_ms"].append(opencv_ms(r["net"], x))
            out = subprocess.run([a.evonet, "eval", "--weights", os.path.join(r["dir"], "net.safetensors"), "--json",
                                  "--size", str(a.size)], check=True, capture_output=True, text=True).stdout
            e = json.loads(out)
            r["evonet_ms"].append(e["infer_ms_per_image"])
            r["synapses"], r["flops"] = e["synapses"], e["flops"]
    print(f"OpenCV {cv2.__version__} dnn (CPU, {cv2.getNumThreads()} threads) and evonet; batch {a.batch}, "
          f"{a.size}x{a.size}; medians over {a.rounds} interleaved rounds\n")
    print("| generation | live synapses | dense MFLOPs | ONNX kB | OpenCV ms/image | evonet ms/image |")
    print("|---:|---:|---:|---:|---:|---:|")
    res = []
    for r in rows:
        o, e = statistics.median(r["opencv_ms"]), statistics.median(r["evonet_ms"])
        print(f"| {r['generation']} | {r['synapses']:,} | {r['flops'] / 1e6:.1f} | {r['onnx_bytes'] / 1e3:.1f} | "
              f"{o:.2f} | {e:.2f} |")
        res.append({k: r[k] for k in ("generation", "synapses", "flops", "onnx_bytes", "opencv_ms", "evonet_ms")})
    with open(os.path.join(a.run, "onnx_bench.json"), "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
