// Backward warping of P planes [P, H, W] by a flow F [H, W, 2] (fx, fy), bilinear:
// O(y, x) = X(y + fy, x + fx). A tap outside the frame reads the nearest edge pixel (mode 0,
// replicate) or the constant p.fill (mode 1). One invocation per output element.
struct Params { total: u32, h: u32, w: u32, mode: u32, fill: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> F: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

fn tap(base: u32, x: i32, y: i32) -> f32 {
  let w = i32(p.w);
  let h = i32(p.h);
  if (p.mode == 1u && (x < 0 || x >= w || y < 0 || y >= h)) { return p.fill; }
  return X[base + u32(clamp(y, 0, h - 1) * w + clamp(x, 0, w - 1))];
}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let npix = p.h * p.w;
  let j = i % npix;
  let base = i - j;
  // Clamped so that the integer conversion cannot overflow; far outside stays outside.
  let sx = clamp(f32(j % p.w) + F[2u * j], -2.0, f32(p.w) + 1.0);
  let sy = clamp(f32(j / p.w) + F[2u * j + 1u], -2.0, f32(p.h) + 1.0);
  let x0 = i32(floor(sx));
  let y0 = i32(floor(sy));
  let ax = sx - f32(x0);
  let ay = sy - f32(y0);
  let top = (1.0 - ax) * tap(base, x0, y0) + ax * tap(base, x0 + 1, y0);
  let bottom = (1.0 - ax) * tap(base, x0, y0 + 1) + ax * tap(base, x0 + 1, y0 + 1);
  O[i] = (1.0 - ay) * top + ay * bottom;
}
