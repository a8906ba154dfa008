// The gradient of the Winograd input transform (shaders/winograd_input.wgsl), first half: each
// tile's gradient dV [16] goes back through the transform, B · dV · Bᵀ (a 4×4 tile of input
// gradients), written where im2col of a 4×4 kernel with stride 2 and padding 1 would have read it:
//   G[((n·C + c)·16 + 4·ky + kx)·TH·TW + ty·TW + tx] = (B dV Bᵀ)[ky, kx]   for tile (n, ty, tx).
// Tiles overlap by two rows and columns, so col2im (shaders/col2im.wgsl, with that geometry) then
// sums the tiles' contributions into each input element: one writer per element, no atomics.
// One invocation per tile and channel, as in the forward.
struct Params { tiles: u32, c: u32, n: u32, th: u32, tw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> DV: array<f32>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;

fn load4(i: u32, s: u32) -> vec4<f32> {
  return vec4<f32>(DV[i], DV[i + s], DV[i + 2u * s], DV[i + 3u * s]);
}

/** v·Bᵀ for a row v of B·dV (the same combination as B applies to rows). */
fn b(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(v.x, v.y - v.z + v.w, v.y + v.z - v.x, -v.w);
}

fn put4(i: u32, v: vec4<f32>, stride: u32) {
  G[i] = v.x;
  G[i + stride] = v.y;
  G[i + 2u * stride] = v.z;
  G[i + 3u * stride] = v.w;
}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.tiles) { return; }
  let tx = i % p.tw;
  let r = i / p.tw; // (c, n, ty)
  let nty = r % (p.n * p.th);
  let c = r / (p.n * p.th);
  let n = nty / p.th;
  let ty = nty % p.th;
  let plane = p.th * p.tw;
  let s = p.tiles;
  let g0 = load4(i, s);
  let g1 = load4(i + 4u * s, s);
  let g2 = load4(i + 8u * s, s);
  let g3 = load4(i + 12u * s, s);
  // Rows of B·dV: B's rows combine the rows of dV as Bᵀ's columns say.
  let o = (n * p.c + c) * 16u * plane + ty * p.tw + tx;
  put4(o, b(g0), plane);
  put4(o + 4u * plane, b(g1 - g2 + g3), plane);
  put4(o + 8u * plane, b(g1 + g2 - g0), plane);
  put4(o + 12u * plane, b(-g3), plane);
}
