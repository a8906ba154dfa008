// Gradient of gather_dot.wgsl for B: GB[n, d] = Σ G[k] · A[k / T, d] over the output elements k that
// read row n, listed in a CSR table built on the CPU (Positions[Offsets[n] .. Offsets[n+1]), increasing
// k), as in gather_rows_grad.wgsl: no atomics, a fixed summation order, O(|GB| + |G|·R) reads.
struct Params { total: u32, t: u32, r: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> Offsets: array<i32>;
@group(0) @binding(4) var<storage, read> Positions: array<i32>;
@group(0) @binding(5) var<storage, read_write> GB: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let d = i % p.r;
  let row = i / p.r;
  var acc = 0.0;
  for (var k = Offsets[row]; k < Offsets[row + 1u]; k++) {
    let pos = u32(Positions[k]);
    acc += G[pos] * A[(pos / p.t) * p.r + d];
  }
  GB[i] = acc;
}
