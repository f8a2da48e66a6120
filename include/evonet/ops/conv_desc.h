/* Geometry of a convolution or transposed convolution (shared by all conv passes). */
#ifndef EVONET_OPS_CONV_DESC_H
#define EVONET_OPS_CONV_DESC_H

typedef struct {
  int cin, cout;         /* conv2d: in/out channels. transposed: the deconv's in/out channels */
  int kh, kw;
  int stride_h, stride_w; /* >= 1 */
  int pad_h, pad_w;       /* >= 0 */
  int dil_h, dil_w;       /* >= 1 */
  int out_pad_h, out_pad_w; /* transposed conv only: 0 <= out_pad < max(stride, dil) */
} ev_conv_desc;

/* conv2d:    out = (in + 2*pad - dil*(k-1) - 1) / stride + 1   (PyTorch's rule) */
static inline int ev_conv_out_size(int in, int k, int stride, int pad, int dil) {
  int span = in + 2 * pad - dil * (k - 1) - 1; /* < 0: the window does not fit once */
  return span < 0 ? 0 : span / stride + 1;
}
/* transposed: out = (in-1)*stride - 2*pad + dil*(k-1) + out_pad + 1 */
static inline int ev_deconv_out_size(int in, int k, int stride, int pad, int dil, int out_pad) {
  return (in - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
}
#endif
