// Copy the row operand of the cpu matmul kernel into rows contiguous along K, padded with zeros to
// Kp (a multiple of 4), so that the kernel can read it four k at a time: for each matrix b of the
// batch bshape, out[b, i, k] = X[off + (b's offset through strides bs) + i·xi + k·xk] for k < K, else 0.
// One invocation per row: the divisions that find it (scalarised on lavapipe) are paid once a row,
// and the row is stored as vec4s.
struct Params { rows: u32, I: u32, K: u32, Kp: u32, off: u32, xi: u32, xk: u32, brank: u32, bshape: array<vec4<u32>, 2>, bs: array<vec4<u32>, 2> };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<vec4<f32>>;

{{BROADCAST}}

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG); // row b·I + i
  if (r >= p.rows) { return; }
  let src = p.off + bcast_offset(r / p.I, p.brank, p.bshape, p.bs) + (r % p.I) * p.xi;
  let dst = r * (p.Kp / 4u);
  for (var k = 0u; k < p.Kp; k += 4u) {
    let e = src + k * p.xk;
    O[dst + k / 4u] = vec4<f32>(
      X[e],
      select(0.0, X[e + p.xk], k + 1u < p.K),
      select(0.0, X[e + 2u * p.xk], k + 2u < p.K),
      select(0.0, X[e + 3u * p.xk], k + 3u < p.K),
    );
  }
}
