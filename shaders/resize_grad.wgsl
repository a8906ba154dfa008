// Gradient of a resize, gathered without atomics: one invocation per input element sums the output
// gradient over the outputs that read it, each times the weight it was read with:
//   GX[plane, iy, ix] = Σ_{oy, ox} wy(oy, iy) · wx(ox, ix) · G[plane, oy, ox]
// with w = {{WEIGHT}} (resize_coord.wgsl), the forward's own formula; only the few outputs near
// src·out/in can read src (`candidates`), and each is checked exactly.
struct Params { total: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32, inv_y: f32, inv_x: f32, off: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> GX: array<f32>;

{{COORD}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ix = i % p.iw;
  let iy = (i / p.iw) % p.ih;
  let plane = i / (p.iw * p.ih);
  let ry = candidates(iy, p.inv_y, p.oh);
  let rx = candidates(ix, p.inv_x, p.ow);
  var acc = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    let wy = {{WEIGHT}}(oy, iy, p.off, p.sy, p.ih);
    if (wy == 0.0) { continue; }
    let row = (plane * p.oh + oy) * p.ow;
    var s = 0.0;
    for (var ox = rx.x; ox < rx.y; ox++) {
      s += {{WEIGHT}}(ox, ix, p.off, p.sx, p.iw) * G[row + ox];
    }
    acc += wy * s;
  }
  GX[i] = acc;
}
