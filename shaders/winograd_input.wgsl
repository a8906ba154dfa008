// Winograd F(2×2, 3×3) input transform (Lavin & Gray, 2016) for a 3×3 convolution with stride 1 and
// padding 1. The input X [N, C, H, W] is cut into 4×4 tiles at stride 2: tile (ty, tx) covers rows
// 2ty − 1 … 2ty + 2 and columns 2tx − 1 … 2tx + 2 (zeros outside X), and each tile d becomes
//   V = Bᵀ d B,   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]   (additions only).
// V is written [16, C, T] (T = N·TH·TW tiles, tile t = (n·TH + ty)·TW + tx), so that the 16 positions
// ξ = 4a + b of a transformed tile are the batch of the products M_ξ = U_ξ · V_ξ.
// One invocation per tile and channel, i = c·T + t (a loop over a row of tiles, to pay the index
// arithmetic once a row, hung SwiftShader: Chromium's GPU watchdog killed the page).
struct Params { tiles: u32, c: u32, n: u32, h: u32, w: u32, th: u32, tw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> V: array<f32>;

fn at(plane: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || x < 0 || y >= i32(p.h) || x >= i32(p.w)) { return 0.0; }
  return X[plane + u32(y) * p.w + u32(x)];
}

fn row(plane: u32, y: i32, x: i32) -> vec4<f32> {
  return vec4<f32>(at(plane, y, x), at(plane, y, x + 1), at(plane, y, x + 2), at(plane, y, x + 3));
}

/** v·B for a row v of Bᵀ·d (the same combination as Bᵀ applies to rows). */
fn bt(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(v.x - v.z, v.y + v.z, v.z - v.y, v.y - v.w);
}

fn put(i: u32, v: vec4<f32>, s: u32) {
  V[i] = v.x;
  V[i + s] = v.y;
  V[i + 2u * s] = v.z;
  V[i + 3u * s] = v.w;
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
  let y0 = i32(2u * (nty % p.th)) - 1;
  let x0 = i32(2u * tx) - 1;
  let plane = (n * p.c + c) * p.h * p.w;
  let s = p.tiles; // between the planes of consecutive ξ: C·T
  let d0 = row(plane, y0, x0);
  let d1 = row(plane, y0 + 1, x0);
  let d2 = row(plane, y0 + 2, x0);
  let d3 = row(plane, y0 + 3, x0);
  put(i, bt(d0 - d2), s);
  put(i + 4u * s, bt(d1 + d2), s);
  put(i + 8u * s, bt(d2 - d1), s);
  put(i + 12u * s, bt(d1 - d3), s);
}
