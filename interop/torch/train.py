"""Continue training a project checkpoint in PyTorch, on one machine or many (DistributedDataParallel).

    python3 -m torch.distributed.run --nproc_per_node N interop/torch/train.py \\
        --init CK --data D --steps S --out RUN [--batch 4] [--lr 1e-3] [--warmup 0] [--labeled-every 8] [--seed 0]

(Debian's torch 1.13 under Python 3.11 cannot parse torch.distributed.run's default --redirects and --tee:
add `--redirects 1 --tee 1` before the script; newer torch needs nothing.)

Writes RUN/model.safetensors (the project's format, with the checkpoint's config, classes and labels:
`node eval/run.js --checkpoint RUN/model.safetensors` and the browser page load it) and RUN/metrics.jsonl.
gloo on CPUs, NCCL on GPUs (one per process). The supervised recipe of `node train/run.js`:

- labeled frames: every --labeled-every-th frame of each training video (the frames Node labels);
- augmentation (train/images.ts): shorter side to the model's baseSize, random rescale in [0.75, 4/3],
  pad (mean colour, labels ignored) and random crop to the model's imageSize, flip, colour jitter
  (p 0.8: brightness, contrast, saturation in [0.8, 1.2], hue +-0.2 turn, as one colour matrix), Gaussian
  blur (p 0.5, MIC's kernel, sigma in [0.15, 1.15]);
- loss: cross-entropy weighted by 1/sqrt(class frequency) (from up to 400 labeled frames), restricted to
  OHEM's pixels (probability of the label < 0.7, at least the hardest 10%);
- AdamW (weight decay 0.01 on every parameter, as the engine's), poly decay (power 0.9) after --warmup.

What differs: the random draws (another generator), the global batch (N processes x --batch), OHEM's
quantile (exact here; the engine estimates it from 2048 pixels), and the learning-rate schedule restarts
at --lr (a continued run; Node's checkpoint.json schedule is not followed). Semi-supervised methods are not
ported: continue those runs in Node.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vspw  # noqa: E402
from student import MEAN, STD, frame_tensor, load_student, save_student  # noqa: E402

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 grey (torchvision's rgb_to_grayscale)
GREY0 = sum(w * m for w, m in zip(LUMA, MEAN))  # the grey of the normalisation mean, the contrast centre


def colour_map(b, c, s, hue):
    """The RGB map of brightness b, contrast c (about GREY0), saturation s, hue rotation (turns) as train/images.ts colourMap."""
    m, t = np.eye(3), np.zeros(3)
    for a, off in ((b * np.eye(3), np.zeros(3)), (c * np.eye(3), np.full(3, (1 - c) * GREY0)), (s * np.eye(3) + (1 - s) * np.tile(LUMA, (3, 1)), np.zeros(3))):
        m, t = a @ m, a @ t + off
    th = 2 * math.pi * hue
    cs, q, w = math.cos(th), math.sin(th) / math.sqrt(3), (1 - math.cos(th)) / 3
    r = np.array([[cs + w, w - q, w + q], [w + q, cs + w, w - q], [w - q, w + q, cs + w]])
    return r @ m, r @ t


def jitter(x, rng):
    """The colour map applied to a normalised image [1,3,H,W]: a 1x1 convolution in normalised space."""
    m, t = colour_map(rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(-0.2, 0.2))
    mean, std = np.array(MEAN), np.array(STD)
    weight = m * std[None, :] / std[:, None]
    bias = (m @ mean + t - mean) / std
    return F.conv2d(x, torch.tensor(weight, dtype=x.dtype).view(3, 3, 1, 1), torch.tensor(bias, dtype=x.dtype))


def blur(x, sigma):
    """MIC's Gaussian blur: an odd kernel of ceil(0.1 * width) (at least 3), reflect borders."""
    h, w = x.shape[2:]
    side = max(3, math.ceil(0.1 * w) | 1)
    r = min(side // 2, h - 1, w - 1)
    if r < 1:
        return x
    k = torch.exp(-((torch.arange(-r, r + 1, dtype=x.dtype)) ** 2) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)


def augment(rgb, labels, config, rng):
    """One sample: normalised image [3,H,W] and class ids [H,W] (255 ignored), cropped to config's imageSize."""
    x = frame_tensor(rgb)
    y = torch.as_tensor(labels, dtype=torch.float32)[None, None]
    h0, w0 = x.shape[2:]
    s = rng.uniform(0.75, 4 / 3) * (config["baseSize"] / min(h0, w0) if config.get("baseSize", 0) > 0 else 1)
    h, w = max(1, round(h0 * s)), max(1, round(w0 * s))
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    y = F.interpolate(y, size=(h, w), mode="nearest")
    ch, cw = config["imageSize"]
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
        x, y = F.pad(x, pads, value=0.0), F.pad(y, pads, value=255.0)
    top, left = rng.randrange(x.shape[2] - ch + 1), rng.randrange(x.shape[3] - cw + 1)
    x, y = x[:, :, top : top + ch, left : left + cw], y[:, :, top : top + ch, left : left + cw]
    if rng.random() < 0.5:
        x, y = x.flip(3), y.flip(3)
    if rng.random() < 0.8:
        x = jitter(x, rng)
    if rng.random() < 0.5:
        x = blur(x, rng.uniform(0.15, 1.15))
    return x[0], y[0, 0].long()


def ohem_weight(logits, labels, weight):
    """Class weights kept where the label's probability is < 0.7, and at least the hardest 10% of pixels (train/ohem.ts)."""
    with torch.no_grad():
        loss = F.cross_entropy(logits, labels, ignore_index=255, reduction="none").flatten()
        k = max(1, round(0.1 * loss.numel()))
        kth = loss.topk(k).values[-1]
        keep = loss >= torch.minimum(kth, torch.tensor(-math.log(0.7)))
    return weight * keep.view_as(weight).float()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="a project checkpoint (model.safetensors)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=4, help="frames per process and step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--labeled-every", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    a = ap.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "2"))))
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed * 1000 + rank)  # each process draws its own frames and augmentations

    model, metadata = load_student(a.init)
    model.to(device).train()
    for p in model.repr.parameters():  # U2PL's representation head: not in the supervised loss (DDP wants every trained parameter used)
        p.requires_grad_(False)
    spec = json.loads(metadata["labels"]) if "labels" in metadata else vspw.label_spec(a.data)
    table = vspw.to_class_table(spec)
    labeled = [(v, f) for v in vspw.videos(a.data, "train") for i, f in enumerate(vspw.frames(a.data, v)) if i % a.labeled_every == 0]
    labeled = [(v, f) for v, f in labeled if os.path.exists(os.path.join(a.data, "data", v, "mask", f"{f}.png"))]
    if not labeled:
        sys.exit(f"{a.data}: no labeled training frames (every {a.labeled_every}th frame with a mask)")
    counts = np.zeros(model.config["numClasses"])
    for v, f in labeled[:: max(1, len(labeled) // 400)]:
        gt = table[vspw.read_mask(a.data, v, f)]
        counts += np.bincount(gt[gt != 255], minlength=len(counts))
    freq = counts / counts.sum()
    raw = np.where(counts > 0, 1 / np.sqrt(np.maximum(freq, 1e-30)), 0)
    raw[counts == 0] = raw.max()
    class_weight = torch.tensor(raw / (freq * raw).sum(), dtype=torch.float32, device=device)

    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) if distributed else model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    lr_at = lambda t: a.lr * t / a.warmup if t < a.warmup else a.lr * (1 - min(1, (t - a.warmup) / max(1, a.steps - a.warmup))) ** 0.9  # noqa: E731
    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        log = open(os.path.join(a.out, "metrics.jsonl"), "w")
        print(f"{len(labeled)} labeled frames; {world} process(es) x batch {a.batch}; {a.steps} steps from {a.init}", flush=True)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        samples = [augment(vspw.read_frame(a.data, v, f), table[vspw.read_mask(a.data, v, f)], model.config, rng) for v, f in (rng.choice(labeled) for _ in range(a.batch))]
        images = torch.stack([s[0] for s in samples]).to(device)
        labels = torch.stack([s[1] for s in samples]).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step - 1)
        logits = ddp(images)["logits"]
        weight = ohem_weight(logits, labels, class_weight[labels.clamp(max=len(class_weight) - 1)] * (labels != 255))
        per_pixel = F.cross_entropy(logits, labels, ignore_index=255, reduction="none")
        loss = (per_pixel * weight).sum() / weight.sum().clamp(min=1e-12)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.detach().clone()
        if distributed:
            dist.all_reduce(value)
            value /= world
        if rank == 0:
            log.write(json.dumps({"step": step, "loss": float(value), "lr": lr_at(step - 1)}) + "\n")
            log.flush()
            if step % a.log_every == 0 or step == a.steps:
                rate = step / (time.time() - t0)
                print(f"step {step}/{a.steps}  loss {float(value):.4f}  lr {lr_at(step - 1):.2e}  {rate:.2f} steps/s  ETA {(a.steps - step) / rate:.0f}s", flush=True)
    if rank == 0:
        save_student(os.path.join(a.out, "model.safetensors"), model, {**metadata, "step": str(int(metadata.get("step", "0")) + a.steps)})
        print(f"wrote {os.path.join(a.out, 'model.safetensors')}", flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
