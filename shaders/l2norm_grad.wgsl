// Backward of l2-normalisation along an axis, fused per row. With n = ‖x‖, d = max(n, eps), y = x/d:
//   n > eps:  dx = (g − y·Σ g·y) / d   (the derivative of x/‖x‖)
//   n ≤ eps:  dx = g / d               (the denominator is the constant eps)
struct Params { rows: u32, c: u32, inner: u32, eps: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  var ss = 0.0;
  for (var j = 0u; j < p.c; j++) { let v = X[base + j * p.inner]; ss += v * v; }
  let n = sqrt(ss);
  let d = max(n, p.eps);
  var t = 0.0;
  if (n > p.eps) {
    for (var j = 0u; j < p.c; j++) { t += G[base + j * p.inner] * X[base + j * p.inner] / d; }
  }
  for (var j = 0u; j < p.c; j++) {
    let k = base + j * p.inner;
    DX[k] = (G[k] - X[k] / d * t) / d;
  }
}
