// One AdamW step for one parameter, in place (torch.optim.AdamW, single-tensor path):
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p = p·(1 − lr·wd) − stepSize · m / (√v / bc2Sqrt + eps),  stepSize = lr / (1 − β1^t), bc2Sqrt = √(1 − β2^t)
// Everything that depends on the step or the learning rate arrives as a uniform, computed on the CPU
// in float64 (including 1 − β, which rounds badly when formed in f32 from a rounded β).
struct Params { n: u32, decay: f32, b1: f32, c1: f32, b2: f32, c2: f32, eps: f32, stepSize: f32, bc2Sqrt: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  let g = G[i];
  let m = p.b1 * M[i] + p.c1 * g;
  let v = p.b2 * V[i] + p.c2 * g * g;
  M[i] = m;
  V[i] = v;
  P[i] = P[i] * p.decay - p.stepSize * m / (sqrt(v) / p.bc2Sqrt + p.eps);
}
