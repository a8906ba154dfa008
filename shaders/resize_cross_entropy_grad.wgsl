// Backward of resize_cross_entropy.wgsl, gathered as resize_grad.wgsl gathers: each input score
// X[n, c, iy, ix] sums, over the output pixels o that read it with weight wy·wx, wy·wx · ∂loss/∂z_c(o),
// where ∂loss/∂z_c(o) = g(o) · w(o) · (exp(z_c(o) − m(o)) / s(o) − [c == label(o)]) is
// cross_entropy_grad.wgsl's, with z_c(o) interpolated again and m, s from the forward pass.
// One invocation per input position and block of CB classes: the candidate outputs, their weights,
// labels and statistics are read once per block rather than once per class. The sums run in
// resize_grad's order (a row's products, then the rows).
// G[o · gstride]: gstride 1 for reduction 'none', 0 for one scalar ('sum', and 'mean' already divided).
struct Params { total: u32, k: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32, inv_y: f32, inv_x: f32, ignore: i32, gstride: u32, blocks: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read> M: array<f32>;
@group(0) @binding(4) var<storage, read> S: array<f32>;
@group(0) @binding(5) var<storage, read> G: array<f32>;
@group(0) @binding(6) var<storage, read_write> GX: array<f32>;
{{W_DECL}}

{{COORD}}

const CB = {{CB}}u;

fn nan_() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); } // a var: WGSL rejects NaN constants

{{SCORE}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ix = i % p.iw;
  let iy = (i / p.iw) % p.ih;
  let rest = i / (p.iw * p.ih);
  let c0 = (rest % p.blocks) * CB;
  let n = rest / p.blocks;
  let nc = min(CB, p.k - c0); // classes in this block
  let ry = candidates(iy, p.inv_y, p.oh);
  let rx = candidates(ix, p.inv_x, p.ow);
  var acc = array<f32, CB>();
  for (var oy = ry.x; oy < ry.y; oy++) {
    let ty = bilinear_src(oy, p.sy, p.ih);
    let wy = tap_weight(ty, iy);
    if (wy == 0.0) { continue; }
    let row = (n * p.oh + oy) * p.ow;
    // Zeroed by an explicit constructor: declared without one, lavapipe kept the previous row's sums.
    var s = array<f32, CB>();
    for (var ox = rx.x; ox < rx.y; ox++) {
      let tx = bilinear_src(ox, p.sx, p.iw);
      let wx = tap_weight(tx, ix);
      let r = row + ox;
      let label = L[r];
      if (wx == 0.0 || label == p.ignore) { continue; }
      if (label < 0 || label >= i32(p.k)) {
        for (var j = 0u; j < nc; j++) { s[j] = nan_(); }
        continue;
      }
      let g = G[r * p.gstride] * {{W}};
      let m = M[r];
      let sum = S[r];
      for (var j = 0u; j < nc; j++) {
        let c = c0 + j;
        let dz = g * (exp(score(n * p.k + c, ty, tx) - m) / sum - select(0.0, 1.0, c == u32(label)));
        s[j] += wx * dz;
      }
    }
    for (var j = 0u; j < nc; j++) { acc[j] += wy * s[j]; }
  }
  for (var j = 0u; j < nc; j++) { GX[((n * p.k + c0 + j) * p.ih + iy) * p.iw + ix] = acc[j]; }
}
