// Gradient of gather_rows.wgsl: GX[r, c] = Σ G[j, c] over the output rows j that read row r.
// Those j are listed, grouped by r, in a CSR table built on the CPU: Positions[Offsets[r] ..
// Offsets[r+1]) in increasing j. One invocation per element of GX walks only its own list, so the
// whole pass costs O(|GX| + |G|) reads, needs no atomics and sums in a fixed order (deterministic).
struct Params { total: u32, r: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Offsets: array<i32>;
@group(0) @binding(3) var<storage, read> Positions: array<i32>;
@group(0) @binding(4) var<storage, read_write> GX: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let c = i % p.r;
  let row = i / p.r;
  var acc = 0.0;
  for (var k = Offsets[row]; k < Offsets[row + 1u]; k++) {
    acc += G[u32(Positions[k]) * p.r + c];
  }
  GX[i] = acc;
}
