// Softmax / log-softmax along one axis of any position. One invocation per row: the row starting at
// `base` has `c` elements `inner` apart (inner = product of the dimensions after the axis), so no
// transpose is needed. Numerically stable: the row maximum m is subtracted before exp.
// The input is scaled by alpha > 0 first (attention's 1/√D; 1 otherwise, which is exact).
// OUT is the value written for input v, given m = max x and s = Σ exp(alpha·(x − m)).
struct Params { rows: u32, c: u32, inner: u32, alpha: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  var m = X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, X[base + j * p.inner]); }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) { s += exp(p.alpha * (X[base + j * p.inner] - m)); }
  for (var j = 0u; j < p.c; j++) {
    let v = X[base + j * p.inner];
    Y[base + j * p.inner] = {{OUT}};
  }
}
