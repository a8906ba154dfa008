"""Data sets in VSPW's layout and the VSPW metrics, as the project reads and scores them (dataset/, eval/metrics.ts).

    ROOT/data/<video>/origin/<frame>.jpg   frames, in sorted name order
    ROOT/data/<video>/mask/<frame>.png     palette PNGs whose index is the value
    ROOT/<split>.txt                       one video a line
    ROOT/dataset.json                      optional: {"labels": "vspw" | "identity", "numClasses": C[, "ignore": v]}

Label values map to class ids as dataset/labels.ts says: "vspw" ignores 0 and 255 and makes v = 1..C class
v - 1 (VSPW's own values; assumed when dataset.json is absent, 124 classes); "identity" keeps 0..C-1 and
ignores its `ignore` value (255 by default). IGNORE = 255 after mapping.
"""
import json
import os

import numpy as np
from PIL import Image

IGNORE = 255
VSPW_SPEC = {"labels": "vspw", "numClasses": 124}


def label_spec(root):
    f = os.path.join(root, "dataset.json")
    return json.load(open(f)) if os.path.exists(f) else dict(VSPW_SPEC)


def to_class_table(spec):
    """raw value (0..255) -> class id or IGNORE (-1 for values the declaration does not allow)."""
    c = spec["numClasses"]
    t = np.full(256, -1, np.int64)
    if spec["labels"] == "vspw":
        t[0] = t[255] = IGNORE
        t[1 : c + 1] = np.arange(c)
    else:
        t[: c] = np.arange(c)
        t[spec.get("ignore", IGNORE)] = IGNORE
    return t


def to_raw(classes, spec):
    """class ids (or IGNORE) -> the data set's own values, to write predictions as the data set's masks."""
    raw = classes + 1 if spec["labels"] == "vspw" else classes.copy()
    raw[classes == IGNORE] = 255 if spec["labels"] == "vspw" else spec.get("ignore", IGNORE)
    return raw.astype(np.uint8)


def videos(root, split):
    with open(os.path.join(root, f"{split}.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def frames(root, video):
    """The frame names of a video (file names without .jpg), sorted."""
    d = os.path.join(root, "data", video, "origin")
    return sorted(n[: -len(".jpg")] for n in os.listdir(d) if n.endswith(".jpg"))


def read_frame(root, video, frame):
    """uint8 RGB [H, W, 3]."""
    return np.asarray(Image.open(os.path.join(root, "data", video, "origin", f"{frame}.jpg")).convert("RGB"))


def read_mask(root, video, frame):
    """The raw mask values [H, W] (uint8), or None when the frame has no mask."""
    f = os.path.join(root, "data", video, "mask", f"{frame}.png")
    if not os.path.exists(f):
        return None
    im = Image.open(f)
    if im.mode not in ("P", "L"):
        raise ValueError(f"{f}: a mask must be a palette or grey PNG whose index is the value, got mode {im.mode}")
    return np.asarray(im)


def voc_palette():
    """The PASCAL VOC colour map (bit-interleaved index), as dataset/image.ts vocPalette."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(7, -1, -1):
            r |= (c & 1) << j
            g |= ((c >> 1) & 1) << j
            b |= ((c >> 2) & 1) << j
            c >>= 3
        pal += [r, g, b]
    return pal


def write_mask(path, values):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im = Image.fromarray(values, mode="P")
    im.putpalette(voc_palette())
    im.save(path)


class Metrics:
    """mIoU over classes present in the ground truth, and VC_n over windows i = 0 .. L-n-1 (eval/metrics.ts)."""

    def __init__(self, num_classes):
        self.k = num_classes
        self.confusion = np.zeros((num_classes, num_classes), np.int64)
        self.vc = {8: [], 16: []}

    def add_frame(self, pred, gt):
        keep = gt != IGNORE
        self.confusion += np.bincount(gt[keep] * self.k + pred[keep], minlength=self.k * self.k).reshape(self.k, self.k)

    def add_video(self, preds, raw_gts):
        """Class-id predictions and raw ground-truth values of every frame of one video, in order."""
        p, g = np.stack(preds), np.stack(raw_gts)
        for n in self.vc:
            for i in range(len(g) - n):
                stable_gt = (g[i + 1 : i + n] == g[i]).all(0)
                stable_pred = (p[i + 1 : i + n] == p[i]).all(0)
                if stable_gt.sum():
                    self.vc[n].append((stable_gt & stable_pred).sum() / stable_gt.sum())

    def result(self):
        m = self.confusion
        gt, pred, tp = m.sum(1), m.sum(0), np.diag(m)
        present = gt > 0
        iou = np.where(present, tp / np.maximum(gt + pred - tp, 1), np.nan)
        # NaN (no window, no class) is null, as JSON.stringify writes it in eval/run.js's metrics line.
        mvc = {n: float(np.mean(v)) if v else None for n, v in self.vc.items()}
        return {"mIoU": float(np.nanmean(iou)) if present.any() else None, "mVC8": mvc[8], "mVC16": mvc[16], "perClassIoU": [None if np.isnan(v) else float(v) for v in iou], "pixels": int(gt.sum())}
