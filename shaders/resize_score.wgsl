// Included by the kernels that read class scores bilinearly upsampled without storing them
// (resize_cross_entropy*.wgsl, resize_softmax_stats.wgsl), after resize_coord.wgsl: class plane
// `plane` of their X [N·K, ih, iw] at output taps ty, tx, with resize_bilinear.wgsl's arithmetic.
fn score(plane: u32, ty: Taps, tx: Taps) -> f32 {
  let r0 = (plane * p.ih + ty.i0) * p.iw;
  let r1 = (plane * p.ih + ty.i1) * p.iw;
  let top = (1.0 - tx.l1) * X[r0 + tx.i0] + tx.l1 * X[r0 + tx.i1];
  let bottom = (1.0 - tx.l1) * X[r1 + tx.i0] + tx.l1 * X[r1 + tx.i1];
  return (1.0 - ty.l1) * top + ty.l1 * bottom;
}
