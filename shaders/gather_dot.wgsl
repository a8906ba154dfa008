// O[i, j] = Σ_d A[i, d] · B[Rows[i·T + j], d]: the dot product of row i of A [M, R] with the T rows of
// B [N, R] listed for it (checked on the CPU to be in [0, N)), without materialising those rows.
// One invocation per output element.
struct Params { total: u32, t: u32, r: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> Rows: array<i32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let a = (i / p.t) * p.r;
  let b = u32(Rows[i]) * p.r;
  var acc = 0.0;
  for (var d = 0u; d < p.r; d++) { acc += A[a + d] * B[b + d]; }
  O[i] = acc;
}
