// 2-D convolution as PyTorch's conv2d (a cross-correlation), NCHW, one invocation per output element:
//   O[n, co, oy, ox] = B[co] + Σ_{ci, ky, kx} X[n, g·cin_g + ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw] · Wt[co, ci, ky, kx]
// with g = co / cout_g the group of co. Taps that land in the zero padding are skipped.
// Without a bias the caller binds Wt again as B (read-only aliasing is allowed) and sets has_bias = 0.
struct Params {
  total: u32, cin: u32, h: u32, w: u32, cout: u32, oh: u32, ow: u32, cin_g: u32, cout_g: u32,
  kh: u32, kw: u32, sh: u32, sw: u32, ph: i32, pw: i32, dh: u32, dw: u32, has_bias: u32,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let co = (i / (p.ow * p.oh)) % p.cout;
  let n = i / (p.ow * p.oh * p.cout);
  let g = co / p.cout_g;
  let y0 = i32(oy * p.sh) - p.ph;
  let x0 = i32(ox * p.sw) - p.pw;
  var acc = 0.0;
  for (var ci = 0u; ci < p.cin_g; ci++) {
    let xplane = (n * p.cin + g * p.cin_g + ci) * p.h * p.w;
    let wbase = (co * p.cin_g + ci) * p.kh * p.kw;
    for (var ky = 0u; ky < p.kh; ky++) {
      let y = y0 + i32(ky * p.dh);
      if (y < 0 || y >= i32(p.h)) { continue; }
      for (var kx = 0u; kx < p.kw; kx++) {
        let x = x0 + i32(kx * p.dw);
        if (x < 0 || x >= i32(p.w)) { continue; }
        acc += X[xplane + u32(y) * p.w + u32(x)] * Wt[wbase + ky * p.kw + kx];
      }
    }
  }
  if (p.has_bias == 1u) { acc += B[co]; }
  O[i] = acc;
}
