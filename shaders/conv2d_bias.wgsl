// conv2d's bias: O[r, j] = Y[r, j] + B[r % c] for the rows r = (n, co) of Y [N·Cout, L = Hout·Wout].
// One invocation per row, looping over it: one division a row rather than the broadcast add's
// division per element (slow on lavapipe).
struct Params { rows: u32, c: u32, l: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let b = B[r % p.c];
  let at = r * p.l;
  for (var j = 0u; j < p.l; j++) { O[at + j] = Y[at + j] + b; }
}
