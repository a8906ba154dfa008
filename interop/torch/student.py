"""The project's segmentation student (models/student.ts) in PyTorch: the same layers, parameter names and
layouts, so a checkpoint written by `node train/run.js` loads here and one saved here loads in Node.

    image [B,3,H,W] -> conv s2 -> conv s2 -> stem features [B,S,H/4,W/4] ----------------------+
         +-> patch conv (k = stride = P) -> tokens [B,N,C] + position embedding                |
              +-> depth pre-norm transformer blocks, each frame on its own                     |
              +-> [temporal] 1 block over clips [B/T,T*N,C] (+ frame embedding)                |
              +-> LayerNorm -> map [B,C,H/P,W/P] -> 1x1 conv, bilinear up to H/4 -> concat <---+
                   +-> 3x3 conv, GN, ReLU, 3x3 conv, GN, ReLU -> decoder features [B,D,H/4,W/4]
                        +-> 1x1 classifier -> bilinear up to HxW -> logits [B,K,H,W]
                        +-> representation head (3x3 conv, ReLU, 1x1) -> [B,R,H/4,W/4]

Frames are normalised with ImageNet's mean and std (models/input.ts): `frame_tensor`. Bilinear resizes are
F.interpolate(align_corners=False), GELU is the exact (erf) one, LayerNorm's eps 1e-6, GroupNorm's 1e-5, as
in the engine.
"""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from safetensors_io import load, save

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
MAX_CLIP = 4  # rows of the frame-position embedding (models/student.ts)


def frame_tensor(rgb):
    """uint8 RGB [H, W, 3] (numpy or torch) -> normalised float32 [1, 3, H, W]."""
    x = torch.as_tensor(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().unsqueeze(0) / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def groups_of(c):
    """GroupNorm's groups: 8 when they divide c, else the largest divisor below 8 (models/student.ts groupsOf)."""
    g = min(8, c)
    while c % g:
        g -= 1
    return g


class Conv(nn.Module):
    """A 2-D convolution; with `norm`, followed by GroupNorm and without a bias (state: weight, norm.weight, norm.bias)."""

    def __init__(self, cin, cout, k, stride=1, norm=False):
        super().__init__()
        self.stride, self.pad = stride, 0 if stride == k else (k - 1) // 2
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k))
        bound = 1 / math.sqrt(cin * k * k)
        nn.init.uniform_(self.weight, -bound, bound)
        self.bias = None if norm else nn.Parameter(torch.empty(cout).uniform_(-bound, bound))
        self.norm = nn.GroupNorm(groups_of(cout), cout, eps=1e-5) if norm else None

    def forward(self, x):
        y = F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.pad)
        return self.norm(y) if self.norm is not None else y


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(c // self.heads), dim=-1)
        return self.proj((w @ v).transpose(1, 2).reshape(b, t, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        norm = c["norm"] == "group"
        self.reduce = Conv(c["width"], c["decoderDim"], 1)
        self.fuse = nn.ModuleList([Conv(c["decoderDim"] + c["stemDim"], c["decoderDim"], 3, 1, norm), Conv(c["decoderDim"], c["decoderDim"], 3, 1, norm)])
        self.classifier = Conv(c["decoderDim"], c["numClasses"], 1)


class Temporal(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.frame_embed = nn.Parameter(torch.zeros(MAX_CLIP, c["width"]))
        self.block = Block(c["width"], c["heads"], c["mlpRatio"])


class Student(nn.Module):
    """The student for a config dict as checkpoints store it (metadata 'config')."""

    def __init__(self, config):
        super().__init__()
        c = self.config = dict(config)
        c.setdefault("norm", "none")
        c.setdefault("temporal", False)
        c.setdefault("baseSize", 0)
        norm = c["norm"] == "group"
        h, w = c["imageSize"]
        self.stem = nn.ModuleList([Conv(3, c["stemDim"], 3, 2, norm), Conv(c["stemDim"], c["stemDim"], 3, 2, norm)])
        self.patch_embed = nn.Conv2d(3, c["width"], c["patch"], c["patch"])
        self.pos_embed = nn.Parameter(torch.zeros(1, c["width"], h // c["patch"], w // c["patch"]))
        self.blocks = nn.ModuleList([Block(c["width"], c["heads"], c["mlpRatio"]) for _ in range(c["depth"])])
        self.norm = nn.LayerNorm(c["width"], eps=1e-6)
        self.decoder = Decoder(c)
        self.repr = nn.ModuleList([Conv(c["decoderDim"], c["decoderDim"], 3), Conv(c["decoderDim"], c["reprDim"], 1)])
        self.temporal = Temporal(c) if c["temporal"] else None

    def encode(self, image, clip=1):
        """Token map [B, C, H/P, W/P]; `clip` groups consecutive frames for the temporal block."""
        b, _, h, w = image.shape
        p = self.config["patch"]
        gh, gw = h // p, w // p
        pos = self.pos_embed if self.pos_embed.shape[2:] == (gh, gw) else F.interpolate(self.pos_embed, size=(gh, gw), mode="bilinear", align_corners=False)
        x = (self.patch_embed(image) + pos).flatten(2).transpose(1, 2)  # [B, N, C]
        for blk in self.blocks:
            x = blk(x)
        if self.temporal is not None:
            n, c = x.shape[1:]
            clips = (x.reshape(b // clip, clip, n, c) + self.temporal.frame_embed[:clip].view(1, clip, 1, c)).reshape(b // clip, clip * n, c)
            x = self.temporal.block(clips).reshape(b, n, c)
        x = self.norm(x)
        return x.transpose(1, 2).reshape(b, -1, gh, gw)

    def decode(self, tokens, image):
        stem = F.relu(self.stem[1](F.relu(self.stem[0](image))))
        up = F.interpolate(self.decoder.reduce(tokens), size=stem.shape[2:], mode="bilinear", align_corners=False)
        fused = F.relu(self.decoder.fuse[0](torch.cat([up, stem], 1)))
        return F.relu(self.decoder.fuse[1](fused))

    def forward(self, image, clip=1, repr=False):
        """{'logits' [B,K,H,W], 'logits_low' [B,K,H/4,W/4], 'features' [B,D,H/4,W/4], 'repr' (when asked)}."""
        features = self.decode(self.encode(image, clip), image)
        low = self.decoder.classifier(features)
        out = {"logits": F.interpolate(low, size=image.shape[2:], mode="bilinear", align_corners=False), "logits_low": low, "features": features}
        if repr:
            out["repr"] = self.repr[1](F.relu(self.repr[0](features)))
        return out


def load_student(path):
    """(Student with the checkpoint's weights, metadata) from a project checkpoint."""
    tensors, metadata = load(path)
    if "config" not in metadata:
        raise ValueError(f"{path}: no 'config' in the safetensors metadata: not a student checkpoint written by train/run.js")
    model = Student(json.loads(metadata["config"]))
    want = dict(model.state_dict())
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise ValueError(f"{path}: tensors missing {missing[:5]}, unexpected {extra[:5]}")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(want[name].shape):
            raise ValueError(f"{path}: tensor '{name}' is {list(t.shape)}, the model needs {list(want[name].shape)}")
    model.load_state_dict(tensors)
    return model, metadata


def save_student(path, model, metadata):
    """Write the model's weights with `metadata` (the checkpoint's, e.g. config and classes) in the project's format."""
    save(path, {k: v.float() for k, v in model.state_dict().items()}, metadata)
