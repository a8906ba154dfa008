// Backward of layer norm for x, one invocation per row. With xh = (x − mean)·rstd and h = g·gamma:
//   dx = rstd · (h − mean(h) − xh · mean(h·xh)).
// The row statistics are recomputed here (not saved by the forward pass) and written to STATS as
// (mean, rstd) pairs for the gamma/beta kernel.
struct Params { rows: u32, c: u32, eps: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> GAMMA: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DX: array<f32>;
@group(0) @binding(5) var<storage, read_write> STATS: array<f32>;

{{STATS}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  let st = row_stats(base, p.c, p.eps);
  var mh = 0.0;
  var mhx = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let h = G[base + j] * GAMMA[j];
    mh += h;
    mhx += h * (X[base + j] - st.x) * st.y;
  }
  mh /= f32(p.c);
  mhx /= f32(p.c);
  for (var j = 0u; j < p.c; j++) {
    let xh = (X[base + j] - st.x) * st.y;
    DX[base + j] = st.y * (G[base + j] * GAMMA[j] - mh - xh * mhx);
  }
  STATS[2u * r] = st.x;
  STATS[2u * r + 1u] = st.y;
}
