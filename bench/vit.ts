// The benchmark ViT on the engine, the same network as bench/tfjs-peers.ts builds in TF.js:
// batch 8 of 64×64×3 images cut into 8×8 patches (64 tokens), width 128, 4 pre-norm blocks of 4 heads
// with MLP 4×, 16 classes per patch, softmax cross-entropy, Adam.
import { AdamW, backward, crossEntropy, permute, randInt, randUniform, reshape, tidy, type Tensor, add, zeroGrad, keep } from '../engine/index.ts';
import { Block, LayerNorm, Linear } from '../models/layers.ts';
import { ParamStore } from '../models/params.ts';
import { VIT } from './tfjs-peers.ts';

export class BenchViT {
  readonly ps = new ParamStore(1);
  readonly embed: Linear;
  readonly pos: Tensor;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly head: Linear;

  constructor() {
    const { patch: P, channels: C, width: W, depth, heads, mlpRatio, classes, image } = VIT;
    this.embed = new Linear(this.ps, 'embed', P * P * C, W);
    this.pos = this.ps.create('pos', [(image / P) ** 2, W], { truncNormal: 0.02 });
    this.blocks = Array.from({ length: depth }, (_, i) => new Block(this.ps, `blocks.${i}`, W, heads, mlpRatio));
    this.norm = new LayerNorm(this.ps, 'norm', W);
    this.head = new Linear(this.ps, 'head', W, classes);
  }

  /** images [B, H, W, C] → logits [B·T, classes]. */
  forward(images: Tensor): Tensor {
    const { patch: P, channels: C, image } = VIT;
    const B = images.shape[0]!;
    const g = image / P;
    const patches = reshape(permute(reshape(images, [B, g, P, g, P, C]), [0, 1, 3, 2, 4, 5]), [B, g * g, P * P * C]);
    let x = add(this.embed.forward(patches), this.pos);
    for (const b of this.blocks) x = b.forward(x);
    const logits = this.head.forward(this.norm.forward(x));
    return reshape(logits, [B * g * g, VIT.classes]);
  }
}

/** A model, its optimiser and one fixed batch; `step()` runs forward, backward and Adam and returns the loss tensor. */
export function vitTrainer(): { step: () => Tensor; dispose: () => void } {
  const { batch: B, image, channels: C, patch: P, classes, lr } = VIT;
  const model = new BenchViT();
  const opt = new AdamW(model.ps.list(), { lr, weightDecay: 0 });
  const images = keep(randUniform([B, image, image, C], 7));
  const labels = keep(randInt([B * (image / P) ** 2], 0, classes, 8));
  return {
    step: () =>
      tidy(() => {
        const loss = crossEntropy(model.forward(images), labels);
        backward(loss);
        opt.step();
        zeroGrad(model.ps.list());
        return loss;
      }),
    dispose: () => {
      model.ps.dispose();
      images.dispose();
      labels.dispose();
    },
  };
}
