"""Predict a split with a project checkpoint in PyTorch, as `node eval/run.js` does with its defaults.

    /usr/bin/python3 interop/torch/predict.py --checkpoint CK --data D [--split val] --out PRED [--device cpu|cuda]

Writes PRED/<video>/<frame>.png in the data set's own values (as eval/run.js --out), prints per-video
progress and, last, one JSON line of metrics (mIoU, mVC8, mVC16 as VSPW defines them; docs/METHODS.md §8).
Inference as eval/predict.ts's 'whole' mode: each frame resized (bilinear) so its shorter side is the
checkpoint's baseSize (sides rounded to the patch size), class scores at 1/4 of that, upsampled
bilinearly to the frame and reduced by argmax; a temporal model sees the pair [t-1, t] (the first frame
is its own context).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vspw  # noqa: E402
from student import frame_tensor, load_student  # noqa: E402


def input_size(config, h, w):
    """eval/predict.ts inputSize at scale 1."""
    s = config["baseSize"] / min(h, w) if config.get("baseSize", 0) > 0 else 1
    p = config["patch"]
    side = lambda n: max(p, round(n * s / p) * p)  # noqa: E731
    return side(h), side(w)


@torch.no_grad()
def predict_video(model, frames):
    """Class ids [H, W] for each uint8 RGB frame of one video, in order."""
    c = model.config
    out = []
    prev = None
    for rgb in frames:
        x = frame_tensor(rgb).to(next(model.parameters()).device)
        h, w = x.shape[2:]
        size = input_size(c, h, w)
        if tuple(size) != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if c.get("temporal"):
            low = model(torch.cat([prev if prev is not None else x, x]), clip=2)["logits_low"][1:]
        else:
            low = model(x)["logits_low"]
        prev = x
        scores = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
        out.append(scores.argmax(1)[0].cpu().numpy())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", str(torch.get_num_threads()))))
    model, metadata = load_student(a.checkpoint)
    model.eval().to(a.device)
    spec = json.loads(metadata["labels"]) if "labels" in metadata else vspw.label_spec(a.data)
    table = vspw.to_class_table(spec)
    metrics = vspw.Metrics(model.config["numClasses"])
    names = vspw.videos(a.data, a.split)
    for i, video in enumerate(names):
        frames = vspw.frames(a.data, video)
        preds = predict_video(model, [vspw.read_frame(a.data, video, f) for f in frames])
        raw_gts = []
        for f, pred in zip(frames, preds):
            vspw.write_mask(os.path.join(a.out, video, f"{f}.png"), vspw.to_raw(pred, spec))
            raw = vspw.read_mask(a.data, video, f)
            if raw is not None:
                gt = table[raw]
                if (gt < 0).any():
                    raise ValueError(f"{a.data}/data/{video}/mask/{f}.png: value {int(raw[gt < 0][0])} is not allowed by the labels declaration {spec}")
                metrics.add_frame(pred, gt)
                raw_gts.append(raw)
        if len(raw_gts) == len(frames):
            metrics.add_video(preds, raw_gts)
        print(f"video {i + 1}/{len(names)} {video}: {len(frames)} frames", file=sys.stderr)
    print(json.dumps(metrics.result()))


if __name__ == "__main__":
    main()
