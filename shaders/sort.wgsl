// Sort / top-k along one axis, with X viewed as [outer, n, inner] and V, I as [outer, k, inner]:
// one invocation per element of X counts the elements of its row that come before it (its rank), and
// if the rank is below k writes the element and its position to slot `rank`. The order is total (by
// key, then by position), so the ranks of a row are a permutation of 0..n−1 and every slot is written
// by exactly one invocation: no atomics, no races, deterministic. Cost: n reads per element.
// Order: descending (desc = 1) or ascending key; equal keys keep their order (lower position first).
// key() maps values to u32 so that the u32 order is the value order: for f32, −0 = +0 and NaN (any
// sign) comes after +inf, as in PyTorch's sort.
struct Params { total: u32, n: u32, k: u32, inner: u32, desc: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> V: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> I: array<i32>;

fn key(v: {{T}}) -> u32 {
  {{KEY}}
}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg, WG);
  if (i >= p.total) { return; }
  let r = i % p.inner;
  let j = (i / p.inner) % p.n;
  let o = i / (p.inner * p.n);
  let base = o * p.n * p.inner + r;
  let kj = key(X[i]);
  var rank = 0u;
  for (var t = 0u; t < p.n; t++) {
    let kt = key(X[base + t * p.inner]);
    let ahead = select((kt < kj), (kt > kj), p.desc == 1u) || (kt == kj && t < j);
    if (ahead) {
      rank++;
      if (rank >= p.k) { return; }
    }
  }
  let at = (o * p.k + rank) * p.inner + r;
  V[at] = X[i];
  I[at] = i32(j);
}
