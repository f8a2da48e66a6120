#!/usr/bin/python3
"""The PyTorch peer of `evonet train` / `evonet bench train` / `evonet eval`: the same network
(from an architecture description, an evonet network file's architecture JSON, or the paper's
net at a width), the same initial weights, data, recipe and metrics, on the CPU, so the two
can be compared in one run. Saliency networks (image/mask pairs) and classification networks
("task": "classification": IDX, CIFAR-10 or ImageFolder sets) alike.

  torch_peer.py train --data DIR (--arch SPEC | --width W [--bn] | --init FILE) [--size S]
                      --epochs E --batch B --optimizer sgd|adam --lr LR --momentum M
                      --weight-decay WD --schedule const|step|cosine [--warmup K] --seed N
                      --threads T --out DIR [--init FILE | --init-vgg16 FILE]
  torch_peer.py bench (--arch SPEC | --width W [--bn]) [--size S] --batch B --steps K --threads T [--device cuda]
  torch_peer.py eval  --data DIR --split test --weights FILE [--size S]

  SPEC: an evonet network file, a description JSON, or a shipped one's name (lenet5,
  fmnist_cnn, fmnist_vgg, cifar_vgg11 in assets/archs). --size: default the network's own
  input size ("input": {"size"}), else 128. --data fashion-mnist / mnist: /usr/share/datasets/.
  E.g. fmnist_cnn as `evonet train --arch fmnist_cnn --data fashion-mnist --epochs 15 --batch
  128 --lr 1e-3 --save-init init.safetensors` trains it:
    torch_peer.py train --init init.safetensors --data fashion-mnist --epochs 15 --batch 128
                        --optimizer adam --lr 1e-3 --schedule cosine --seed 1 --threads 2 --out DIR

The recipe, spelled out (what evonet's C trainer does; tests/test_torch_peer*.sh check it):
  data       epoch e (0-based) visits the train split in ev_epoch_order(n, seed, e), whole
             batches only. Saliency: sample i gets the crop/flip/colour of ev_aug_draw(seed,
             e, i) (crop of 75-100% of the side, bilinear resize to S×S, horizontal flip);
             ImageNet mean/std. Classification: ev_class_sample, bit for bit: the image
             (resized to S×S when its size differs) shifted by (dx, dy) of ev_class_aug_draw
             (pad 2 IDX, 4 CIFAR-10, S/8 ImageFolder; value-0 pixels outside), mirrored by
             its flip, (v/255 - mean)/std with the per-channel statistics of the whole
             training file (ImageFolder: ImageNet's); val = the last floor(n/12) of the
             training file, train the rest, test the test file.
  init       --init FILE: that network file's weights, biases, masks, BN statistics (alone,
             also its architecture); else He normal exactly as ev_weights_init_he(seed)
             (biases 0, BN gamma 1 beta 0); --init-vgg16 additionally loads torchvision
             VGG16 features into c1_1..c5_3.
  loss       saliency: mean over pixels of the cross-entropy of the logits, target = mask >
             0.5; classification: mean over images of the cross-entropy of the logits.
  masks      gradients and weights of conv/deconv/fc layers are multiplied by their mask
             after each backward pass / optimizer step, so removed synapses stay exactly 0.
  optimizer  sgd: PyTorch SGD (buf = M*buf + g + WD*w; w -= lr*buf); adam: PyTorch Adam
             (betas 0.9/0.999, eps 1e-8, L2 weight decay added to the gradient; --momentum
             unused). Weight decay applies to every parameter (weights, biases, BN gamma/beta).
  schedule   ev_lr_at at pos = epoch + batch/T (T = steps per epoch), rounded to float:
             warm-up  lr * (0.1 + 0.9 pos/K) for pos < K (--warmup K epochs)
             const    lr;   step  lr * gamma^floor(pos / step_every) (--step-gamma 0.1,
             --step-every 10, evonet's fixed values);   cosine  lr * (1 + cos(pi t)) / 2,
             t = min(1, (pos - K) / (E - K)).
  batch norm PyTorch's BatchNorm2d (eps 1e-5, running-statistics momentum 0.1, unbiased
             running var); batch statistics in training, running ones in evaluation.
  evaluation saliency map = softmax(logits)[class 1] at S×S against the S×S resized mask,
             metrics of src/report/metrics.c (MAE, adaptive F, max-F, mean-F; β² = 0.3).
             Classification: ev_class_metrics on the logits: top-1, top-5 (ties to the lower
             class), mean cross-entropy, per-class accuracy and its mean.
  speed      train img/s: B / (forward + loss + backward + step) per step, median over the
             steps (data loading excluded; the per-epoch line also gives img/s including it).
             inference img/s: B / (forward [+ softmax]) in eval mode without autograd, median.
             On a shared machine, T > 1 threads collapse (10x) whenever another process takes
             a core (OpenMP spin-waits at every barrier); OMP_WAIT_POLICY=PASSIVE softens
             that at a few % of speed on an idle machine.
  output     OUT/final.safetensors (an evonet network file), OUT/summary.json ({"summary",
             "epochs", "args"}; classification summaries add top1, top5 and loss of the test
             split, each epoch its first_step_loss and val top-1/loss) and the summary as the
             last line of stdout.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common as tc  # noqa: E402
from torch_common import PeerError  # noqa: E402

PROG = "torch_peer.py"
ARCHS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "archs")


# ---------------------------------------------------------------- the network of a run
def read_arch(spec):
    """(architecture, its path) of --arch: a network file (its "evonet.architecture"), a JSON
    description, or the bare name of a shipped one (assets/archs/<name>.json), as evonet's
    --arch takes it."""
    path = spec
    if "/" not in spec and ".json" not in spec and not os.path.exists(spec):
        path = os.path.join(ARCHS, spec + ".json")
        if not os.path.isfile(path):
            raise PeerError(f"no architecture '{spec}': neither a file nor one of the shipped specs in {ARCHS}")
    if not os.path.isfile(path):
        raise PeerError(f"cannot open {path}: no such file")
    with open(path, "rb") as f:
        head = f.read(1)
    if head != b"{":  # a network file (safetensors starts with its header length)
        return tc.read_network_file(path)[0], path
    try:
        with open(path, "rb") as f:
            a = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise PeerError(f"{path}: network description is not valid JSON ({e})")
    try:
        return tc.normalize_arch(a), path
    except PeerError as e:
        raise PeerError(f"{path}: {e}")


def settle_size(args, arch):
    """--size, else the network's own input size, else 128 (cli_settle_size)."""
    if args.size is None:
        args.size = arch["input"].get("size") or 128
    return args.size


def build_net(args):
    """Net from --arch / --init / --width, with initial weights; (net, architecture source)."""
    init = getattr(args, "init", None)
    if args.arch and args.width is not None:
        raise PeerError("give either --arch or --width, not both")
    if args.width is not None:
        arch = tc.saliency_vgg(args.width, args.bn)
        src = f"saliency width {args.width:g}{' bn' if args.bn else ''}"
    elif args.arch:
        arch, src = read_arch(args.arch)
    elif init:  # --init alone: its own architecture
        arch, _ = tc.read_network_file(init)
        src = init
    else:
        raise PeerError("no network: give --arch FILE or --width W")
    tc.infer_shapes(arch, settle_size(args, arch), args.size)
    net = tc.Net(arch)
    tc.init_he(net, getattr(args, "seed", 0))
    if init:
        tc.load_weights(net, init)
    if getattr(args, "init_vgg16", None):
        tc.load_vgg16(net, args.init_vgg16)
    return net, src


def check_task(net, ds):
    """ev_check_task: the network's task, classes and input channels fit the dataset."""
    classify = tc.is_classifier(net.arch)
    if classify != isinstance(ds, tc.ClassDataset):
        raise PeerError(f"a {'classification' if classify else 'saliency'} network needs "
                        f"{'labelled images' if classify else 'images with masks'}, and this dataset holds "
                        f"{'labelled images' if isinstance(ds, tc.ClassDataset) else 'images with masks'}")
    if classify and ds.classes != net.arch["classes"]:
        raise PeerError(f"the network has {net.arch['classes']} classes and the dataset {ds.classes}")
    if classify and ds.channels != net.arch["input"]["channels"]:
        raise PeerError(f"the network takes {net.arch['input']['channels']} input channels and the dataset's "
                        f"images have {ds.channels}")


def live_synapses(net):
    return int(sum(int((m.mask != 0).sum()) for _, m in net.conv_layers()))


def to_memory_format(net, args):
    if getattr(args, "channels_last", False):
        net.to(memory_format=torch.channels_last)


def prep_input(x, args):
    return x.contiguous(memory_format=torch.channels_last) if getattr(args, "channels_last", False) else x


# ---------------------------------------------------------------- optimizer and schedule
def make_optimizer(net, args):
    params = [p for p in net.parameters() if p.requires_grad]
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    return torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)


def lr_at(args, step, steps_per_epoch):
    """Learning rate of optimizer step `step` (0-based): ev_lr_at at pos = epoch + batch/T, in
    double, rounded to float as evonet passes it to the optimiser."""
    T, E, W = steps_per_epoch, args.epochs, args.warmup_epochs
    pos = step // T + (step % T) / T
    lr = float(np.float32(args.lr))
    if W > 0 and pos < W:  # linear from lr/10
        return float(np.float32(lr * (0.1 + 0.9 * pos / W)))
    if args.schedule == "step":
        lr *= float(np.float32(args.step_gamma)) ** math.floor(pos / (args.step_every if args.step_every > 0 else 1))
    elif args.schedule == "cosine":
        span = E - W
        t = min((pos - W) / span if span > 0 else 1.0, 1.0)
        lr *= 0.5 * (1 + math.cos(math.pi * t))
    return float(np.float32(lr))


def compute_loss(logits, target, classify):
    """Mean cross-entropy: over images of the (N, classes) logits against the labels
    (classification), or over pixels against mask > 0.5 (saliency)."""
    if classify:
        return F.cross_entropy(logits.flatten(1), target)
    return F.cross_entropy(logits, (target > 0.5).long())


def train_step(net, opt, x, target, classify=False):
    logits = net(x)
    loss = compute_loss(logits, target, classify)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    net.mask_grads()
    opt.step()
    net.apply_masks()
    return loss


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def saliency(net, x):
    return torch.softmax(net(x), 1)[:, 1]


@torch.no_grad()
def evaluate(net, ds, args):
    """Metrics over a split (no augmentation, dataset order, last batch kept) and the median
    inference img/s over its batches: saliency metrics, or classification ones (top-1, top-5,
    mean loss, per-class accuracy) from the logits, BN in eval mode (running statistics)."""
    net.eval()
    classify = isinstance(ds, tc.ClassDataset)
    met = tc.ClassMetrics(ds.classes, ds.class_names) if classify else tc.Metrics()
    speeds = []
    for x, m, _ in ds.batches(args.batch):
        x = prep_input(x, args)
        t0 = time.perf_counter()
        s = net(x).flatten(1) if classify else saliency(net, x)
        speeds.append(x.shape[0] / (time.perf_counter() - t0))
        if classify:
            met.add(s.numpy(), m.numpy())
            continue
        s, m = s.numpy(), m.numpy()
        for i in range(s.shape[0]):
            met.add(s[i], m[i])
    r = met.result()
    r["infer_img_s"] = statistics.median(speeds)
    return r


CLASS_FIELDS = ("n_images", "top1", "top5", "top5_k", "loss", "mean_class_acc")


def metric_fields(r, per_class=True):
    if "top1" in r:
        return {k: r[k] for k in CLASS_FIELDS + (("classes",) if per_class else ())}
    return {k: r[k] for k in ("n_images", "mae", "adaptive_f", "max_f", "mean_f", "max_f_threshold")}


def score_text(r):
    if "top1" in r:
        return f"top-1 {100 * r['top1']:.2f} %  loss {r['loss']:.4f}"
    return f"max-F {r['max_f']:.4f}  MAE {r['mae']:.4f}"


# ---------------------------------------------------------------- subcommands
def cmd_train(args):
    net, src = build_net(args)
    to_memory_format(net, args)
    classify = tc.is_classifier(net.arch)
    train = tc.open_dataset(args.data, "train", args.size, args.layout)
    check_task(net, train)
    what = "images" if classify else "pairs"
    if len(train) < args.batch:
        raise PeerError(f"the dataset has {len(train)} training {what}, fewer than one batch of {args.batch}")
    try:
        val = tc.open_dataset(args.data, "val", args.size, args.layout)
    except PeerError as e:  # DUTS has no val split; a missing val split is not fatal
        print(f"note: no validation split ({e})", flush=True)
        val = None
    test = tc.open_dataset(args.data, args.test_split, args.size, args.layout)
    os.makedirs(args.out, exist_ok=True)
    opt = make_optimizer(net, args)
    T = len(train) // args.batch
    print(f"torch peer: {src}, {live_synapses(net):,} synapses, {len(train)} train {what}"
          f"{f', {len(val)} val' if val is not None else ''}, {T} steps/epoch, {args.size}x{args.size}, "
          f"batch {args.batch}, {args.optimizer} lr {args.lr:g} ({args.schedule}), {torch.get_num_threads()} threads",
          flush=True)
    step, step_speeds, history = 0, [], []
    for epoch in range(args.epochs):
        net.train()
        loss_sum, n_steps, t_epoch, speeds, first = 0.0, 0, time.perf_counter(), [], None
        for x, m, _ in train.batches(args.batch, args.seed, epoch, augment=not args.no_augment, shuffle=True,
                                     drop_last=True):
            for g in opt.param_groups:
                g["lr"] = lr_at(args, step, T)
            x = prep_input(x, args)
            t0 = time.perf_counter()
            loss = train_step(net, opt, x, m, classify)
            speeds.append(args.batch / (time.perf_counter() - t0))
            loss = float(loss)
            if not math.isfinite(loss):
                raise PeerError(f"the loss became {loss} at epoch {epoch + 1} step {n_steps + 1}; "
                                "lower --lr (or use --warmup)")
            first = loss if first is None else first
            loss_sum, n_steps, step = loss_sum + loss, n_steps + 1, step + 1
        epoch_img_s = n_steps * args.batch / (time.perf_counter() - t_epoch)
        step_speeds += speeds
        rec = {"epoch": epoch + 1, "loss": loss_sum / n_steps, "first_step_loss": first,
               "lr": opt.param_groups[0]["lr"], "train_img_s": statistics.median(speeds),
               "train_img_s_with_data": epoch_img_s}
        line = f"epoch {epoch + 1}/{args.epochs}  loss {rec['loss']:.4f}  lr {rec['lr']:.3g}"
        if val is not None:
            r = evaluate(net, val, args)
            rec.update(val=metric_fields(r, False), infer_img_s=r["infer_img_s"])
            line += "  val " + score_text(r)
        line += f"  train {rec['train_img_s']:.1f} img/s ({epoch_img_s:.1f} with data)"
        print(line, flush=True)
        history.append(rec)
    r = evaluate(net, test, args)
    weights = os.path.join(args.out, "final.safetensors")
    tc.save_weights(net, weights, {"evonet.producer": "tools/torch_peer.py"})
    train_img_s = statistics.median(step_speeds)
    summary = {"test": metric_fields(r), "split": args.test_split, "train_img_s_median": train_img_s,
               "infer_img_s": r["infer_img_s"], "final_loss": history[-1]["loss"], "epochs": args.epochs,
               "synapses": live_synapses(net), "threads": torch.get_num_threads(), "size": args.size,
               "batch": args.batch, "weights": weights, "torch": torch.__version__}
    if classify:
        summary.update(top1=r["top1"], top5=r["top5"], loss=r["loss"])
        print(f"test ({r['n_images']} images): top-1 {100 * r['top1']:.2f} %  top-5 {100 * r['top5']:.2f} %  "
              f"loss {r['loss']:.4f}  mean class accuracy {100 * r['mean_class_acc']:.2f} %  |  "
              f"{train_img_s:.1f} train img/s (median of steps)", flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"summary": summary, "epochs": history, "args": vars(args)}, f, indent=1)
    print(json.dumps(summary), flush=True)


def cmd_bench(args):
    net, src = build_net(args)
    dev, sync = tc.bench_device(args.device)  # a training step's float(loss) waits by itself
    net.to(dev)
    to_memory_format(net, args)
    classify = tc.is_classifier(net.arch)
    g = torch.Generator().manual_seed(args.seed)
    x = prep_input(torch.randn(args.batch, net.arch["input"]["channels"], args.size, args.size,
                               generator=g).to(dev), args)
    if classify:
        m = torch.randint(0, net.arch["classes"], (args.batch,), generator=g).to(dev)
    else:
        m = (torch.rand(args.batch, args.size, args.size, generator=g) > 0.7).float().to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    net.train()
    train_t = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        float(train_step(net, opt, x, m, classify))
        if i >= args.warmup:
            train_t.append(time.perf_counter() - t0)
    net.eval()
    infer_t = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        with torch.no_grad():
            net(x) if classify else saliency(net, x)
        sync()
        if i >= args.warmup:
            infer_t.append(time.perf_counter() - t0)
    tm, im = statistics.median(train_t), statistics.median(infer_t)
    print(json.dumps({"net": src, "task": "classification" if classify else "saliency",
                      "synapses": live_synapses(net), "size": args.size, "batch": args.batch,
                      "steps": args.steps, "warmup": args.warmup, "threads": torch.get_num_threads(),
                      "channels_last": bool(args.channels_last), "device": str(dev),
                      "train_img_s": args.batch / tm, "train_ms_per_step": 1e3 * tm,
                      "infer_img_s": args.batch / im, "infer_ms_per_batch": 1e3 * im,
                      "train_img_s_min": args.batch / max(train_t), "train_img_s_max": args.batch / min(train_t),
                      "torch": torch.__version__}), flush=True)


def cmd_eval(args):
    arch, _ = tc.read_network_file(args.weights)
    tc.infer_shapes(arch, settle_size(args, arch), args.size)
    net = tc.Net(arch)
    tc.load_weights(net, args.weights)
    to_memory_format(net, args)
    ds = tc.open_dataset(args.data, args.split, args.size, args.layout)
    check_task(net, ds)
    r = evaluate(net, ds, args)
    out = metric_fields(r)
    out.update(split=args.split, infer_img_s=r["infer_img_s"], synapses=live_synapses(net), size=args.size,
               threads=torch.get_num_threads())
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- command line
class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def positive(kind):
    def parse(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{s}' is not a {'whole ' if kind is int else ''}number")
        if not v > 0:
            raise argparse.ArgumentTypeError(f"'{s}' must be > 0")
        return v
    return parse


def non_negative(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a number")
    if not v >= 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{s}' must be >= 0")
    return v


def parse_args(argv):
    p = Parser(prog=PROG, description="PyTorch peer of evonet train / bench / eval (see the module docstring).")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    def net_opts(q):
        q.add_argument("--arch", metavar="FILE", help="evonet network file (its architecture), a network description "
                       "JSON, or a shipped one's name (lenet5, fmnist_cnn, fmnist_vgg, cifar_vgg11)")
        q.add_argument("--width", type=positive(float), help="the paper's saliency net at this width multiplier")
        q.add_argument("--bn", action="store_true", help="with --width: batch norm after every conv")

    def common(q, batch_default):
        q.add_argument("--size", type=positive(int), default=None,
                       help="input side S (default: the network's own input size, else 128)")
        q.add_argument("--batch", type=positive(int), default=batch_default)
        q.add_argument("--threads", type=positive(int), default=len(os.sched_getaffinity(0)),
                       help="torch threads (default: all cores)")
        q.add_argument("--channels-last", action="store_true", help="NHWC memory format (often faster on CPU)")

    t = sub.add_parser("train", help="train, evaluate, save")
    net_opts(t)
    common(t, 8)
    t.add_argument("--data", required=True, metavar="DIR", help="dataset folder; fashion-mnist and mnist name "
                   "/usr/share/datasets/<name>")
    t.add_argument("--layout", default="auto", help="auto, generic, msra-b, hku-is, duts, idx, cifar10, imagefolder")
    t.add_argument("--epochs", type=positive(int), required=True)
    t.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    t.add_argument("--lr", type=positive(float), required=True)
    t.add_argument("--momentum", type=non_negative, default=0.9)
    t.add_argument("--weight-decay", type=non_negative, default=0.0)
    t.add_argument("--schedule", choices=("const", "step", "cosine"), default="const")
    t.add_argument("--warmup", "--warmup-epochs", dest="warmup_epochs", type=non_negative, default=0.0,
                   help="epochs of linear warm-up from lr/10 (evonet's --warmup)")
    t.add_argument("--step-every", type=positive(int), default=10, help="step schedule: epochs per decay (default 10)")
    t.add_argument("--step-gamma", type=positive(float), default=0.1, help="step schedule: decay factor")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument("--init", metavar="FILE", help="initial weights (an evonet network file; alone, also the architecture)")
    t.add_argument("--init-vgg16", metavar="FILE", help="torchvision VGG16 weights (safetensors) for c1_1..c5_3")
    t.add_argument("--no-augment", action="store_true", help="no random crop/flip")
    t.add_argument("--test-split", default="test", help="split evaluated at the end (default test)")

    b = sub.add_parser("bench", help="training and inference images/s on random data")
    net_opts(b)
    common(b, 8)
    b.add_argument("--steps", type=positive(int), default=10)
    b.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--device", default="cpu", help="cpu (default) or cuda (fp32, TF32 off, cuDNN benchmark mode)")

    e = sub.add_parser("eval", help="metrics of a network file on a split")
    common(e, 8)
    e.add_argument("--data", required=True, metavar="DIR")
    e.add_argument("--layout", default="auto")
    e.add_argument("--split", default="test")
    e.add_argument("--weights", required=True, metavar="FILE")

    a = p.parse_args(argv)
    if a.cmd == "train":
        if a.warmup_epochs > a.epochs:
            p.error(f"--warmup-epochs {a.warmup_epochs:g} is longer than --epochs {a.epochs}")
    if a.cmd == "bench" and a.warmup < 0:
        p.error("--warmup must be >= 0")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(getattr(args, "seed", 0))
    try:
        {"train": cmd_train, "bench": cmd_bench, "eval": cmd_eval}[args.cmd](args)
    except PeerError as e:
        sys.stderr.write(f"{PROG} {args.cmd}: error: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
