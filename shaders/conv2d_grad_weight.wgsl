// Gradient of conv2d with respect to its weight, one invocation per (chunk, weight element):
//   P[c, co, ci, ky, kx] = Σ G[n, co, oy, ox] · X[n, g·cin_g + ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw]
// over the output rows (n, oy) of chunk c (rows c·rows_per .. (c+1)·rows_per − 1 of the N·oh rows) and
// every ox whose tap lands inside the input. With one chunk P is the gradient; with several the caller
// sums P over c: a few thousand weights would otherwise leave most of a GPU idle, each invocation
// walking the whole batch alone.
struct Params {
  total: u32, wsize: u32, rows: u32, rows_per: u32, cin: u32, h: u32, w: u32, cout: u32, oh: u32, ow: u32,
  cin_g: u32, cout_g: u32, kh: u32, kw: u32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let wi = i % p.wsize;
  let c = i / p.wsize;
  let kx = i32(wi % p.kw);
  let ky = i32((wi / p.kw) % p.kh);
  let ci = (wi / (p.kw * p.kh)) % p.cin_g;
  let co = wi / (p.kw * p.kh * p.cin_g);
  let cfull = (co / p.cout_g) * p.cin_g + ci;
  // The ox whose input column ox·sw + off_x (off_x = kx·dw − pw) lies in [0, w): ox in [ox0, ox1).
  let off_x = kx * p.dw - p.pw;
  let ox0 = u32(max(0, (p.sw - 1 - off_x) / p.sw));
  let top = i32(p.w) - 1 - off_x;
  let ox1 = select(0u, min(u32(top / p.sw) + 1u, p.ow), top >= 0);
  let col0 = u32(i32(ox0) * p.sw + off_x);
  var acc = 0.0;
  let r1 = min(p.rows, (c + 1u) * p.rows_per);
  for (var r = c * p.rows_per; r < r1; r++) {
    let n = r / p.oh;
    let oy = r % p.oh;
    let y = i32(oy) * p.sh - p.ph + ky * p.dh;
    if (y < 0 || y >= i32(p.h)) { continue; }
    let grow = ((n * p.cout + co) * p.oh + oy) * p.ow;
    var at = ((n * p.cin + cfull) * p.h + u32(y)) * p.w + col0;
    for (var ox = ox0; ox < ox1; ox++) {
      acc += G[grow + ox] * X[at];
      at += u32(p.sw);
    }
  }
  P[i] = acc;
}
