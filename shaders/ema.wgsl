// Exponential moving average in place: T = m·T + (1 − m)·S (1 − m computed on the CPU in float64).
struct Params { n: u32, m: f32, c: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> T: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  T[i] = p.m * T[i] + p.c * S[i];
}
