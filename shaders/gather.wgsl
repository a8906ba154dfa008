// Gather along one axis, with X viewed as [outer, n, inner] and O as [outer, m, inner]:
// O[o, j, r] = X[o, POS, r], where POS reads the position from Idx (`Idx[j]` for indexSelect,
// Idx[o, j, r] for takeAlongAxis). A position outside [0, n) gives 0: a kernel cannot throw.
// i32(u32) reinterprets bits, so u32 positions of 2^31 and more read as negative: out of range too.
struct Params { total: u32, n: u32, m: u32, inner: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read> Idx: array<{{I_T}}>;
@group(0) @binding(3) var<storage, read_write> O: array<{{T}}>;

const WG = 256u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let r = i % p.inner;
  let j = (i / p.inner) % p.m;
  let o = i / (p.inner * p.m);
  let k = i32({{POS}});
  if (k < 0 || k >= i32(p.n)) {
    O[i] = {{T}}(0);
    return;
  }
  O[i] = X[(o * p.n + u32(k)) * p.inner + r];
}
