// The gradient of the Winograd output transform (shaders/winograd_output.wgsl): each tile's 2×2
// output gradients g (0 where the tile overhangs an odd H or W) go back as dM = A · g · Aᵀ [4×4],
// written to dM [16, Cout, T] at the tile's 16 positions. Tiles do not overlap in Y, so this is one
// pass, one invocation per tile and channel.
struct Params { tiles: u32, c: u32, n: u32, h: u32, w: u32, th: u32, tw: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> GY: array<f32>;
@group(0) @binding(2) var<storage, read_write> DM: array<f32>;

/** v·Aᵀ for a row v of A·g. */
fn at(v: vec2<f32>) -> vec4<f32> {
  return vec4<f32>(v.x, v.x + v.y, v.x - v.y, -v.y);
}

fn put(i: u32, v: vec4<f32>, s: u32) {
  DM[i] = v.x;
  DM[i + s] = v.y;
  DM[i + 2u * s] = v.z;
  DM[i + 3u * s] = v.w;
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
  let o = (n * p.c + co) * p.h * p.w + y * p.w + x;
  let right = x + 1u < p.w;
  // Out-of-range loads read o instead (in range), and the select drops them.
  let g0 = vec2<f32>(GY[o], select(0.0, GY[o + select(0u, 1u, right)], right));
  var g1 = vec2<f32>(0.0, 0.0);
  if (y + 1u < p.h) { g1 = vec2<f32>(GY[o + p.w], select(0.0, GY[o + p.w + select(0u, 1u, right)], right)); }
  // Rows of A·g: A's rows combine the rows of g as Aᵀ's columns say.
  let s = p.tiles;
  put(i, at(g0), s);
  put(i + 4u * s, at(g0 + g1), s);
  put(i + 8u * s, at(g0 - g1), s);
  put(i + 12u * s, at(-g1), s);
}
