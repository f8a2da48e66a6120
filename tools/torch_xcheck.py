#!/usr/bin/python3
"""PyTorch side of evonet's network-level cross-check (tests/test_torch_xcheck.c).

  torch_xcheck.py NET.safetensors BATCH.safetensors OUT.safetensors
                  [--lr LR] [--momentum M] [--weight-decay WD] [--fg-weight W] [--eps E]

NET is an evonet network file; BATCH holds "input" (N, C, H, W) and "target": (N, H, W) in
[0, 1] for a saliency network, (N) class indices (as floats) for a classification network,
whose loss is the cross-entropy of its (N, classes, 1, 1) logits and whose "prob" is the
softmax over the classes (N, classes). With the network in training mode, torch's conv2d, conv_transpose2d, max_pool2d,
interpolate (bilinear), batch_norm, relu, cat and cross_entropy run forward and backward;
OUT receives "loss", "prob" (softmax channel 1), every parameter's gradient
("<layer>.weight.grad", ".bias.grad", ".bn.weight.grad", ".bn.bias.grad"), the batch-norm
running statistics after the forward, and the parameters after one masked step of SGD
("<name>.sgd") and, from the same start, of Adam ("<name>.adam"): gradients masked before
the step and weights re-masked after it, as evonet's fused optimisers do. The same in
float64 under "<name>@f64": how far torch's own float32 is from it tells the test how
well-conditioned each quantity is (batch norm over 8 values can amplify rounding a lot).
In float64 also, for every ReLU and max-pool, where its gradient goes ("kink.*", see
record_kinks): a value within rounding of a ReLU's 0 or of its window's runner-up can land
on the other side in float32, and the gradient then takes another path; the test checks
that evonet's paths are torch's or differ only at such near-ties.
"""
import argparse, sys
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import torch_common as tc  # noqa: E402
import safetensors_torch  # noqa: E402


def record_kinks(net, arch):
    """Forward hooks that fill a dict, on the next forward, with each piecewise-linear
    decision and its distance from the other choice, relative to the tensor's RMS (NCHW):
      kink.<conv>.relu, .relu_margin    pre-activation > 0 (1 or 0), |pre-activation|
      kink.<pool>.argmax, .gap          flat index iy*W + ix of the window's first maximum
                                        (max_pool2d's rule), its maximum minus the runner-up
    """
    out = {}

    def rms(v):
        return v.pow(2).mean().sqrt().clamp_min(1e-30)

    def relu_hook(name):
        def hook(mod, inp, pre):
            pre = pre.detach()
            out[f"kink.{name}.relu"] = (pre > 0).to(pre.dtype)
            out[f"kink.{name}.relu_margin"] = pre.abs() / rms(pre)
        return hook

    def pool_hook(name, k, s, p):
        def hook(mod, inp, y):
            x = inp[0].detach()
            _, idx = F.max_pool2d(x, k, s, p, return_indices=True)
            if k * k > 1:  # each window's values in the columns, padding -inf
                cols = F.unfold(F.pad(x, (p, p, p, p), value=float("-inf")).flatten(0, 1).unsqueeze(1), k, stride=s)
                top = cols.topk(2, dim=1).values
                gap = (top[:, 0] - top[:, 1]).reshape(y.shape)
            else:
                gap = torch.full_like(y, float("inf"))
            out[f"kink.{name}.argmax"] = idx.to(x.dtype)
            out[f"kink.{name}.gap"] = gap / rms(x)
        return hook

    for L in arch["layers"]:
        if L["op"] in ("conv", "deconv", "fc") and tc.act_kind(L) in ("relu", "leaky_relu"):  # a kink at 0
            m = net.mods[L["name"]]
            (m.bn if L.get("bn") else m.conv).register_forward_hook(relu_hook(L["name"]))
        elif tc.act_kind(L) != "none" and L["op"] not in ("conv", "deconv", "fc"):
            raise SystemExit(f"torch_xcheck: an activation after {L['op']} ({L['name']}) is not recorded")
        if L["op"] == "maxpool":
            net.mods[L["name"]].register_forward_hook(pool_hook(L["name"], L["k"], L["stride"], L["pad"]))
    return out


def run(net_path, batch, args, dtype=torch.float32):
    """One forward/backward, then one masked SGD and one masked Adam step, each from the same
    weights and gradients."""
    arch, _ = tc.read_network_file(net_path)
    net = tc.Net(arch)
    tc.load_weights(net, net_path)
    net.to(dtype)
    net.train()
    x, t = batch["input"].to(dtype), batch["target"].to(dtype)
    kinks = record_kinks(net, arch) if dtype == torch.float64 else {}
    logits = net(x)
    if arch.get("task") == "classification":
        loss = F.cross_entropy(logits.flatten(1), t.long())
        prob = F.softmax(logits.detach().flatten(1), 1)
    else:
        weight = torch.tensor([1.0, args.fg_weight], dtype=dtype)
        loss = F.cross_entropy(logits, (t > 0.5).long(), weight=weight)
        prob = F.softmax(logits.detach(), 1)[:, 1]
    net.zero_grad()
    loss.backward()
    out = {"loss": loss.detach().reshape(1), "prob": prob.contiguous(), **kinks}
    for name, m in net.conv_layers():
        out[f"{name}.weight.grad"] = m.conv.weight.grad.clone()
        out[f"{name}.bias.grad"] = m.conv.bias.grad.clone()
        if hasattr(m, "bn"):
            out[f"{name}.bn.weight.grad"] = m.bn.weight.grad.clone()
            out[f"{name}.bn.bias.grad"] = m.bn.bias.grad.clone()
            out[f"{name}.bn.running_mean"] = m.bn.running_mean.clone()
            out[f"{name}.bn.running_var"] = m.bn.running_var.clone()
    net.mask_grads()
    params = list(net.parameters())
    start = [(q.detach().clone(), q.grad.clone()) for q in params]
    for optimizer in ("sgd", "adam"):
        with torch.no_grad():  # both steps from the same weights and gradients
            for q, (w0, g0) in zip(params, start):
                q.copy_(w0)
                q.grad = g0.clone()
        if optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=args.lr, eps=args.eps, weight_decay=args.weight_decay)
        opt.step()
        net.apply_masks()
        for name, m in net.conv_layers():
            out[f"{name}.weight.{optimizer}"] = m.conv.weight.detach().clone()
            out[f"{name}.bias.{optimizer}"] = m.conv.bias.detach().clone()
            if hasattr(m, "bn"):
                out[f"{name}.bn.weight.{optimizer}"] = m.bn.weight.detach().clone()
                out[f"{name}.bn.bias.{optimizer}"] = m.bn.bias.detach().clone()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("net")
    ap.add_argument("batch")
    ap.add_argument("out")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--fg-weight", type=float, default=1.0)
    ap.add_argument("--eps", type=float, default=1e-8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    batch, _ = tc.read_safetensors(args.batch)
    out = {}
    for dtype, tag in ((torch.float32, ""), (torch.float64, "@f64")):
        out.update({k + tag: v for k, v in run(args.net, batch, args, dtype).items()})
    safetensors_torch.save(args.out, {k: v.float() for k, v in out.items()})


if __name__ == "__main__":
    main()
