// Matrix product for CPU adapters (lavapipe), one chunk of K per dispatch:
// out[i, j] (+)= Σ_{k0 ≤ k < k0 + KC} X[i, k] · Y[k, j], X rows contiguous along K, read as vec4;
// Y and out through strides (any layout).
//
// Why it looks like this (measured; engine/ops/matmul.ts has the numbers). Lavapipe runs 8
// invocations as the lanes of one AVX2 vector. It turns every storage load whose address is not a
// compile-time constant into 8 scalar loads with bounds checks (about 10 instructions a value), and
// it has no fused multiply-add. The one cheap load is from workgroup memory at a constant address,
// in code outside any loop or branch: one broadcast, folded into the multiply. So:
// - the workgroup's invocations copy a KC × BN tile of Y into workgroup memory (Ys), then barrier;
// - each invocation owns row i of X and BN columns j; it loads its X values itself, and reads Ys at
//   constant offsets in straight-line code (BODY, generated in TS: a vmulps with a broadcast memory
//   operand and a vaddps per multiply-add);
// - the caller covers K with one dispatch per chunk; when there are several, the STORE part adds
//   the later ones to what is stored. The first chunk starts its accumulators from the bias (if
//   p.bias), staged in workgroup memory too.
// linear's fused activation (EPILOGUE: an `act` function, and a `Pre` output for its input when
// training needs it) is applied as the last chunk stores.
// After every region of 16 k the code stores a sum of its accumulators to `pin`: without a use
// there, LLVM sinks the additions past the next region's loads and spills every product to the
// stack. `p.never` is always 0; reading `pin` under it keeps those stores alive.
struct Params {
  I: u32, J: u32, K: u32, k0: u32,
  xi: u32, yk: u32, yj: u32, ci: u32, cj: u32,
  first: u32, last: u32, bias: u32, never: u32, z0: u32, brank: u32, xoff: u32, yoff: u32, ooff: u32,
  bshape: array<vec4<u32>, 2>, xs: array<vec4<u32>, 2>, ys: array<vec4<u32>, 2>, os: array<vec4<u32>, 2>,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>; // [J]; unused unless p.bias == 1
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
{{EPILOGUE}}

var<workgroup> Ys: array<f32, {{TILE}}>;
var<workgroup> biasTile: array<f32, {{BN}}>;
var<workgroup> pin: array<f32, 1>;

{{BROADCAST}}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  // Batch z: X, Y and out through base offsets and batch strides (0 where broadcast).
  let z = wid.z + p.z0;
  let xo = p.xoff + bcast_offset(z, p.brank, p.bshape, p.xs);
  let yo = p.yoff + bcast_offset(z, p.brank, p.bshape, p.ys);
  let j0 = wid.y * {{BN}}u;
  for (var t = li; t < {{TILE}}u; t += {{WG}}u) {
    let k = p.k0 + t / {{BN}}u;
    let j = j0 + t % {{BN}}u;
    Ys[t] = select(0.0, Y[yo + k * p.yk + j * p.yj], k < p.K && j < p.J);
  }
  if (li < {{BN}}u) {
    biasTile[li] = select(0.0, Bias[j0 + li], p.bias == 1u && p.first == 1u && j0 + li < p.J);
  }
  workgroupBarrier();
  // Rows past the end compute a copy of the last row (their loads stay in range) and store nothing.
  let iReal = wid.x * {{WG}}u + li;
  let i = min(iReal, p.I - 1u);
  let xb = (xo + i * p.xi + p.k0) / 4u;
{{ACCS}}
{{BODY}}
  c0 += select(0.0, pin[0], p.never == 1u);
  if (iReal < p.I) {
    let o = p.ooff + bcast_offset(z, p.brank, p.bshape, p.os) + i * p.ci + j0 * p.cj;
{{STORE}}
  }
}
