// Nearest-neighbour resize of the last two axes (any dtype: labels are resized this way too), one
// invocation per output element: O[plane, oy, ox] = X[plane, src(oy), src(ox)].
struct Params { total: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32, off: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> O: array<{{T}}>;

{{COORD}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let plane = i / (p.ow * p.oh);
  O[i] = X[(plane * p.ih + nearest_src(oy, p.off, p.sy, p.ih)) * p.iw + nearest_src(ox, p.off, p.sx, p.iw)];
}
