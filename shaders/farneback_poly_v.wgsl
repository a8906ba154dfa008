// Polynomial expansion, first (vertical) pass: for each pixel, the image's moments over the column
// window y−n..y+n (rows clamped at the edges) under the applicability g: T0 = Σ g·I, T1 = Σ y·g·I,
// T2 = Σ y²·g·I, written as three planes [3, H, W]. The horizontal pass (farneback_poly_h.wgsl)
// turns them into the five polynomial coefficients. Taps: g, xg = x·g, xxg = x²·g at x = 0..n.
struct Params { h: u32, w: u32, n: u32, g: array<vec4<f32>, 4>, xg: array<vec4<f32>, 4>, xxg: array<vec4<f32>, 4> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read_write> T: array<f32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  let npix = p.h * p.w;
  if (i >= npix) { return; }
  let x = i % p.w;
  let y = i32(i / p.w);
  var t0 = p.g[0][0] * I[i];
  var t1 = 0.0;
  var t2 = 0.0;
  for (var k = 1u; k <= p.n; k++) {
    let a = I[u32(max(y - i32(k), 0)) * p.w + x];
    let b = I[u32(min(y + i32(k), i32(p.h) - 1)) * p.w + x];
    t0 += p.g[k / 4u][k % 4u] * (a + b);
    t1 += p.xg[k / 4u][k % 4u] * (b - a);
    t2 += p.xxg[k / 4u][k % 4u] * (a + b);
  }
  T[i] = t0;
  T[npix + i] = t1;
  T[2u * npix + i] = t2;
}
