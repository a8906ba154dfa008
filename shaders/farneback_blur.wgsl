// One pass of the Gaussian pre-blur of Farneback's pyramid: a symmetric 1-D filter along x (axis 0) or
// y (axis 1) of an image [H, W], O = K[0]·X[c] + Σ_{k=1..half} K[k]·(X[c−k] + X[c+k]), with
// reflect-101 borders (gfedcb|abcdefgh|gfedcba) as cv::GaussianBlur. The taps come in a storage buffer
// because coarse levels need long kernels (79 taps at level 5). One invocation per pixel.
struct Params { h: u32, w: u32, half: u32, axis: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

fn reflect101(c: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * (n - 1);
  let j = abs(c) % period;
  return select(j, period - j, j >= n);
}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.h * p.w) { return; }
  let along_x = p.axis == 0u;
  let c = i32(select(i / p.w, i % p.w, along_x));
  let n = i32(select(p.h, p.w, along_x));
  let stride = i32(select(p.w, 1u, along_x));
  let base = i32(i) - c * stride; // the pixel at coordinate 0 of this line
  let half = i32(p.half);
  var acc = K[0] * X[i];
  if (c >= half && c + half < n) {
    // Away from the borders: no reflection (its integer modulo is slow on a CPU adapter).
    for (var k = 1; k <= half; k++) {
      acc += K[k] * (X[i32(i) - k * stride] + X[i32(i) + k * stride]);
    }
  } else {
    for (var k = 1; k <= half; k++) {
      acc += K[k] * (X[base + reflect101(c - k, n) * stride] + X[base + reflect101(c + k, n) * stride]);
    }
  }
  O[i] = acc;
}
