// Backward of cross_entropy.wgsl, fused per pixel: dx_j = g · w · (softmax_j − [j == label]).
// The incoming gradient is G[r · gstride]: gstride 1 for reduction 'none' (one gradient per pixel),
// 0 for 'sum' and 'mean' (one scalar, already divided by the weight total for 'mean').
// Ignored pixels get 0; labels outside [0, C) get NaN, as in the forward pass.
struct Params { pixels: u32, c: u32, inner: u32, ignore: i32, gstride: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<f32>;
{{W_DECL}}

fn nan_() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); } // a var: WGSL rejects NaN constants

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.pixels) { return; }
  let label = L[r];
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  if (label == p.ignore) {
    for (var j = 0u; j < p.c; j++) { DX[base + j * p.inner] = 0.0; }
    return;
  }
  if (label < 0 || label >= i32(p.c)) {
    for (var j = 0u; j < p.c; j++) { DX[base + j * p.inner] = nan_(); }
    return;
  }
  let g = G[r * p.gstride] * {{W}};
  var m = X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, X[base + j * p.inner]); }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) { s += exp(X[base + j * p.inner] - m); }
  for (var j = 0u; j < p.c; j++) {
    let k = base + j * p.inner;
    DX[k] = g * (exp(X[k] - m) / s - select(0.0, 1.0, j == u32(label)));
  }
}
