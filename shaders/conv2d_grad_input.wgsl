// Gradient of conv2d with respect to its input: a transposed convolution, one invocation per input
// element (so no two invocations write the same place and no atomics are needed):
//   GX[n, g·cin_g + ci, y, x] = Σ G[n, co, oy, ox] · Wt[co, ci, ky, kx]
// over the co of group g and the taps (ky, kx) with oy·sh = y + ph − ky·dh and ox·sw = x + pw − kx·dw
// for some output position (oy, ox) inside the output. The tap loops are outside the channel loop so
// that taps that hit no output (most of them when the stride is large) cost one test each.
struct Params {
  total: u32, cin: u32, h: u32, w: u32, cout: u32, oh: u32, ow: u32, cin_g: u32, cout_g: u32,
  kh: u32, kw: u32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> GX: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let x = i32(i % p.w);
  let y = i32((i / p.w) % p.h);
  let cfull = (i / (p.w * p.h)) % p.cin;
  let n = i / (p.w * p.h * p.cin);
  let g = cfull / p.cin_g;
  let ci = cfull % p.cin_g;
  let plane = p.oh * p.ow;
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let ty = y + p.ph - i32(ky) * p.dh;
    if (ty < 0 || ty % p.sh != 0 || ty / p.sh >= i32(p.oh)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let tx = x + p.pw - i32(kx) * p.dw;
      if (tx < 0 || tx % p.sw != 0 || tx / p.sw >= i32(p.ow)) { continue; }
      let at = u32(ty / p.sh) * p.ow + u32(tx / p.sw);
      let tap = ky * p.kw + kx;
      for (var j = 0u; j < p.cout_g; j++) {
        let co = g * p.cout_g + j;
        acc += G[(n * p.cout + co) * plane + at] * Wt[(co * p.cin_g + ci) * p.kh * p.kw + tap];
      }
    }
  }
  GX[i] = acc;
}
