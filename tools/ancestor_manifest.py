#!/usr/bin/python3
"""Writes the manifest of a shipped generation-1 ancestor (assets/ancestors/<name>/): how it was
trained (command, seed, data, commit), its sha256, and its val and test metrics as `evonet eval`
measures them. tests/test_ancestor.sh checks the file against it.

  tools/ancestor_manifest.py DIR COMMAND COMMIT TRAIN_LOG
    DIR        folder holding net.safetensors; manifest.json is written beside it
    COMMAND    the exact command that trained it (run from the repository root)
    COMMIT     the commit it was trained at
    TRAIN_LOG  its training output (the wall time is read from `time`'s "real" line if present)
"""
import hashlib, json, os, re, subprocess, sys, tempfile


def evaluate(evonet, weights, split):
    out = subprocess.run([evonet, "eval", "--weights", weights, "--split", split, "--json"], check=True,
                         capture_output=True, text=True).stdout
    m = json.loads(out)
    return {k: m[k] for k in ("images", "max_f", "mean_f", "adaptive_f", "mae")}, m


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    d, command, commit, log = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    evonet = os.path.join(root, "build", "evonet")
    net = os.path.join(d, "net.safetensors")
    sha = hashlib.sha256(open(net, "rb").read()).hexdigest()
    val, _ = evaluate(evonet, net, "val")
    test, full = evaluate(evonet, net, "test")
    wall = None
    for line in open(log, errors="replace"):
        m = re.match(r"real\s+(\S+)", line)
        if m:
            wall = m.group(1)
    manifest = {
        "file": "net.safetensors",
        "sha256": sha,
        "command": command,
        "recipe": "evonet train's defaults: width 0.125, batch norm, 128x128, 60 epochs, Adam lr 1e-3 with a cosine "
                  "schedule, batch 8, flips, crops and colour augmentation",
        "seed": 1,
        "data": "assets/data/default (the built-in dataset: 1600 train / 100 val / 100 test)",
        "commit": commit,
        "trained_on": full["device"] + ", a 2-vCPU VM",
        "wall_time": wall,
        "synapses": full["synapses"],
        "val": val,
        "test": test,
        "tolerance": "metrics as evonet eval prints them (6 decimals) on lavapipe; another device sums in another "
                     "order: tests/test_ancestor.sh allows 0.002 there",
    }
    fd, tmp = tempfile.mkstemp(dir=d)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(d, "manifest.json"))
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
