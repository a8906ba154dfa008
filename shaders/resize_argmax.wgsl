// Bilinear upsampling of class scores fused with the argmax over classes: one invocation per output
// pixel interpolates each class's score at that pixel (resize_score.wgsl's score(), as
// resize_bilinear.wgsl) and keeps the largest, so the [N, K, H, W] scores are never stored: at 480p
// with VSPW's 124 classes they would take 203 MB a frame, over WebGPU's 128 MiB binding limit.
// Ties go to the lower class id, as argmax's. Writes the class id and the interpolated maximum (the
// confidence when X holds probabilities).
struct Params { total: u32, k: u32, ih: u32, iw: u32, oh: u32, ow: u32, sy: f32, sx: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> IDS: array<i32>;
@group(0) @binding(3) var<storage, read_write> MAX: array<f32>;

{{COORD}}
{{SCORE}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let ox = i % p.ow;
  let oy = (i / p.ow) % p.oh;
  let n = i / (p.ow * p.oh);
  let ty = bilinear_src(oy, p.sy, p.ih);
  let tx = bilinear_src(ox, p.sx, p.iw);
  var best = -3.4e38;
  var arg = 0i;
  for (var c = 0u; c < p.k; c++) {
    let v = score(n * p.k + c, ty, tx);
    if (v > best) { best = v; arg = i32(c); }
  }
  IDS[i] = arg;
  MAX[i] = best;
}
