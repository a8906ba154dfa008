// Backward of softmax / log-softmax along an axis, fused: one invocation per row (laid out as in
// softmax.wgsl) forms t = Σ TERM over the row, then writes OUT for each element from g, y and t.
//   softmax:     t = Σ g·y,  dx = alpha·y·(g − t)
//   log-softmax: t = Σ g,    dx = alpha·(g − exp(y)·t)
// where alpha is the forward pass's input scale (see softmax.wgsl).
struct Params { rows: u32, c: u32, inner: u32, alpha: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  var t = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let g = G[base + j * p.inner];
    let y = Y[base + j * p.inner];
    t += {{TERM}};
  }
  for (var j = 0u; j < p.c; j++) {
    let g = G[base + j * p.inner];
    let y = Y[base + j * p.inner];
    DX[base + j * p.inner] = {{OUT}};
  }
}
