// What a teacher's pseudo-labels need from its class scores X [N, K, h, w], at the frame's size
// [N, H, W], without storing the upsampled scores or their softmax: for each output pixel the
// bilinearly interpolated scores z (resize_bilinear.wgsl's taps and arithmetic), then
//   IDS = argmax z (the lower class at ties), MAXP = max softmax(z) = 1 / Σ exp(z − max z),
//   ENT = −Σ p log(p + 1e-10) with p = softmax(z) (U2PL's entropy, in nats).
struct Params { total: u32, k: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> MAXP: array<f32>;
@group(0) @binding(4) var<storage, read_write> ENT: array<f32>;

{{COORD}}

{{SCORE}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.total) { return; }
  let ty = bilinear_src((r / p.ow) % p.oh, p.sy, p.ih);
  let tx = bilinear_src(r % p.ow, p.sx, p.iw);
  let first = (r / (p.ow * p.oh)) * p.k;
  var m = score(first, ty, tx);
  var arg = 0i;
  for (var j = 1u; j < p.k; j++) {
    let z = score(first + j, ty, tx);
    if (z > m) { m = z; arg = i32(j); }
  }
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += exp(score(first + j, ty, tx) - m); }
  var ent = 0.0;
  for (var j = 0u; j < p.k; j++) {
    let q = exp(score(first + j, ty, tx) - m) / s;
    ent -= q * log(q + 1e-10);
  }
  IDS[r] = arg;
  MAXP[r] = 1.0 / s;
  ENT[r] = ent;
}
