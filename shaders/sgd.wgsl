// One SGD step for one parameter, in place (torch.optim.SGD with dampening 0):
//   d = g + wd·p;  with momentum μ: buf = μ·buf + d, d = nesterov ? d + μ·buf : buf;  p = p − lr·d
// A zero-initialised buffer gives PyTorch's first step (buf = d) without a special case.
// Without momentum there is no buffer: {{M_DECL}} and {{MOMENTUM}} are empty.
struct Params { n: u32, lr: f32, wd: f32, momentum: f32, nesterov: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
{{M_DECL}}

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  let x = P[i];
  var d = G[i] + p.wd * x;
  {{MOMENTUM}}
  P[i] = x - p.lr * d;
}
