// Farneback's matrices M [5, H, W] for the flow F (planes [2, H, W]: dx, dy) at the start of a level;
// the iterations rebuild them in farneback_update.wgsl. The arithmetic is farneback_matrices_fn.wgsl.
struct Params { h: u32, w: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> R0: array<f32>;
@group(0) @binding(2) var<storage, read> R1: array<f32>;
@group(0) @binding(3) var<storage, read> F: array<f32>;
@group(0) @binding(4) var<storage, read_write> M: array<f32>;

{{MATRICES}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  let npix = p.h * p.w;
  if (i >= npix) { return; }
  write_matrices(i, i32(i % p.w), i32(i / p.w), F[i], F[npix + i]);
}
