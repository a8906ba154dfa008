// Second stage of the global gradient norm, one workgroup: each lane sums a strided share of the
// partial sums, a tree reduction in workgroup memory adds the lanes (8 barriers, once per step), and
// lane 0 writes the norm and the clipping factor min(1, maxNorm / (norm + 1e-6)) (torch's clip_grad_norm_).
struct Params { count: u32, maxNorm: f32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> NORM: array<f32>;
@group(0) @binding(3) var<storage, read_write> SCALE: array<f32>;

var<workgroup> lanes: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
  var acc = 0.0;
  for (var j = l; j < p.count; j += 256u) { acc += S[j]; }
  lanes[l] = acc;
  for (var half = 128u; half > 0u; half >>= 1u) {
    workgroupBarrier();
    if (l < half) { lanes[l] += lanes[l + half]; }
  }
  if (l == 0u) {
    let norm = sqrt(lanes[0]);
    NORM[0] = norm;
    SCALE[0] = min(1.0, p.maxNorm / (norm + 1e-6));
  }
}
