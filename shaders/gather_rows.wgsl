// O[j, c] = X[Rows[j], c]: whole rows of X [N, R] picked by a list of row indices (checked on the CPU,
// so every Rows[j] is in [0, N)). One invocation per output element.
struct Params { total: u32, r: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let c = i % p.r;
  let j = i / p.r;
  O[i] = X[u32(Rows[j]) * p.r + c];
}
