// Included by random kernels: a counter-based generator. Every value is a hash of (seed, element
// index), so nothing is stored between calls and any kernel can regenerate the same numbers (dropout's
// backward recomputes its mask instead of saving it).
//
// The hash is PCG's output permutation used as a hash function (Jarzynski & Olano, "Hash Functions
// for GPU Rendering", JCGT 2020), in nested keyed rounds: the seed (two u32 words) becomes a 32-bit
// key, and the index goes through two rounds with the key mixed in before each. Different seeds thus
// give unrelated permutations of the index space, not shifted copies of one stream.
fn pcg_(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn rng_key(seed_lo: u32, seed_hi: u32) -> u32 {
  return pcg_(seed_lo ^ pcg_(seed_hi));
}

fn rng_u32(key: u32, i: u32) -> u32 {
  return pcg_(pcg_(i ^ key) + key);
}

// Uniform in [0, 1) with 24 random bits: every value is exact in f32.
fn rng_unit(key: u32, i: u32) -> f32 {
  return f32(rng_u32(key, i) >> 8u) * 5.9604644775390625e-8;
}

// Standard normal by Box–Muller from counters 2i and 2i+1. 1 − u lies in (0, 1], so the log is finite;
// |z| is at most sqrt(2·ln 2^24) ≈ 5.77.
fn rng_normal(key: u32, i: u32) -> f32 {
  let r = sqrt(-2.0 * log(1.0 - rng_unit(key, 2u * i)));
  return r * cos(6.283185307179586 * rng_unit(key, 2u * i + 1u));
}
