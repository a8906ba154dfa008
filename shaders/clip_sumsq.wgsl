// First stage of the global gradient norm: invocation i of `threads` sums G[j]² over j = i, i + threads,
// i + 2·threads, ... (neighbouring invocations read neighbouring elements) into O[offset + i].
// Every gradient writes its own range of O, so one buffer holds the partial sums of all of them.
struct Params { n: u32, threads: u32, offset: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.threads) { return; }
  var acc = 0.0;
  for (var j = i; j < p.n; j += p.threads) {
    let g = G[j];
    acc += g * g;
  }
  O[p.offset + i] = acc;
}
