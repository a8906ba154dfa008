// Matrix product for GPUs: out[m, n] = Σ_k A(m, k) · B(k, n), the classic workgroup-memory tiling.
// A 16 × 16 workgroup computes a 64 × 64 block of out, each invocation a 4 × 4 register block; K is
// walked in tiles of 16 staged in workgroup memory. A(m, k) = A[ao + m·am + k·ak],
// B(k, n) = B[bo + k·bk + n·bn] and out(m, n) = O[oo + m·cm + n·cn], so transposed or interleaved
// operands are read and written in place; the staging loop walks the contiguous dimension fastest
// (p.aKfast, p.bKfast) so that neighbouring invocations read neighbouring addresses. Batch z
// (wid.z + p.z0) finds ao, bo and oo from base offsets and batch strides. With p.bias, adds Bias[n]
// to every row; STORE writes the result, through linear's fused activation (EPILOGUE) if it has one.
struct Params {
  M: u32, N: u32, K: u32, z0: u32,
  am: u32, ak: u32, bk: u32, bn: u32, cm: u32, cn: u32,
  aKfast: u32, bKfast: u32, bias: u32, brank: u32, aoff: u32, boff: u32, ooff: u32,
  bshape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2>, so: array<vec4<u32>, 2>,
};
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>; // [N]; unused unless p.bias == 1
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
{{EPILOGUE}}

const TS = 64u; // block edge
const TK = 16u; // K tile
var<workgroup> As: array<f32, 1024>; // [k][m], TK × TS
var<workgroup> Bs: array<f32, 1024>; // [k][n], TK × TS

{{BROADCAST}}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let z = wid.z + p.z0;
  let ao = p.aoff + bcast_offset(z, p.brank, p.bshape, p.sa);
  let bo = p.boff + bcast_offset(z, p.brank, p.bshape, p.sb);
  let oo = p.ooff + bcast_offset(z, p.brank, p.bshape, p.so);
  let m0 = wid.y * TS;
  let n0 = wid.x * TS;
  let t = lid.y * 16u + lid.x;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var l = 0u; l < 4u; l++) {
      let e = t + l * 256u;
      let ak = select(e / TS, e % TK, p.aKfast == 1u);
      let am = select(e % TS, e / TK, p.aKfast == 1u);
      let k = k0 + ak;
      let m = m0 + am;
      As[ak * TS + am] = select(0.0, A[ao + m * p.am + k * p.ak], k < p.K && m < p.M);
      let bk = select(e / TS, e % TK, p.bKfast == 1u);
      let bn = select(e % TS, e / TK, p.bKfast == 1u);
      let kb = k0 + bk;
      let n = n0 + bn;
      Bs[bk * TS + bn] = select(0.0, B[bo + kb * p.bk + n * p.bn], kb < p.K && n < p.N);
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a = vec4<f32>(As[k * TS + lid.y * 4u], As[k * TS + lid.y * 4u + 1u], As[k * TS + lid.y * 4u + 2u], As[k * TS + lid.y * 4u + 3u]);
      let b = vec4<f32>(Bs[k * TS + lid.x * 4u], Bs[k * TS + lid.x * 4u + 1u], Bs[k * TS + lid.x * 4u + 2u], Bs[k * TS + lid.x * 4u + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let m = m0 + lid.y * 4u + r;
    for (var c = 0u; c < 4u; c++) {
      let n = n0 + lid.x * 4u + c;
      if (m < p.M && n < p.N) {
        let o = oo + m * p.cm + n * p.cn;
        let v = acc[r][c] + select(0.0, Bias[n], p.bias == 1u);
{{STORE}}
      }
    }
  }
}
