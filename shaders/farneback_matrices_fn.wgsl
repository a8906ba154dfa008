// Farneback's per-pixel system for the flow d = (dx, dy) at pixel i = (x, y), shared by
// farneback_matrices.wgsl and farneback_update.wgsl (which declare p.h, p.w, R0, R1 and M): the
// expansions A0, b0 of the first image at (x, y) and A1, b1 of the second at (x + dx, y + dy)
// (bilinear; outside the frame only A0 counts and b1 = 0) give A = (A0 + A1)/2 and
// Δb = (b0 − b1)/2 + A·d; the five planes of M [5, H, W] receive AᵀA (g11, g12, g22) and AᵀΔb (h1, h2)
// in (y, x) order. Pixels within 5 of an edge are attenuated (the factors of optflowgf.cpp), since
// their expansion saw replicated borders. R0, R1 hold the planes y, x, yy, xx, xy.

// Attenuation at distance d from an edge: 0.14, 0.14, 0.4472, 0.4472, 0.4472, then 1.
fn side(d: i32) -> f32 {
  if (d >= 5) { return 1.0; }
  return select(0.4472, 0.14, d < 2);
}

fn write_matrices(i: u32, x: i32, y: i32, dx: f32, dy: f32) {
  let npix = p.h * p.w;
  let w = i32(p.w);
  let h = i32(p.h);
  // Clamped so that the integer conversion cannot overflow; far outside stays outside.
  let fx = clamp(f32(x) + dx, -2.0, f32(w) + 1.0);
  let fy = clamp(f32(y) + dy, -2.0, f32(h) + 1.0);
  let x1 = i32(floor(fx));
  let y1 = i32(floor(fy));
  var r2: f32;
  var r3: f32;
  var r4: f32;
  var r5: f32;
  var r6: f32;
  if (x1 >= 0 && x1 < w - 1 && y1 >= 0 && y1 < h - 1) {
    let ax = fx - f32(x1);
    let ay = fy - f32(y1);
    let a00 = (1.0 - ax) * (1.0 - ay);
    let a01 = ax * (1.0 - ay);
    let a10 = (1.0 - ax) * ay;
    let a11 = ax * ay;
    let j = u32(y1 * w + x1);
    var s: array<f32, 5>;
    for (var c = 0u; c < 5u; c++) {
      let o = c * npix + j;
      s[c] = a00 * R1[o] + a01 * R1[o + 1u] + a10 * R1[o + p.w] + a11 * R1[o + p.w + 1u];
    }
    r2 = s[0];
    r3 = s[1];
    r4 = (R0[2u * npix + i] + s[2]) * 0.5;
    r5 = (R0[3u * npix + i] + s[3]) * 0.5;
    r6 = (R0[4u * npix + i] + s[4]) * 0.25;
  } else {
    r2 = 0.0;
    r3 = 0.0;
    r4 = R0[2u * npix + i];
    r5 = R0[3u * npix + i];
    r6 = R0[4u * npix + i] * 0.5;
  }
  r2 = (R0[i] - r2) * 0.5 + r4 * dy + r6 * dx;
  r3 = (R0[npix + i] - r3) * 0.5 + r6 * dy + r5 * dx;
  let scale = side(x) * side(w - 1 - x) * side(y) * side(h - 1 - y);
  r2 *= scale;
  r3 *= scale;
  r4 *= scale;
  r5 *= scale;
  r6 *= scale;
  M[i] = r4 * r4 + r6 * r6;
  M[npix + i] = (r4 + r5) * r6;
  M[2u * npix + i] = r5 * r5 + r6 * r6;
  M[3u * npix + i] = r4 * r2 + r6 * r3;
  M[4u * npix + i] = r6 * r2 + r5 * r3;
}
