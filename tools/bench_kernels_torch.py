#!/usr/bin/python3
"""PyTorch (CPU or CUDA, fp32) counterpart of `evonet bench kernels`: the same layer shapes and
passes, GFLOP/s = 2*MACs/time, median of --reps runs; each run times --inner calls of one
pass and divides. Run with /usr/bin/python3 (the interpreter that has torch). With
--device cuda the GPU is synchronised around each run, TF32 is off (true fp32, as evonet)
and cuDNN picks its fastest algorithm per shape (benchmark mode) during the warm-up.

  forward      torch.nn.functional.conv2d / conv_transpose2d (with bias)
  input-grad   torch.autograd.grad(y, x, dy)  (x requires grad, weight does not)
  weight-grad  torch.autograd.grad(y, (w, b), dy)  (weight and bias gradients)
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from torch_common import bench_device

# name, transposed, N, Cin, Cout, H(=W) of the pass's x, kernel, stride, padding
SHAPES = [
    ("conv 3x3 64->64 @64x64", False, 8, 64, 64, 64, 3, 1, 1),
    ("conv 3x3 128->128 @32x32", False, 8, 128, 128, 32, 3, 1, 1),
    ("conv 3x3 256->256 @16x16", False, 8, 256, 256, 16, 3, 1, 1),
    ("deconv 4x4 s2 128->64 @16->32", True, 8, 128, 64, 16, 4, 2, 1),
]


def layer(transposed, stride, pad):
    if transposed:
        return lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=pad)
    return lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pad)


def time_pass(fn, reps, inner, sync):
    for _ in range(3):  # warm-up (allocations, kernel choice)
        fn()
    sync()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        t.append((time.perf_counter() - t0) / inner)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (default: torch's own choice; this machine has "
                         f"{os.cpu_count()} CPUs)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev, sync = bench_device(a.device)
    if dev.type == "cuda":
        where = (f"{torch.cuda.get_device_name(dev)} fp32 (TF32 off), cuDNN "
                 f"{torch.backends.cudnn.version()}")
    else:
        where = (f"CPU fp32, {torch.get_num_threads()} threads, "
                 f"mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"torch {torch.__version__} {where}; N=8; median of {a.reps} runs, "
          f"{a.inner} calls per run, host-timed\n")
    print(f"{'layer':<31} {'GFLOP':>8} | {'forward':>22} | {'input-grad':>22} | {'weight-grad':>22}")
    print(f"{'':<31} {'':>8} | {'ms':>10} {'GFLOP/s':>11} | {'ms':>10} {'GFLOP/s':>11} | {'ms':>10} {'GFLOP/s':>11}")
    for name, tr, n, cin, cout, hw, k, s, p in SHAPES:
        f = layer(tr, s, p)
        x = torch.rand(n, cin, hw, hw, device=dev) - 0.5
        w = torch.rand(*((cin, cout) if tr else (cout, cin)), k, k, device=dev) - 0.5
        b = torch.rand(cout, device=dev) - 0.5
        with torch.no_grad():
            y = f(x, w, b)
        dy = torch.rand_like(y) - 0.5
        ho, wo = y.shape[2], y.shape[3]
        macs = cin * cout * k * k * n * (hw * hw if tr else ho * wo)
        gflop = 2.0 * macs / 1e9

        def fwd():
            with torch.no_grad():
                f(x, w, b)

        xg = x.clone().requires_grad_(True)
        yx = f(xg, w, b)

        def bwd_data():
            torch.autograd.grad(yx, xg, dy, retain_graph=True)

        wg, bg = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
        yw = f(x, wg, bg)

        def bwd_weight():
            torch.autograd.grad(yw, (wg, bg), dy, retain_graph=True)

        row = f"{name:<31} {gflop:8.3f} |"
        for fn in (fwd, bwd_data, bwd_weight):
            t = time_pass(fn, a.reps, a.inner, sync)
            row += f" {t * 1e3:10.2f} {gflop / t:11.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
