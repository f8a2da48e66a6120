#!/usr/bin/python3
"""same_run.py A B: exit 0 when run folders A and B hold the same results, timings excepted.

The same files (no *.tmp.* left over); report.json, eval.json and report.csv equal but for the
timing fields (run seconds, train_seconds, infer_ms); every .safetensors file with the same
tensors (names, dtypes, shapes, bytes) and the same training state in its metadata but for the
per-epoch seconds; every other file (figures, run.json, report.md aside) byte-identical.
Standard library only. Prints each difference."""
import csv, io, json, os, struct, sys

TIMINGS = {"seconds", "train_seconds", "infer_ms"}


def files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def untimed(v):
    if isinstance(v, dict):
        return {k: untimed(x) for k, x in v.items() if k not in TIMINGS}
    if isinstance(v, list):
        return [untimed(x) for x in v]
    return v


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    meta = {k: untimed(json.loads(v)) if k == "evonet.state" else v for k, v in meta.items()}
    return head, meta, data


def report_csv(path):
    rows = list(csv.reader(io.open(path, newline="")))
    keep = [i for i, k in enumerate(rows[0]) if k not in TIMINGS]
    return [[r[i] for i in keep] for r in rows]


def same(a, b, rel):
    pa, pb = os.path.join(a, rel), os.path.join(b, rel)
    name = os.path.basename(rel)
    if name.endswith(".json") and name != "run.json":
        return untimed(json.load(open(pa))) == untimed(json.load(open(pb)))
    if name == "report.csv":
        return report_csv(pa) == report_csv(pb)
    if name == "report.md":  # its table prints the timings; the numbers are report.json's
        return True
    if name.endswith(".safetensors"):
        return tensors(pa) == tensors(pb)
    return open(pa, "rb").read() == open(pb, "rb").read()


def main():
    a, b = sys.argv[1], sys.argv[2]
    fa, fb = files(a), files(b)
    bad = [f"only in {a}: {f}" for f in sorted(fa - fb)] + [f"only in {b}: {f}" for f in sorted(fb - fa)]
    bad += [f"left over: {f}" for f in sorted(fa | fb) if ".tmp." in f]
    bad += [f"differs: {f}" for f in sorted(fa & fb) if not same(a, b, f)]
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
