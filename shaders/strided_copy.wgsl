// D[dbase + Σ k_d·ds_d] = S[sbase + Σ k_d·ss_d] for every multi-index k of `shape` (row-major flat
// index i). Every copying movement op is one choice of bases and strides: permute (permuted source
// strides), broadcast (stride 0), slice (start offset, stride × step), flip (negative stride), and
// concat, stack, pad and the slice gradient write into a region of a larger destination.
// Strides are i32 because flip's are negative; shape and strides are padded to 8 dimensions, and
// OFFSETS (engine/shape.ts offsetCode) walks them for a fixed rank.
struct Params { n: u32, sbase: i32, dbase: i32, shape: array<vec4<u32>, 2>, ss: array<vec4<i32>, 2>, ds: array<vec4<i32>, 2> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> S: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> D: array<{{T}}>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  {{OFFSETS}}
  D[p.dbase + off_d] = S[p.sbase + off_s];
}
