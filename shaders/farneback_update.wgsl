// One Farneback iteration after the vertical pass of the window (farneback_blur.wgsl): at each pixel,
// the horizontal pass of the window over the five planes of V (replicated borders, taps K centre
// first) gives the averaged system [g11 g12; g12 g22]·(dy, dx) = (h1, h2), solved with OpenCV's
// regulariser (+1e-3 on the determinant) into F (planes [2, H, W]: dx, dy); then, unless this is the
// level's last iteration, the pixel's matrices M are rebuilt from its new flow
// (farneback_matrices_fn.wgsl). Fusing the three steps saves two passes over the image per iteration.
struct Params { h: u32, w: u32, half: u32, update: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> V: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> R0: array<f32>;
@group(0) @binding(4) var<storage, read> R1: array<f32>;
@group(0) @binding(5) var<storage, read_write> F: array<f32>;
@group(0) @binding(6) var<storage, read_write> M: array<f32>;

{{MATRICES}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  let npix = p.h * p.w;
  if (i >= npix) { return; }
  let x = i32(i % p.w);
  let y = i32(i / p.w);
  let row = i - u32(x);
  let last = i32(p.w) - 1;
  var s: array<f32, 5>;
  for (var c = 0u; c < 5u; c++) { s[c] = K[0] * V[c * npix + i]; }
  for (var k = 1; k <= i32(p.half); k++) {
    let l = row + u32(max(x - k, 0));
    let r = row + u32(min(x + k, last));
    for (var c = 0u; c < 5u; c++) { s[c] += K[k] * (V[c * npix + l] + V[c * npix + r]); }
  }
  let idet = 1.0 / (s[0] * s[2] - s[1] * s[1] + 1e-3);
  let dx = (s[0] * s[4] - s[1] * s[3]) * idet;
  let dy = (s[2] * s[3] - s[1] * s[4]) * idet;
  F[i] = dx;
  F[npix + i] = dy;
  if (p.update == 1u) { write_matrices(i, x, y, dx, dy); }
}
