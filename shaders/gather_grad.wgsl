// Gradient of gather.wgsl, a scatter-add written without atomics: one invocation per element
// GX[o, k, r] sums G[o, j, r] over the j < m whose position POS equals k, in order of j, so the
// result is deterministic. Out-of-range positions match no k and contribute nothing.
// Cost is m reads per gradient element, fine for the small m of labels and crops.
struct Params { total: u32, n: u32, m: u32, inner: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Idx: array<{{I_T}}>;
@group(0) @binding(3) var<storage, read_write> GX: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let r = i % p.inner;
  let k = i32((i / p.inner) % p.n);
  let o = i / (p.inner * p.n);
  var acc = 0.0;
  for (var j = 0u; j < p.m; j++) {
    if (i32({{POS}}) == k) { acc += G[(o * p.m + j) * p.inner + r]; }
  }
  GX[i] = acc;
}
