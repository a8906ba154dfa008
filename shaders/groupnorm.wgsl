// Group normalisation of x [B, C, positions] with its per-channel affine (and ReLU when RELU) in one
// pass: row r = b·groups + g holds group g of sample b, its C/groups channels of `hw` positions
// contiguous. One invocation per row: the row's mean and rstd, then y = act((x − mean)·rstd·γ[ch] + β[ch]).
struct Params { rows: u32, c: u32, eps: f32, groups: u32, hw: u32 }; // c: elements per row
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read> BETA: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

{{STATS}}

const RELU = {{RELU}};

// 8 rows a workgroup: a batch has few rows (B·groups), and a workgroup runs on one CPU core on lavapipe.
const WG = 8u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  let st = row_stats(base, p.c, p.eps);
  let cpg = p.c / p.hw;
  let c0 = (r % p.groups) * cpg;
  for (var ch = 0u; ch < cpg; ch++) {
    let scale = st.y * GAMMA[c0 + ch];
    let shift = BETA[c0 + ch];
    let o = base + ch * p.hw;
    for (var s = 0u; s < p.hw; s++) {
      let z = (X[o + s] - st.x) * scale + shift;
      Y[o + s] = select(z, max(z, 0.0), RELU);
    }
  }
}
