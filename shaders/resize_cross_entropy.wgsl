// Cross-entropy of bilinearly upsampled class scores, CE(resize(X), L), without storing resize(X):
// at 480×480 with VSPW's 124 classes the [N, K, H, W] scores take 114 MB a frame, and the backward
// pass would store as much again. One invocation per output pixel interpolates each class's score
// (resize_bilinear.wgsl's taps and arithmetic) and does what cross_entropy.wgsl does with them; it
// also keeps the pixel's max score m and s = Σ exp(z − m), from which the backward pass recomputes
// the softmax.
// Ignored pixels write loss 0; labels outside [0, K) write NaN (checkLabels names them on the CPU).
struct Params { total: u32, k: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32, ignore: i32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(4) var<storage, read_write> M: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;
{{W_DECL}}

{{COORD}}

fn nan_() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); } // a var: WGSL rejects NaN constants

{{SCORE}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.total) { return; }
  let label = L[r];
  M[r] = 0.0;
  S[r] = 1.0;
  if (label == p.ignore) { LOSS[r] = 0.0; return; }
  if (label < 0 || label >= i32(p.k)) { LOSS[r] = nan_(); return; }
  let ty = bilinear_src((r / p.ow) % p.oh, p.sy, p.ih);
  let tx = bilinear_src(r % p.ow, p.sx, p.iw);
  let first = (r / (p.ow * p.oh)) * p.k;
  var m = score(first, ty, tx);
  for (var j = 1u; j < p.k; j++) { m = max(m, score(first + j, ty, tx)); }
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += exp(score(first + j, ty, tx) - m); }
  LOSS[r] = {{W}} * (m + log(s) - score(first + u32(label), ty, tx));
  M[r] = m;
  S[r] = s;
}
