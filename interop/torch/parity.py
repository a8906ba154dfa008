"""What the parity tests (test/torch.test.ts) ask of the twin, on files the engine wrote:

    parity.py grads CHECKPOINT INPUTS OUT   logits and the supervised loss's gradients for every parameter
    parity.py resave CHECKPOINT OUT         load a checkpoint into the twin and save it again

INPUTS (safetensors): `images` [B,3,H,W] f32 (already normalised), `labels` [B,H,W] i32 (255 = ignore),
metadata `clip`. The loss is the plain cross-entropy, the mean over pixels whose label is not 255. OUT gets
`logits` [B,K,H,W], `loss` [1] and `grad.<parameter name>` for every parameter.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load, save  # noqa: E402
from student import load_student, save_student  # noqa: E402


def grads(checkpoint, inputs, out):
    model, _ = load_student(checkpoint)
    tensors, meta = load(inputs)
    clip = int(meta.get("clip", "1"))
    logits = model(tensors["images"], clip=clip)["logits"]
    loss = F.cross_entropy(logits, tensors["labels"].long(), ignore_index=255)
    loss.backward()
    result = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        result[f"grad.{name}"] = p.grad if p.grad is not None else torch.zeros_like(p)
    save(out, result)


def main(argv):
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if len(argv) == 4 and argv[0] == "grads":
        grads(*argv[1:])
    elif len(argv) == 3 and argv[0] == "resave":
        model, metadata = load_student(argv[1])
        save_student(argv[2], model, metadata)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
