// Included by broadcasting kernels: the flat offset into an input for flat output index `i`.
// `shape` is the output shape and `strides` the input's strides with 0 on broadcast dimensions,
// both padded to 8 dimensions, packed four to a vec4 (uniform arrays need 16-byte elements).
fn bcast_offset(i: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let n = shape[d / 4][d % 4];
    off += (rem % n) * strides[d / 4][d % 4];
    rem /= n;
  }
  return off;
}
