// Included by the layer-norm kernels: mean and 1/sqrt(biased variance + eps) of the row of X that
// starts at `base` (c contiguous elements). Two passes, so the variance has no cancellation error.
fn row_stats(base: u32, c: u32, eps: f32) -> vec2<f32> {
  var s = 0.0;
  for (var j = 0u; j < c; j++) { s += X[base + j]; }
  let mean = s / f32(c);
  var v = 0.0;
  for (var j = 0u; j < c; j++) { let d = X[base + j] - mean; v += d * d; }
  return vec2<f32>(mean, inverseSqrt(v / f32(c) + eps));
}
