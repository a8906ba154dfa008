// Winograd F(2×2, 3×3) (Lavin & Gray, 2016) for 3×3 convolutions with stride 1 and padding 1: the
// input and output transforms and their gradients (engine/ops/winograd.ts). {{STEP}} picks which one
// a pipeline runs; all four read Src and write Dst, one invocation per tile and channel.
// (A loop over a row of tiles per invocation, to pay the index arithmetic once a row, hung
// SwiftShader: Chromium's GPU watchdog killed the page.)
//
// The input X [N, C, H, W] is cut into 4×4 tiles at stride 2: tile (ty, tx) covers rows 2ty − 1 …
// 2ty + 2 and columns 2tx − 1 … 2tx + 2 (zeros outside X). Transformed tiles are stored [16, C, T]
// (T = N·TH·TW tiles, tile t = (n·TH + ty)·TW + tx; ξ = 4a + b, planes C·T apart), so that the 16
// positions are the batch of the products M_ξ = U_ξ · V_ξ. With
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],   Aᵀ = [1 1 1 0; 0 1 −1 −1]   (additions only):
//   input:       V = Bᵀ d B for each tile d                                    X → V [16, C, T]
//   input_grad:  B dV Bᵀ, a 4×4 tile of input gradients, written where im2col of a 4×4 kernel with
//                stride 2 and padding 1 would have read it; col2im then sums the overlapping tiles
//                (one writer per element, no atomics)                         dV → [N, C·16, TH·TW]
//   output:      Y = Aᵀ m A, a 2×2 block at rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 (an odd H or
//                W drops the last tile's second row or column)                M [16, C, T] → Y
//   output_grad: dM = A g Aᵀ for each block g of output gradients (0 where the tile overhangs)
struct Params { tiles: u32, c: u32, n: u32, h: u32, w: u32, th: u32, tw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Src: array<f32>;
@group(0) @binding(2) var<storage, read_write> Dst: array<f32>;

/** Invocation i = c·T + t: its channel, image, tile row and column. */
struct Tile { i: u32, c: u32, n: u32, ty: u32, tx: u32 };

fn tileOf(i: u32) -> Tile {
  let r = i / p.tw; // (c, n, ty)
  let nty = r % (p.n * p.th);
  return Tile(i, r / (p.n * p.th), nty / p.th, nty % p.th, i % p.tw);
}

/** Four values of a tile's 16 from [16, C, T]: positions ξ … ξ + 3 of tile i. */
fn load4(i: u32) -> vec4<f32> {
  return vec4<f32>(Src[i], Src[i + p.tiles], Src[i + 2u * p.tiles], Src[i + 3u * p.tiles]);
}

fn store4(i: u32, v: vec4<f32>, stride: u32) {
  Dst[i] = v.x;
  Dst[i + stride] = v.y;
  Dst[i + 2u * stride] = v.z;
  Dst[i + 3u * stride] = v.w;
}

/** X[plane, y, x], 0 in the padding. */
fn at(plane: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || x < 0 || y >= i32(p.h) || x >= i32(p.w)) { return 0.0; }
  return Src[plane + u32(y) * p.w + u32(x)];
}

fn row(plane: u32, y: i32, x: i32) -> vec4<f32> {
  return vec4<f32>(at(plane, y, x), at(plane, y, x + 1), at(plane, y, x + 2), at(plane, y, x + 3));
}

/** v·B for a row v of Bᵀ·d (the combination Bᵀ applies to rows). */
fn bt(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(v.x - v.z, v.y + v.z, v.z - v.y, v.y - v.w);
}

/** v·Bᵀ for a row v of B·dV (the combination B applies to rows). */
fn b(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(v.x, v.y - v.z + v.w, v.y + v.z - v.x, -v.w);
}

/** v·A for a row v of Aᵀ·m. */
fn a(v: vec4<f32>) -> vec2<f32> {
  return vec2<f32>(v.x + v.y + v.z, v.y - v.z - v.w);
}

/** v·Aᵀ for a row v of A·g. */
fn at2(v: vec2<f32>) -> vec4<f32> {
  return vec4<f32>(v.x, v.x + v.y, v.x - v.y, -v.y);
}

fn input(t: Tile) {
  let plane = (t.n * p.c + t.c) * p.h * p.w;
  let y0 = i32(2u * t.ty) - 1;
  let x0 = i32(2u * t.tx) - 1;
  let d0 = row(plane, y0, x0);
  let d1 = row(plane, y0 + 1, x0);
  let d2 = row(plane, y0 + 2, x0);
  let d3 = row(plane, y0 + 3, x0);
  let s = p.tiles;
  store4(t.i, bt(d0 - d2), s);
  store4(t.i + 4u * s, bt(d1 + d2), s);
  store4(t.i + 8u * s, bt(d2 - d1), s);
  store4(t.i + 12u * s, bt(d1 - d3), s);
}

fn input_grad(t: Tile) {
  let s = p.tiles;
  let g0 = load4(t.i);
  let g1 = load4(t.i + 4u * s);
  let g2 = load4(t.i + 8u * s);
  let g3 = load4(t.i + 12u * s);
  // Rows of B·dV: B's rows combine the rows of dV as Bᵀ's columns say.
  let plane = p.th * p.tw;
  let o = (t.n * p.c + t.c) * 16u * plane + t.ty * p.tw + t.tx;
  store4(o, b(g0), plane);
  store4(o + 4u * plane, b(g1 - g2 + g3), plane);
  store4(o + 8u * plane, b(g1 + g2 - g0), plane);
  store4(o + 12u * plane, b(-g3), plane);
}

fn output(t: Tile) {
  let s = p.tiles;
  let m0 = load4(t.i);
  let m1 = load4(t.i + 4u * s);
  let m2 = load4(t.i + 8u * s);
  let m3 = load4(t.i + 12u * s);
  let top = a(m0 + m1 + m2);
  let bottom = a(m1 - m2 - m3);
  let y = 2u * t.ty;
  let x = 2u * t.tx;
  let o = (t.n * p.c + t.c) * p.h * p.w + y * p.w + x;
  let right = x + 1u < p.w;
  Dst[o] = top.x;
  if (right) { Dst[o + 1u] = top.y; }
  if (y + 1u < p.h) {
    Dst[o + p.w] = bottom.x;
    if (right) { Dst[o + p.w + 1u] = bottom.y; }
  }
}

fn output_grad(t: Tile) {
  let y = 2u * t.ty;
  let x = 2u * t.tx;
  let o = (t.n * p.c + t.c) * p.h * p.w + y * p.w + x;
  let right = x + 1u < p.w;
  // Out-of-range loads read o instead (in range), and the select drops them.
  let g0 = vec2<f32>(Src[o], select(0.0, Src[o + select(0u, 1u, right)], right));
  var g1 = vec2<f32>(0.0, 0.0);
  if (y + 1u < p.h) { g1 = vec2<f32>(Src[o + p.w], select(0.0, Src[o + p.w + select(0u, 1u, right)], right)); }
  // Rows of A·g: A's rows combine the rows of g as Aᵀ's columns say.
  let s = p.tiles;
  store4(t.i, at2(g0), s);
  store4(t.i + 4u * s, at2(g0 + g1), s);
  store4(t.i + 8u * s, at2(g0 - g1), s);
  store4(t.i + 12u * s, at2(-g1), s);
}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.tiles) { return; }
  {{STEP}}(tileOf(i));
}
