// out[i] = EXPR(a, b) with NumPy broadcasting: each input is read through its own strides
// (0 on broadcast dimensions); OFFSETS computes off_a and off_b for a fixed rank (engine/shape.ts
// offsetCode). p.alpha is a scalar operand some expressions use.
struct Params { n: u32, alpha: f32, shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<{{A_T}}>;
@group(0) @binding(2) var<storage, read> B: array<{{B_T}}>;
@group(0) @binding(3) var<storage, read_write> O: array<{{O_T}}>;

{{HELPERS}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  {{OFFSETS}}
  let a = A[off_a];
  let b = B[off_b];
  O[i] = {{EXPR}};
}
