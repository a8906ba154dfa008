// Polynomial expansion, second (horizontal) pass: combines the column moments T [3, H, W] of
// farneback_poly_v.wgsl over the row window x−n..x+n (columns clamped) into the weighted least-squares
// fit I ≈ r1 + r2·x + r3·y + r4·x² + r5·y² + r6·xy, using the known structure of the inverse of the
// 6×6 normal matrix (ig = its entries (1,1), (0,3), (3,3), (5,5)). Output planes [5, H, W], in
// OpenCV's order: y, x, yy, xx, xy (r3, r2, r5, r4, r6); the constant r1 is not needed.
struct Params { h: u32, w: u32, n: u32, g: array<vec4<f32>, 4>, xg: array<vec4<f32>, 4>, xxg: array<vec4<f32>, 4>, ig: vec4<f32> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> T: array<f32>;
@group(0) @binding(2) var<storage, read_write> R: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  let npix = p.h * p.w;
  if (i >= npix) { return; }
  let x = i32(i % p.w);
  let row = i - u32(x);
  let g0 = p.g[0][0];
  var b1 = g0 * T[i];               // Σ g·1
  var b2 = 0.0;                     // Σ g·x
  var b3 = g0 * T[npix + i];        // Σ g·y
  var b4 = 0.0;                     // Σ g·x²
  var b5 = g0 * T[2u * npix + i];   // Σ g·y²
  var b6 = 0.0;                     // Σ g·xy
  for (var k = 1u; k <= p.n; k++) {
    let l = row + u32(max(x - i32(k), 0));
    let r = row + u32(min(x + i32(k), i32(p.w) - 1));
    let g = p.g[k / 4u][k % 4u];
    let xg = p.xg[k / 4u][k % 4u];
    let s0 = T[l] + T[r];
    b1 += g * s0;
    b2 += xg * (T[r] - T[l]);
    b4 += p.xxg[k / 4u][k % 4u] * s0;
    b3 += g * (T[npix + l] + T[npix + r]);
    b6 += xg * (T[npix + r] - T[npix + l]);
    b5 += g * (T[2u * npix + l] + T[2u * npix + r]);
  }
  R[i] = b3 * p.ig.x;
  R[npix + i] = b2 * p.ig.x;
  R[2u * npix + i] = b1 * p.ig.y + b5 * p.ig.z;
  R[3u * npix + i] = b1 * p.ig.y + b4 * p.ig.z;
  R[4u * npix + i] = b6 * p.ig.w;
}
