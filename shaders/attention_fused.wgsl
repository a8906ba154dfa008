// Multi-head attention in one pass, without the T × T scores (inference; GPU-style adapters).
// qkv [B, T, 3, H, D] holds q, k and v; out [B, T, H, D] gets softmax(q·kᵀ·scale)·v per head.
//
// A workgroup takes BQ queries of one head (wid.y) of one batch item (wid.z), one query per
// invocation, held in registers with its output row. Keys and values are walked in blocks of BK,
// staged in workgroup memory by the whole workgroup; for each block an invocation computes its BK
// scores and folds them into a running softmax (the "online softmax" of FlashAttention): with m the
// largest score so far and l = Σ exp(s − m), a new block with larger maximum m' rescales l and the
// output row by exp(m − m') before adding its own terms. At the end the row is divided by l.
// (Not used on lavapipe: there loads whose address depends on a loop counter cost ~8 instructions
// a value, which made this design 30× slower than the separate products; engine/ops/nn.ts.)
struct Params { T: u32, H: u32, scale: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

const D = {{D}}u;
const BQ = 64u;
const BK = 32u;
var<workgroup> Ks: array<f32, {{KV}}>; // BK keys × D
var<workgroup> Vs: array<f32, {{KV}}>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wid.z;
  let h = wid.y;
  let t = wid.x * BQ + li;
  let C = p.H * D;
  // Invocations past the last query load a real row (so that they can help stage) and store nothing.
  let qrow = (b * p.T + min(t, p.T - 1u)) * 3u * C + h * D;
  var q: array<f32, D>;
  var o: array<f32, D>;
  for (var d = 0u; d < D; d++) {
    q[d] = QKV[qrow + d] * p.scale;
    o[d] = 0.0;
  }
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, BK>;
  for (var k0 = 0u; k0 < p.T; k0 += BK) {
    for (var e = li; e < BK * D; e += BQ) {
      let key = min(k0 + e / D, p.T - 1u);
      let at = (b * p.T + key) * 3u * C + h * D + e % D;
      Ks[e] = QKV[at + C];
      Vs[e] = QKV[at + 2u * C];
    }
    workgroupBarrier();
    let n = min(BK, p.T - k0);
    var mb = m;
    for (var j = 0u; j < n; j++) {
      var acc = 0.0;
      for (var d = 0u; d < D; d++) { acc += q[d] * Ks[j * D + d]; }
      s[j] = acc;
      mb = max(mb, acc);
    }
    let rescale = exp(m - mb);
    l *= rescale;
    for (var d = 0u; d < D; d++) { o[d] *= rescale; }
    for (var j = 0u; j < n; j++) {
      let w = exp(s[j] - mb);
      l += w;
      for (var d = 0u; d < D; d++) { o[d] += w * Vs[j * D + d]; }
    }
    m = mb;
    workgroupBarrier();
  }
  if (t < p.T) {
    let orow = (b * p.T + t) * C + h * D;
    for (var d = 0u; d < D; d++) { O[orow + d] = o[d] / l; }
  }
}
