// out[i] = cond != 0 ? a : b, all three broadcast to the output shape (offsets from OFFSETS).
struct Params { n: u32, shape: array<vec4<u32>, 2>, sc: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> C: array<{{C_T}}>;
@group(0) @binding(2) var<storage, read> A: array<{{T}}>;
@group(0) @binding(3) var<storage, read> B: array<{{T}}>;
@group(0) @binding(4) var<storage, read_write> O: array<{{T}}>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  {{OFFSETS}}
  O[i] = select(B[off_b], A[off_a], C[off_c] != {{C_T}}(0));
}
