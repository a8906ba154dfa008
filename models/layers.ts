// Building blocks of a pre-norm vision transformer, written with the engine's ops.
// Shapes: tokens are [B, T, C]; heads split C into H × D.
import { add, attention, layerNorm, linear, type LinearOptions, type Tensor } from '../engine/index.ts';
import type { Init, ParamStore } from './params.ts';

export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  constructor(ps: ParamStore, name: string, inF: number, outF: number, bias = true, init: Init = { truncNormal: 0.02 }) {
    // PyTorch layout [out, in]; ViT initialises linears with a truncated normal of std 0.02.
    this.weight = ps.create(`${name}.weight`, [outF, inF], init);
    this.bias = bias ? ps.create(`${name}.bias`, [outF], { zeros: true }) : undefined;
  }
  forward(x: Tensor, opts?: LinearOptions): Tensor {
    return linear(x, this.weight, this.bias, opts);
  }
}

export class LayerNorm {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  constructor(ps: ParamStore, name: string, c: number) {
    this.gamma = ps.create(`${name}.weight`, [c], { ones: true });
    this.beta = ps.create(`${name}.bias`, [c], { zeros: true });
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.gamma, this.beta, 1e-6);
  }
}

/** Multi-head self-attention: softmax(QKᵀ/√D)·V per head, heads concatenated and projected. */
export class Attention {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(ps: ParamStore, name: string, readonly dim: number, readonly heads: number, projInit?: Init) {
    if (dim % heads) throw new Error(`${name}: width ${dim} is not divisible by ${heads} heads`);
    this.qkv = new Linear(ps, `${name}.qkv`, dim, 3 * dim);
    this.proj = new Linear(ps, `${name}.proj`, dim, dim, true, projInit);
  }
  forward(x: Tensor): Tensor {
    // qkv [B, T, 3C] is read as [B, T, 3, H, D] in place; heads come back merged as [B, T, C].
    return this.proj.forward(attention(this.qkv.forward(x), this.heads));
  }
}

export class Mlp {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(ps: ParamStore, name: string, dim: number, hidden: number, fc2Init?: Init) {
    this.fc1 = new Linear(ps, `${name}.fc1`, dim, hidden);
    this.fc2 = new Linear(ps, `${name}.fc2`, hidden, dim, true, fc2Init);
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x, { activation: 'gelu' })); // GELU fused into fc1's kernel
  }
}

/**
 * Pre-norm transformer block: x + attn(LN(x)), then x + mlp(LN(x)). `identityInit` zeroes the two
 * output projections, so the block starts as the identity: one added to a trained network (the
 * student's temporal block) leaves its predictions as they were until training moves it.
 */
export class Block {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  constructor(ps: ParamStore, name: string, dim: number, heads: number, mlpRatio = 4, identityInit = false) {
    const out: Init | undefined = identityInit ? { zeros: true } : undefined;
    this.norm1 = new LayerNorm(ps, `${name}.norm1`, dim);
    this.attn = new Attention(ps, `${name}.attn`, dim, heads, out);
    this.norm2 = new LayerNorm(ps, `${name}.norm2`, dim);
    this.mlp = new Mlp(ps, `${name}.mlp`, dim, dim * mlpRatio, out);
  }
  forward(x: Tensor): Tensor {
    const y = add(x, this.attn.forward(this.norm1.forward(x)));
    return add(y, this.mlp.forward(this.norm2.forward(y)));
  }
}
