"""PyTorch on the CPU as a peer in `npm run bench` (bench/run.ts starts it and reads its last line, JSON).

The measurements and protocol of bench/engine.ts and bench/tfjs-peers.ts (WARMUP runs, then the median):
- matmul: f32 1024x1024 @ 1024x1024, MATMUL_REPS products a sample; GFLOP/s = 2 n^3 reps / median time;
- ViT step: the benchmark ViT (VIT below) on a fixed batch, forward, backward, Adam, loss read;
- student step: the default student (10 classes, 96x128 crops, batch 4), cross-entropy, backward, AdamW;
- student inference: frames per second of predict.py's path on a 480x360 frame (resize to the base size 96,
  forward, bilinear up to the frame, argmax).
Threads: OMP_NUM_THREADS (bench/run.ts sets 2 and OMP_WAIT_POLICY=PASSIVE, as on this project's machine).
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from predict import predict_video  # noqa: E402
from student import Student  # noqa: E402

WARMUP, VIT_STEPS, MATMUL_SAMPLES, MATMUL_REPS, STUDENT_STEPS, STUDENT_FRAMES = 3, 10, 10, 4, 10, 5
VIT = dict(batch=8, image=64, channels=3, patch=8, width=128, depth=4, heads=4, mlp_ratio=4, classes=16, lr=1e-3)
DEFAULT_STUDENT = dict(numClasses=10, patch=8, width=128, depth=4, heads=4, mlpRatio=2, imageSize=[96, 128], stemDim=32, decoderDim=64, reprDim=64, temporal=False, norm="group", baseSize=96)


def median_ms(run, n):
    for _ in range(WARMUP):
        run()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2] if len(times) % 2 else sum(sorted(times)[len(times) // 2 - 1 : len(times) // 2 + 1]) / 2


def matmul_gflops(n=1024):
    a, b = torch.randn(n, n), torch.randn(n, n)

    def sample():
        for _ in range(MATMUL_REPS):
            c = a @ b
        return c[0, 0].item()

    return 2 * n**3 * MATMUL_REPS / (median_ms(sample, MATMUL_SAMPLES) * 1e6)


class Vit(nn.Module):
    """bench/vit.ts's model: patch embedding, pre-norm blocks, a per-token classifier."""

    def __init__(self, c):
        super().__init__()
        w = c["width"]
        self.c = c
        self.embed = nn.Linear(c["patch"] ** 2 * c["channels"], w)
        self.pos = nn.Parameter(torch.zeros((c["image"] // c["patch"]) ** 2, w))
        layer = lambda: nn.TransformerEncoderLayer(w, c["heads"], c["mlp_ratio"] * w, dropout=0.0, activation="gelu", batch_first=True, norm_first=True, layer_norm_eps=1e-6)  # noqa: E731
        self.blocks = nn.ModuleList([layer() for _ in range(c["depth"])])
        self.norm = nn.LayerNorm(w, eps=1e-6)
        self.head = nn.Linear(w, c["classes"])

    def forward(self, images):
        c, b = self.c, images.shape[0]
        g, p = c["image"] // c["patch"], c["patch"]
        patches = images.reshape(b, g, p, g, p, c["channels"]).permute(0, 1, 3, 2, 4, 5).reshape(b, g * g, -1)
        x = self.embed(patches) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


def vit_step_ms():
    c = VIT
    model = Vit(c)
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    images = torch.rand(c["batch"], c["image"], c["image"], c["channels"])
    labels = torch.randint(0, c["classes"], (c["batch"], (c["image"] // c["patch"]) ** 2))

    def step():
        loss = F.cross_entropy(model(images).flatten(0, 1), labels.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return median_ms(step, VIT_STEPS)


def student_step_ms():
    model = Student(DEFAULT_STUDENT)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    images = torch.randn(4, 3, 96, 128)
    labels = torch.randint(0, 10, (4, 96, 128))

    def step():
        loss = F.cross_entropy(model(images)["logits"], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return median_ms(step, STUDENT_STEPS)


def student_fps(width=480, height=360):
    model = Student(DEFAULT_STUDENT).eval()
    frame = (torch.arange(width * height * 3) * 37 % 251).to(torch.uint8).reshape(height, width, 3).numpy()
    return 1000 / median_ms(lambda: predict_video(model, [frame]), STUDENT_FRAMES)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "matmul1024_gflops": matmul_gflops(), "vit_step_ms": vit_step_ms(),
              "student_step_ms": student_step_ms(), "student480x360_fps": student_fps()}
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}))
    sys.stdout.flush()
