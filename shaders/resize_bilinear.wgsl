// Bilinear resize of the last two axes, one invocation per output element: the two taps of each axis
// weighted by (1 − l1, l1), rows first as PyTorch does (resize_score.wgsl's score()).
struct Params { total: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

{{COORD}}
{{SCORE}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let plane = i / (p.ow * p.oh);
  let ty = bilinear_src(oy, p.sy, p.ih);
  let tx = bilinear_src(ox, p.sx, p.iw);
  O[i] = score(plane, ty, tx);
}
