// Per-pixel cross-entropy, fused: one invocation per pixel computes log Σ exp over the classes (stable:
// max subtracted) and writes w · (lse − x[label]). Classes are on axis 1 (PyTorch's [N, C, d1, ...]):
// pixel r's class j is at base + j·inner with inner = d1·d2·…. Ignored pixels write 0; labels outside
// [0, C) write NaN, since a kernel cannot throw (checkLabels finds them on the CPU).
// W_DECL/W: the optional per-pixel weight binding and its value (1.0 when there is none).
struct Params { pixels: u32, c: u32, inner: u32, ignore: i32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
{{W_DECL}}

fn nan_() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); } // a var: WGSL rejects NaN constants

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.pixels) { return; }
  let label = L[r];
  if (label == p.ignore) { LOSS[r] = 0.0; return; }
  if (label < 0 || label >= i32(p.c)) { LOSS[r] = nan_(); return; }
  let base = (r / p.inner) * p.c * p.inner + r % p.inner;
  var m = X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, X[base + j * p.inner]); }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) { s += exp(X[base + j * p.inner] - m); }
  LOSS[r] = {{W}} * (m + log(s) - X[base + u32(label) * p.inner]);
}
