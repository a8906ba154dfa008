// out[i] = EXPR: a random value for element i from the counter-based generator in rng.wgsl.
// a, b are f32 parameters (bounds, mean/std, probability); ilo and range serve integer draws.
struct Params { n: u32, seed_lo: u32, seed_hi: u32, a: f32, b: f32, ilo: i32, range: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> O: array<{{O_T}}>;

{{RNG}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  let key = rng_key(p.seed_lo, p.seed_hi);
  O[i] = {{EXPR}};
}
