// Layer normalisation over the last axis: y = (x − mean) · rstd · gamma + beta, one invocation per row.
struct Params { rows: u32, c: u32, eps: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read> BETA: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

{{STATS}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  let st = row_stats(base, p.c, p.eps);
  for (var j = 0u; j < p.c; j++) { Y[base + j] = (X[base + j] - st.x) * st.y * GAMMA[j] + BETA[j]; }
}
