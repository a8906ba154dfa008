// Backward of group norm (and its ReLU when RELU) for x, one invocation per row as in groupnorm.wgsl.
// With xh = (x − mean)·rstd, z = xh·γ + β and h = g·γ (times [z > 0] when RELU):
//   dx = rstd · (h − mean(h) − xh · mean(h·xh)).
// The row statistics are recomputed (not saved by the forward pass) and written to STATS as
// (mean, rstd) pairs for the γ/β kernel.
struct Params { rows: u32, c: u32, eps: f32, groups: u32, hw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read> BETA: array<f32>;
@group(0) @binding(4) var<storage, read> G: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
@group(0) @binding(6) var<storage, read_write> STATS: array<f32>;

{{STATS}}

const RELU = {{RELU}};

/** The gradient reaching the normalised value: g·γ, zero where the ReLU was off (z as the forward pass rounds it). */
fn h_at(k: u32, d: f32, scale: f32, gamma: f32, beta: f32) -> f32 {
  return select(G[k] * gamma, 0.0, RELU && d * scale + beta <= 0.0);
}

const WG = 8u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  let st = row_stats(base, p.c, p.eps);
  let cpg = p.c / p.hw;
  let c0 = (r % p.groups) * cpg;
  var mh = 0.0;
  var mhx = 0.0;
  for (var ch = 0u; ch < cpg; ch++) {
    let gamma = GAMMA[c0 + ch];
    let beta = BETA[c0 + ch];
    let scale = st.y * gamma;
    for (var s = 0u; s < p.hw; s++) {
      let k = base + ch * p.hw + s;
      let d = X[k] - st.x;
      let xh = d * st.y;
      let h = h_at(k, d, scale, gamma, beta);
      mh += h;
      mhx += h * xh;
    }
  }
  mh /= f32(p.c);
  mhx /= f32(p.c);
  for (var ch = 0u; ch < cpg; ch++) {
    let gamma = GAMMA[c0 + ch];
    let beta = BETA[c0 + ch];
    let scale = st.y * gamma;
    for (var s = 0u; s < p.hw; s++) {
      let k = base + ch * p.hw + s;
      let d = X[k] - st.x;
      let xh = d * st.y;
      DX[k] = st.y * (h_at(k, d, scale, gamma, beta) - mh - xh * mhx);
    }
  }
  STATS[2u * r] = st.x;
  STATS[2u * r + 1u] = st.y;
}
