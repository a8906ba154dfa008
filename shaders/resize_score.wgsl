// Included by every bilinear upsampling kernel (resize_bilinear, resize_argmax, resize_softmax_stats,
// resize_cross_entropy*), after resize_coord.wgsl, so that all of them round alike: plane `plane` of
// their X [planes, ih, iw] at output taps ty, tx; rows first, as PyTorch's CPU kernel.
fn score(plane: u32, ty: Taps, tx: Taps) -> f32 {
  let r0 = (plane * p.ih + ty.i0) * p.iw;
  let r1 = (plane * p.ih + ty.i1) * p.iw;
  let top = (1.0 - tx.l1) * X[r0 + tx.i0] + tx.l1 * X[r0 + tx.i1];
  let bottom = (1.0 - tx.l1) * X[r1 + tx.i0] + tx.l1 * X[r1 + tx.i1];
  return (1.0 - ty.l1) * top + ty.l1 * bottom;
}
