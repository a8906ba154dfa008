// Gradient of gather_dot.wgsl for A: GA[i, d] = Σ_j G[i, j] · B[Rows[i·T + j], d].
// One invocation per element of GA; it reads only row i's own T entries.
struct Params { total: u32, t: u32, r: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> Rows: array<i32>;
@group(0) @binding(4) var<storage, read_write> GA: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let d = i % p.r;
  let row = i / p.r;
  var acc = 0.0;
  for (var j = row * p.t; j < (row + 1u) * p.t; j++) { acc += G[j] * B[u32(Rows[j]) * p.r + d]; }
  GA[i] = acc;
}
