// x / max(‖x‖, eps) along one axis (as torch.nn.functional.normalize). One invocation per row, laid
// out as in softmax.wgsl: c elements `inner` apart from `base`.
struct Params { rows: u32, c: u32, inner: u32, eps: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  var ss = 0.0;
  for (var j = 0u; j < p.c; j++) { let v = X[base + j * p.inner]; ss += v * v; }
  let d = max(sqrt(ss), p.eps);
  for (var j = 0u; j < p.c; j++) { Y[base + j * p.inner] = X[base + j * p.inner] / d; }
}
