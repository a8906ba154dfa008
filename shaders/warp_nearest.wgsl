// Backward warping of label planes [P, H, W] (i32) by a flow F [H, W, 2] (fx, fy), nearest:
// O(y, x) = L(round(y + fy), round(x + fx)), halves rounded up. A source outside the frame reads the
// nearest edge pixel (mode 0, replicate) or the constant p.fill (mode 1). One invocation per element.
struct Params { total: u32, h: u32, w: u32, mode: u32, fill: i32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> L: array<i32>;
@group(0) @binding(2) var<storage, read> F: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<i32>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let npix = p.h * p.w;
  let j = i % npix;
  let w = i32(p.w);
  let h = i32(p.h);
  // Clamped so that the integer conversion cannot overflow; far outside stays outside.
  let x = i32(floor(clamp(f32(j % p.w) + F[2u * j], -2.0, f32(w) + 1.0) + 0.5));
  let y = i32(floor(clamp(f32(j / p.w) + F[2u * j + 1u], -2.0, f32(h) + 1.0) + 0.5));
  if (p.mode == 1u && (x < 0 || x >= w || y < 0 || y >= h)) {
    O[i] = p.fill;
    return;
  }
  O[i] = L[i - j + u32(clamp(y, 0, h - 1) * w + clamp(x, 0, w - 1))];
}
