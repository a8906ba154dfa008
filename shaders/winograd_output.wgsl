// Winograd F(2×2, 3×3) output transform (see shaders/winograd_input.wgsl): each tile's 16 products
// m [4×4] (M [16, Cout, T], position ξ = 4a + b) become its 2×2 outputs
//   Y = Aᵀ m A,   Aᵀ = [1 1 1 0; 0 1 −1 −1],
// written at rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 of Y [N, Cout, H, W] (an odd H or W drops the
// last tile's second row or column). One invocation per tile and channel, as the input's.
struct Params { tiles: u32, c: u32, n: u32, h: u32, w: u32, th: u32, tw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

fn load4(i: u32, s: u32) -> vec4<f32> {
  return vec4<f32>(M[i], M[i + s], M[i + 2u * s], M[i + 3u * s]);
}

/** v·A for a row v of Aᵀ·m. */
fn a(v: vec4<f32>) -> vec2<f32> {
  return vec2<f32>(v.x + v.y + v.z, v.y - v.z - v.w);
}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.tiles) { return; }
  let tx = i % p.tw;
  let r = i / p.tw; // (co, n, ty)
  let nty = r % (p.n * p.th);
  let co = r / (p.n * p.th);
  let n = nty / p.th;
  let y = 2u * (nty % p.th);
  let x = 2u * tx;
  let s = p.tiles;
  let m0 = load4(i, s);
  let m1 = load4(i + 4u * s, s);
  let m2 = load4(i + 8u * s, s);
  let m3 = load4(i + 12u * s, s);
  let top = a(m0 + m1 + m2);
  let bottom = a(m1 - m2 - m3);
  let o = (n * p.c + co) * p.h * p.w + y * p.w + x;
  let right = x + 1u < p.w;
  Y[o] = top.x;
  if (right) { Y[o + 1u] = top.y; }
  if (y + 1u < p.h) {
    Y[o + p.w] = bottom.x;
    if (right) { Y[o + p.w + 1u] = bottom.y; }
  }
}
