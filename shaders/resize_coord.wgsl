// Included by the resize kernels: where output index `dst` of an axis of `n` input samples reads from,
// for F.interpolate with align_corners = false. `scale` = in / out, rounded to f32 by the caller, and
// the arithmetic is f32 as in PyTorch's CPU kernels, so nearest indices match PyTorch's exactly.

// 'nearest': ⌊dst·scale⌋; 'nearest-exact': ⌊(dst + 0.5)·scale⌋ (off = 0 or 0.5); clamped to n − 1.
fn nearest_src(dst: u32, off: f32, scale: f32, n: u32) -> u32 {
  return min(u32(floor((f32(dst) + off) * scale)), n - 1u);
}

// Bilinear: src = max((dst + 0.5)·scale − 0.5, 0); taps i0 = ⌊src⌋ and i1 = min(i0 + 1, n − 1) with
// weights 1 − l1 and l1 = src − i0. (src < n − 0.5 always, so the clamp of i0 never binds.)
struct Taps { i0: u32, i1: u32, l1: f32 };
fn bilinear_src(dst: u32, scale: f32, n: u32) -> Taps {
  let src = max((f32(dst) + 0.5) * scale - 0.5, 0.0);
  let i0 = min(u32(src), n - 1u);
  return Taps(i0, min(i0 + 1u, n - 1u), src - f32(i0));
}

// The weight with which input sample `src` enters output sample `dst`, for the gradients.
fn nearest_weight(dst: u32, src: u32, off: f32, scale: f32, n: u32) -> f32 {
  return select(0.0, 1.0, nearest_src(dst, off, scale, n) == src);
}
// The weight with which sample src enters the output whose taps are t.
fn tap_weight(t: Taps, src: u32) -> f32 {
  return select(0.0, 1.0 - t.l1, t.i0 == src) + select(0.0, t.l1, t.i1 == src);
}
fn bilinear_weight(dst: u32, src: u32, off: f32, scale: f32, n: u32) -> f32 {
  return tap_weight(bilinear_src(dst, scale, n), src);
}

// The outputs [x, y) of an axis that may read input sample `src` (inv = out / in): only outputs near
// src·inv can, and [⌊(src − 1)·inv⌋ − 1, ⌈(src + 2)·inv⌉ + 1] holds every one for both modes, with a
// margin for f32 rounding. The gradients gather over them, checking each weight exactly.
fn candidates(src: u32, inv: f32, n_out: u32) -> vec2<u32> {
  let lo = max(i32(floor((f32(src) - 1.0) * inv)) - 1, 0);
  let hi = min(i32(ceil((f32(src) + 2.0) * inv)) + 1, i32(n_out) - 1);
  return vec2<u32>(u32(lo), u32(max(hi, lo - 1) + 1));
}
