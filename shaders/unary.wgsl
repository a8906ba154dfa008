// out[i] = EXPR(a) elementwise; `a` is the input value, p.alpha and p.beta are scalar operands.
struct Params { n: u32, alpha: f32, beta: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<{{A_T}}>;
@group(0) @binding(2) var<storage, read_write> O: array<{{O_T}}>;

{{HELPERS}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  let a = A[i];
  O[i] = {{EXPR}};
}
