// The vertical pass of Farneback's window over the five planes of the matrices M [5, H, W]: the
// symmetric taps K (centre first; box or Gaussian) summed over rows y−half..y+half, rows replicated at
// the edges. The horizontal pass is fused into farneback_update.wgsl. One invocation per pixel does
// all five planes, which on a CPU adapter costs less than one invocation per element.
struct Params { h: u32, w: u32, half: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  let npix = p.h * p.w;
  if (i >= npix) { return; }
  let x = i % p.w;
  let y = i32(i / p.w);
  let last = i32(p.h) - 1;
  var s: array<f32, 5>;
  for (var c = 0u; c < 5u; c++) { s[c] = K[0] * M[c * npix + i]; }
  for (var k = 1; k <= i32(p.half); k++) {
    let a = u32(max(y - k, 0)) * p.w + x;
    let b = u32(min(y + k, last)) * p.w + x;
    for (var c = 0u; c < 5u; c++) { s[c] += K[k] * (M[c * npix + a] + M[c * npix + b]); }
  }
  for (var c = 0u; c < 5u; c++) { V[c * npix + i] = s[c]; }
}
