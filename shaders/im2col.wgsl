// im2col for conv2d: the patches of X [NC, h, w] (NC = N·Cin planes) as rows of a matrix,
//   C[((nc·KH + ky)·KW + kx)·oh + oy, ox] = X[nc, oy·SH − PH + ky·DH, ox·SW − PW + kx·DW]  (0 outside X),
// i.e. C is [N, Cin·KH·KW, oh·ow]: per image, the right operand of W [Cout, Cin·KH·KW] · C.
// One invocation per row (nc, ky, kx, oy) writes its ow values, so the index arithmetic (divisions
// are slow on lavapipe) is paid once a row. The kernel geometry is baked in as constants (a model has
// a few geometries): divisions by them become multiplies, and stride 1 or no padding fold away.
struct Params { rows: u32, h: u32, w: u32, oh: u32, ow: u32 };
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;

const KH = {{KH}}u;
const KW = {{KW}}u;
const SH = {{SH}}u;
const SW = {{SW}}u;
const PH = {{PH}}u;
const PW = {{PW}}u;
const DH = {{DH}}u;
const DW = {{DW}}u;

const WG = 64u;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = flatIndex(gid, nwg, WG);
  if (r >= p.rows) { return; }
  let oy = r % p.oh;
  let t = r / p.oh;
  let kx = t % KW;
  let ky = (t / KW) % KH;
  let nc = t / (KW * KH);
  let out = r * p.ow;
  // Input row y = oy·SH + ky·DH − PH, kept unsigned: yp = y + PH.
  let yp = oy * SH + ky * DH;
  if (yp < PH || yp - PH >= p.h) {
    for (var ox = 0u; ox < p.ow; ox++) { C[out + ox] = 0.0; }
    return;
  }
  let row = (nc * p.h + yp - PH) * p.w;
  for (var ox = 0u; ox < p.ow; ox++) {
    let xp = ox * SW + kx * DW; // input column + PW
    var v = 0.0;
    if (xp >= PW && xp - PW < p.w) { v = X[row + xp - PW]; }
    C[out + ox] = v;
  }
}
