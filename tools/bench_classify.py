#!/usr/bin/python3
"""Training and inference images/s of classification networks, evonet beside the PyTorch peer,
interleaved (evonet, peer 1 thread, peer 2 threads per round), medians over rounds.

  tools/bench_classify.py [--arch lenet5,fmnist_cnn] [--batch 128] [--rounds 3] [--steps 20]

Each figure is what `evonet bench train` / `torch_peer.py bench` print: the median over timed
steps (after warm-up) of batch / (forward + loss + backward + Adam step), and of batch /
(forward + softmax) for inference, on random data of the network's input size. Prints a
Markdown table (for docs/BENCHMARKS.md)."""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="lenet5,fmnist_cnn")
    ap.add_argument("--batch", default="128")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--evonet", default=os.path.join(ROOT, "build", "evonet"))
    a = ap.parse_args()
    rows = []
    for arch in a.arch.split(","):
        spec = arch if "/" in arch else os.path.join(ROOT, "assets", "archs", arch + ".json")
        for batch in a.batch.split(","):
            res = {"evonet": [], "peer 1 thread": [], "peer 2 threads": []}
            for _ in range(a.rounds):
                res["evonet"].append(run([a.evonet, "bench", "train", "--arch", spec, "--batch", batch,
                                          "--steps", str(a.steps), "--json"]))
                for t in (1, 2):
                    res[f"peer {t} thread" + ("s" if t > 1 else "")].append(
                        run(["/usr/bin/python3", os.path.join(ROOT, "tools", "torch_peer.py"), "bench", "--arch", spec,
                             "--batch", batch, "--steps", str(a.steps), "--threads", str(t)]))
            cells = []
            for k, v in res.items():
                tr = statistics.median(r["train_img_s"] for r in v)
                inf = statistics.median(r["infer_img_s"] for r in v)
                cells.append(f"{tr:.0f} / {inf:.0f}")
            rows.append(f"| {arch} | {batch} | " + " | ".join(cells) + " |")
            print(rows[-1], file=sys.stderr, flush=True)
    print("| network | batch | evonet (lavapipe) | peer 1 thread | peer 2 threads |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
