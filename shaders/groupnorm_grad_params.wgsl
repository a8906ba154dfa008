// Gradients of group norm's γ and β: per channel, sums over the batch and the positions,
// dγ = Σ g'·xh and dβ = Σ g', where g' is g (zero where the ReLU was off, when RELU). One
// invocation per channel walking its B·hw elements (no atomics), Kahan-compensated as layer
// norm's: there may be many.
struct Params { c: u32, rows: u32, groups: u32, hw: u32, channels: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read> BETA: array<f32>;
@group(0) @binding(4) var<storage, read> G: array<f32>;
@group(0) @binding(5) var<storage, read> STATS: array<f32>; // (mean, rstd) per row
@group(0) @binding(6) var<storage, read_write> DGAMMA: array<f32>;
@group(0) @binding(7) var<storage, read_write> DBETA: array<f32>;

const RELU = {{RELU}};

// 8 channels a workgroup, so that a decoder's 32–64 channels spread over the CPU cores on lavapipe.
const WG = 8u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ch = flatIndex(gid, nwg, WG);
  if (ch >= p.channels) { return; }
  let cpg = p.channels / p.groups;
  let gamma = GAMMA[ch];
  let beta = BETA[ch];
  var sg = vec2<f32>(0.0); // (Σ g'·xh, Σ g')
  var comp = vec2<f32>(0.0);
  for (var r = ch / cpg; r < p.rows; r += p.groups) {
    let mean = STATS[2u * r];
    let rstd = STATS[2u * r + 1u];
    let o = r * p.c + (ch % cpg) * p.hw;
    for (var s = 0u; s < p.hw; s++) {
      let d = X[o + s] - mean;
      let xh = d * rstd;
      let g = select(G[o + s], 0.0, RELU && d * (rstd * gamma) + beta <= 0.0); // z as the forward pass rounds it
      let yk = vec2<f32>(g * xh, g) - comp;
      let tk = sg + yk;
      comp = (tk - sg) - yk;
      sg = tk;
    }
  }
  DGAMMA[ch] = sg.x;
  DBETA[ch] = sg.y;
}
