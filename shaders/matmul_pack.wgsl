// Copy the row operand of the cpu matmul kernel into rows contiguous along K, padded with zeros to
// Kp (a multiple of 4), so that the kernel can read it four k at a time: for each matrix b of the
// source (contiguous, I·K elements each), out[b, i, k] = X[b·I·K + i·xi + k·xk] for k < K, else 0.
struct Params { n: u32, I: u32, K: u32, Kp: u32, xi: u32, xk: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.n) { return; }
  let b = t / (p.I * p.Kp);
  let r = t % (p.I * p.Kp);
  let i = r / p.Kp;
  let k = r % p.Kp;
  O[t] = select(0.0, X[b * p.I * p.K + i * p.xi + k * p.xk], k < p.K);
}
