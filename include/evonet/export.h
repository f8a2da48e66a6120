/* Export of a network to ONNX, for runtimes evonet did not write (ONNX Runtime, OpenCV's dnn
 * module, TensorRT, OpenVINO, ncnn's converters).
 *
 * The graph is the network as it is: a compacted offspring exports at its own (smaller)
 * channel counts, masked synapses are zeros in dense tensors, batch norm is folded into the
 * convolution before it (as evonet's own inference does), ReLU is a node of its own.
 *   input  "image":         float32 (N, in_channels, H, W), N dynamic; evonet's
 *                           normalisation: RGB (v/255 - mean) / std, ImageNet mean
 *                           (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
 *   output "probabilities": float32 (N, classes, H, W), the softmax over the classes
 *                           (channel 1 of the saliency network is the saliency map)
 * Opset 13, IR version 7. Ops: Conv, ConvTranspose, MaxPool, Resize (linear,
 * half-pixel: PyTorch's align_corners=False), Concat, Add, Relu, Softmax.
 * Encoded with protobuf-c against the ONNX schema (third_party/onnx/onnx.proto); a build
 * without protobuf-c has no exporter and says what to install. */
#ifndef EVONET_EXPORT_H
#define EVONET_EXPORT_H
#include <stdbool.h>

#include "evonet/weights.h"

/* true when this build can write ONNX. */
bool ev_onnx_available(void);

/* Writes `w` for an h x w input to `path` (atomically: temp file, fsync, rename). A layer
 * the export cannot express (e.g. a resize whose factor is not a whole-number ratio of the
 * sizes) is a one-line EV_ERR_ARG naming it. */
ev_status ev_export_onnx(const ev_net_weights *w, int h, int wd, const char *path);
#endif
