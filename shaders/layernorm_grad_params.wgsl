// Gradients of layer norm's gamma and beta: column sums over the rows, dgamma_j = Σ g·xh and
// dbeta_j = Σ g, with one invocation per column walking the rows (no atomics). Neighbouring
// invocations read neighbouring addresses. Kahan-compensated, as there may be many rows.
struct Params { rows: u32, c: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> STATS: array<f32>; // (mean, rstd) per row
@group(0) @binding(4) var<storage, read_write> DGAMMA: array<f32>;
@group(0) @binding(5) var<storage, read_write> DBETA: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flatIndex(gid, nwg, WG);
  if (j >= p.c) { return; }
  var sg = vec2<f32>(0.0); // (Σ g·xh, Σ g)
  var comp = vec2<f32>(0.0);
  for (var r = 0u; r < p.rows; r++) {
    let k = r * p.c + j;
    let g = G[k];
    let yk = vec2<f32>(g * (X[k] - STATS[2u * r]) * STATS[2u * r + 1u], g) - comp;
    let tk = sg + yk;
    comp = (tk - sg) - yk;
    sg = tk;
  }
  DGAMMA[j] = sg.x;
  DBETA[j] = sg.y;
}
