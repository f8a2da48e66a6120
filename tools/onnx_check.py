#!/usr/bin/python3
"""An exported network in two runtimes evonet did not write, against evonet's own answer.

    tools/onnx_check.py MODEL.onnx PREFIX [TOL]

PREFIX.input.f32 (N, C, S, S) and PREFIX.prob.f32 come from tests/onnx_ref: the inputs and
evonet's probabilities, (N, S, S) class-1 for a saliency network, (N, classes) for a
classification network (whose output is (N, classes, 1, 1)). The model must pass onnx.checker (full check,
with shape inference), load in OpenCV's dnn module, and give the same probabilities within
TOL (default 1e-4, absolute). Prints one line; exit 0 pass, 1 fail, 77 if onnx or cv2 is
missing (Debian: python3-onnx, python3-opencv)."""
import os
import sys

try:
    import numpy as np
    import onnx
    import cv2
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)


def main():
    model, prefix = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    m = onnx.load(model)
    onnx.checker.check_model(m, full_check=True)
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    c, s = dims[1], dims[2]
    out = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    classify = out[2:] == [1, 1] and s > 1
    x = np.fromfile(prefix + ".input.f32", dtype="<f4").reshape(-1, c, s, s)
    want = np.fromfile(prefix + ".prob.f32", dtype="<f4").reshape((-1, out[1]) if classify else (-1, s, s))
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(x)
    y = net.forward()
    if y.shape != ((x.shape[0], out[1], 1, 1) if classify else (x.shape[0], 2, s, s)):
        print(f"FAIL {os.path.basename(model)}: OpenCV output shape {y.shape}")
        return 1
    err = float(np.abs((y.reshape(want.shape) if classify else y[:, 1]) - want).max())
    ok = err <= tol and np.allclose(y.sum(axis=1), 1, atol=1e-5)
    print(f"{'ok' if ok else 'FAIL'} {os.path.basename(model)}: onnx.checker passed, OpenCV {cv2.__version__} "
          f"dnn vs evonet on {x.shape[0]} inputs {s}x{s}: max |diff| {err:.2e} (tolerance {tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
