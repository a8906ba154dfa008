// Reduce over any set of axes. One invocation per output element walks the reduced elements:
// the input offset is (kept index → off_k through `ks`) + (reduced index → off_r through `rs`),
// each computed by fixed-rank code (KEPT, REDUCED: engine/shape.ts offsetCode).
// OP is sum, max or argmax; argmax returns the first index of the maximum (as NumPy).
struct Params { n: u32, r: u32, kshape: array<vec4<u32>, 2>, ks: array<vec4<u32>, 2>, rshape: array<vec4<u32>, 2>, rs: array<vec4<u32>, 2> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<{{O_T}}>;


const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.n) { return; }
  {{KEPT}}
  let base = off_k;
  var acc = {{INIT}};
  var best = 0u;
  for (var j = 0u; j < p.r; j++) {
    {{REDUCED}}
    let v = A[base + off_r];
    {{STEP}}
  }
  O[i] = {{RESULT}};
}
