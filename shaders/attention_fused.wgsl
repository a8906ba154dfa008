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

const D = {{D}}u; // head size
const DV = {{DV}}u; // vec4s per head row, ceil(D / 4): rows are zero-padded to whole vec4s
const BQ = 64u;
const BK = 32u;
var<workgroup> Ks: array<vec4<f32>, {{KV}}>; // BK keys × DV
var<workgroup> Vs: array<vec4<f32>, {{KV}}>;

// Elements c..c+3 of the head row starting at `at`, zero past D.
fn row4(at: u32, c: u32) -> vec4<f32> {
  var r: vec4<f32>;
  for (var i = 0u; i < 4u; i++) { r[i] = select(0.0, QKV[at + min(c + i, D - 1u)], c + i < D); }
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wid.z;
  let h = wid.y;
  let t = wid.x * BQ + li;
  let C = p.H * D;
  // Invocations past the last query load a real row (so that they can help stage) and store nothing.
  let qrow = (b * p.T + min(t, p.T - 1u)) * 3u * C + h * D;
  var q: array<vec4<f32>, DV>;
  var o: array<vec4<f32>, DV>;
  for (var c = 0u; c < DV; c++) {
    q[c] = row4(qrow, 4u * c) * p.scale;
    o[c] = vec4<f32>(0.0);
  }
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, BK>;
  for (var k0 = 0u; k0 < p.T; k0 += BK) {
    for (var e = li; e < BK * DV; e += BQ) {
      let key = min(k0 + e / DV, p.T - 1u);
      let at = (b * p.T + key) * 3u * C + h * D;
      Ks[e] = row4(at + C, 4u * (e % DV));
      Vs[e] = row4(at + 2u * C, 4u * (e % DV));
    }
    workgroupBarrier();
    let n = min(BK, p.T - k0);
    var mb = m;
    for (var j = 0u; j < n; j++) {
      var acc = 0.0;
      for (var c = 0u; c < DV; c++) { acc += dot(q[c], Ks[j * DV + c]); }
      s[j] = acc;
      mb = max(mb, acc);
    }
    let rescale = exp(m - mb);
    l *= rescale;
    for (var c = 0u; c < DV; c++) { o[c] *= rescale; }
    for (var j = 0u; j < n; j++) {
      let w = exp(s[j] - mb);
      l += w;
      for (var c = 0u; c < DV; c++) { o[c] += w * Vs[j * DV + c]; }
    }
    m = mb;
    workgroupBarrier();
  }
  if (t < p.T) {
    let orow = (b * p.T + t) * C + h * D;
    for (var d = 0u; d < D; d++) { O[orow + d] = o[d / 4u][d % 4u] / l; }
  }
}
