// col2im, the gradient of im2col (shaders/im2col.wgsl): every input element sums the entries of the
// column matrix G [N, Cin·KH·KW, oh·ow] that were read from it,
//   DX[nc, y, x] = Σ G[((nc·KH + ky)·KW + kx)·oh + oy, ox] over oy·SH + ky·DH = y + PH, ox·SW + kx·DW = x + PW.
// A gather (one writer per element, no atomics): for y + PH the output rows that can reach it are
// oy ∈ [oy0, oy1), and a tap ky exists for oy when (y + PH − oy·SH) is a multiple of DH (likewise
// columns), so the loops visit only the candidates (one or two per axis for the usual geometries).
// One invocation per input row (nc, y) loops over x, so that its index arithmetic is paid once a row;
// the kernel geometry is baked in as constants, as in im2col.
struct Params { rows: u32, h: u32, w: u32, oh: u32, ow: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;

const KH = {{KH}}u;
const KW = {{KW}}u;
const SH = {{SH}}u;
const SW = {{SW}}u;
const PH = {{PH}}u;
const PW = {{PW}}u;
const DH = {{DH}}u;
const DW = {{DW}}u;
const EXT_H = (KH - 1u) * DH + 1u; // the dilated kernel's extent
const EXT_W = (KW - 1u) * DW + 1u;

/** [first, end) of the output positions o with o·S ≤ ip < o·S + EXT, clipped to [0, n). */
fn reach(ip: u32, S: u32, EXT: u32, n: u32) -> vec2<u32> {
  let first = select(0u, (ip - EXT) / S + 1u, ip >= EXT);
  return vec2<u32>(first, min(ip / S + 1u, n));
}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let yp = r % p.h + PH;
  let nc = r / p.h;
  let oys = reach(yp, SH, EXT_H, p.oh);
  let plane = p.oh * p.ow;
  for (var x = 0u; x < p.w; x++) {
    let xp = x + PW;
    let oxs = reach(xp, SW, EXT_W, p.ow);
    var acc = 0.0;
    for (var oy = oys.x; oy < oys.y; oy++) {
      let hk = yp - oy * SH; // ky·DH
      if (hk % DH != 0u) { continue; }
      let rowk = (nc * KH + hk / DH) * KW;
      for (var ox = oxs.x; ox < oxs.y; ox++) {
        let wk = xp - ox * SW; // kx·DW
        if (wk % DW != 0u) { continue; }
        acc += G[(rowk + wk / DW) * plane + oy * p.ow + ox];
      }
    }
    DX[r * p.w + x] = acc;
  }
}
