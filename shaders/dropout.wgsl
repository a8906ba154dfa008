// Inverted dropout: out[i] = a[i] · scale where the element is kept, else 0. An element is kept when
// its uniform draw is below `keep` (= 1 − p): exactly the mask randBernoulli(shape, 1 − p, seed) makes.
// The backward pass runs this same kernel on the gradient, so the mask is never stored.
struct Params { n: u32, seed_lo: u32, seed_hi: u32, keep: f32, scale: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

{{RNG}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  let key = rng_key(p.seed_lo, p.seed_hi);
  O[i] = select(0.0, A[i] * p.scale, rng_unit(key, i) < p.keep);
}
