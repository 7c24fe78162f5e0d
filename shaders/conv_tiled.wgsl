// The conv products as implicit GEMMs with workgroup-memory tiles (the `tiled*` kernel sets),
// written the way fast GPU GEMMs are: a workgroup computes a BM x BN tile of C[M, N] =
// A[M, K] B[K, N]; each step of BK along K it stages an A tile and a B tile in workgroup
// memory (as vec4 along M and N), waits at a barrier, and each invocation accumulates a
// TM x 4 register block from vec4 reads of the two tiles (TM/4 + 1 vec4 loads per 4*TM FMAs).
// Where A's rows are contiguous and 16-byte aligned (correlate's W, filter's feature map,
// when K is a multiple of 4), A is read from memory as vec4s too (`a_vec4`); B is always a
// gather.
//
// The tile shape comes from constants the Rust side appends (ops/conv/tiled.rs):
//   BM, BN   the workgroup's tile of C (BN/4 invocations along N, BM/TM along M)
//   TM       rows of C per invocation (a multiple of 4); each invocation owns 4 columns
//   BK       depth of one staged step
// Nothing is materialised: A and B are gathered from the conv's operands as the tiles are
// loaded (an im2col that exists only in workgroup memory). The three products, with the
// geometry and names of conv.wgsl (the transposed conv is the conv's adjoint):
//
//   correlate (mode 0)  C = feat[f, pix]   A = W[f, (c,ky,kx)]     B = img gathered [(c,ky,kx), pix]
//   scatter   (mode 1)  C = img[c, pix]    A = W[f, c, ky, kx]^T   B = feat gathered [(f,ty,tx), pix]
//                       one stride phase (ry, rx) per workgroup z: only the taps
//                       ky = (ry + pad_top) mod sh + sh * ty reach those pixels, so none
//                       of the depth is spent on taps that fall between feature pixels
//   filter    (mode 2)  C = dW[f, (c,ky,kx)]  A = feat[f, (n,pix)]  B = img gathered [(n,pix), (c,ky,kx)]
//                       one split of the batch per workgroup z, partials summed on the Rust side
//
// Every loop runs at most a few thousand times (K / BK steps), far from lavapipe's 65535.

struct Params {
    n: u32,
    c_img: u32,
    h_img: u32,
    w_img: u32,
    c_feat: u32,
    h_feat: u32,
    w_feat: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_top: u32,
    pad_left: u32,
    images_per_split: u32,  // filter: images per workgroup z
    a_vec4: u32,            // 1: A's rows are contiguous along K in 16-byte steps (see stage_a4)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;   // image side (correlate), feature side (scatter, filter)
@group(0) @binding(3) var<storage, read> in1: array<f32>;   // W (correlate, scatter), image side (filter)
@group(0) @binding(4) var<storage, read> bias: array<f32>;
// The same buffers as in0 and in1, read 4 floats at a time where A allows it.
@group(0) @binding(5) var<storage, read> in0v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> in1v: array<vec4<f32>>;

const WG_N: u32 = BN / 4u;
const WG_M: u32 = BM / TM;
const WG: u32 = WG_M * WG_N;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
// Each invocation stages the same 4 rows of A and 4 columns of B at every step (WG is a
// multiple of BM4 and BN4), so their gather addresses are worked out once.
const A_ROWS_PER_PASS: u32 = WG / BM4;   // k rows of the A tile one pass over the workgroup fills
const B_ROWS_PER_PASS: u32 = WG / BN4;

var<workgroup> a_tile: array<vec4<f32>, BK * BM4>;   // [k][m / 4]
var<workgroup> b_tile: array<vec4<f32>, BK * BN4>;   // [k][n / 4]

const CORRELATE: u32 = 0u;
const SCATTER: u32 = 1u;
const FILTER: u32 = 2u;

// What one workgroup works on, set once at its start.
struct Job {
    mode: u32,
    m_len: u32,
    n_len: u32,
    k_len: u32,
    k_first: u32,  // filter: first (image, pixel) item of this split
    // scatter: the stride phase
    ry: u32,
    rx: u32,
    ky0: u32,
    kx0: u32,
    nty: u32,
    ntx: u32,
    hp: u32,
    wp: u32,
    cy: i32,
    cx: i32,
}

// Per invocation: where its 4 staged rows of A and 4 staged columns of B live.
var<private> a_off: vec4<u32>;
var<private> a_ok: vec4<bool>;
var<private> b_off: vec4<u32>;
var<private> b_y: vec4<i32>;
var<private> b_x: vec4<i32>;
var<private> b_ok: vec4<bool>;

fn khw() -> u32 { return p.kh * p.kw; }
fn hw_img() -> u32 { return p.h_img * p.w_img; }
fn hw_feat() -> u32 { return p.h_feat * p.w_feat; }

fn job_for(mode: u32, z: u32) -> Job {
    var j: Job;
    j.mode = mode;
    if (mode == CORRELATE) {
        j.m_len = p.c_feat;
        j.n_len = p.n * hw_feat();
        j.k_len = p.c_img * khw();
    } else if (mode == SCATTER) {
        j.ry = z / p.sw;
        j.rx = z % p.sw;
        j.ky0 = (j.ry + p.pad_top) % p.sh;
        j.kx0 = (j.rx + p.pad_left) % p.sw;
        j.nty = select(0u, (p.kh - j.ky0 + p.sh - 1u) / p.sh, j.ky0 < p.kh);
        j.ntx = select(0u, (p.kw - j.kx0 + p.sw - 1u) / p.sw, j.kx0 < p.kw);
        j.hp = select(0u, (p.h_img - j.ry + p.sh - 1u) / p.sh, j.ry < p.h_img);
        j.wp = select(0u, (p.w_img - j.rx + p.sw - 1u) / p.sw, j.rx < p.w_img);
        j.cy = i32((j.ry + p.pad_top - j.ky0) / p.sh);
        j.cx = i32((j.rx + p.pad_left - j.kx0) / p.sw);
        j.m_len = p.c_img;
        j.n_len = p.n * j.hp * j.wp;
        j.k_len = p.c_feat * j.nty * j.ntx;
    } else {
        let first = min(z * p.images_per_split, p.n);
        let end = min(first + p.images_per_split, p.n);
        j.m_len = p.c_feat;
        j.n_len = p.c_img * khw();
        j.k_len = (end - first) * hw_feat();
        j.k_first = first * hw_feat();
    }
    return j;
}

// Work out the gather addresses of this invocation's rows of A and columns of B.
fn prepare(j: Job, m_first: u32, n_first: u32) {
    for (var i = 0u; i < 4u; i++) {
        let m = m_first + i;
        a_ok[i] = m < j.m_len;
        let mc = min(m, j.m_len - 1u);
        if (j.mode == CORRELATE) {
            a_off[i] = mc * p.c_img * khw();            // W[f, 0, 0, 0]
        } else if (j.mode == SCATTER) {
            a_off[i] = mc * khw();                      // W[0, c, 0, 0]
        } else {
            a_off[i] = mc * hw_feat();                  // feat[0, f, 0]
        }
        let n = n_first + i;
        b_ok[i] = n < j.n_len;
        let nc = min(n, max(j.n_len, 1u) - 1u);
        if (j.mode == CORRELATE) {
            let r = nc % hw_feat();
            b_off[i] = (nc / hw_feat()) * p.c_img * hw_img();
            b_y[i] = i32((r / p.w_feat) * p.sh) - i32(p.pad_top);
            b_x[i] = i32((r % p.w_feat) * p.sw) - i32(p.pad_left);
        } else if (j.mode == SCATTER) {
            let per_image = max(j.hp * j.wp, 1u);
            let r = nc % per_image;
            b_off[i] = (nc / per_image) * p.c_feat * hw_feat();
            b_y[i] = j.cy + i32(r / max(j.wp, 1u));
            b_x[i] = j.cx + i32(r % max(j.wp, 1u));
        } else {
            let t = nc % khw();
            b_off[i] = (nc / khw()) * hw_img();        // channel c of an image
            b_y[i] = i32(t / p.kw) - i32(p.pad_top);
            b_x[i] = i32(t % p.kw) - i32(p.pad_left);
        }
    }
}

// A[m, k] for staged row i.
fn load_a(j: Job, i: u32, k: u32) -> f32 {
    if (!a_ok[i] || k >= j.k_len) { return 0.0; }
    if (j.mode == CORRELATE) {
        return in1[a_off[i] + k];
    } else if (j.mode == SCATTER) {
        let taps = j.nty * j.ntx;
        let f = k / taps;
        let t = k % taps;
        let ky = j.ky0 + p.sh * (t / j.ntx);
        let kx = j.kx0 + p.sw * (t % j.ntx);
        return in1[f * p.c_img * khw() + a_off[i] + ky * p.kw + kx];
    }
    let item = j.k_first + k;
    return in0[(item / hw_feat()) * p.c_feat * hw_feat() + a_off[i] + item % hw_feat()];
}

// A[m, k..k+4] as one vec4 load (a_vec4: correlate reads W's rows, filter the feature map's
// rows; both contiguous along K, and K and each row start are multiples of 4).
fn load_a4(j: Job, m: u32, k: u32) -> vec4<f32> {
    if (m >= j.m_len || k >= j.k_len) { return vec4<f32>(0.0); }
    if (j.mode == CORRELATE) {
        return in1v[(m * j.k_len + k) / 4u];
    }
    let item = j.k_first + k;
    return in0v[((item / hw_feat()) * p.c_feat * hw_feat() + m * hw_feat() + item % hw_feat()) / 4u];
}

// Stage the A tile with vec4 loads: BM rows x BK/4 vec4s, 4 consecutive invocations per row
// (consecutive addresses), each vec4 spread over 4 k rows of the tile.
fn stage_a4(j: Job, m0: u32, k0: u32, lid: u32) {
    for (var s = lid; s < BM * (BK / 4u); s += WG) {
        let m = s / (BK / 4u);
        let kk = 4u * (s % (BK / 4u));
        let v = load_a4(j, m0 + m, k0 + kk);
        let slot = kk * BM4 + m / 4u;
        let c = m % 4u;
        a_tile[slot][c] = v.x;
        a_tile[slot + BM4][c] = v.y;
        a_tile[slot + 2u * BM4][c] = v.z;
        a_tile[slot + 3u * BM4][c] = v.w;
    }
}

// B[k, n] for staged column i.
fn load_b(j: Job, i: u32, k: u32) -> f32 {
    if (!b_ok[i] || k >= j.k_len) { return 0.0; }
    if (j.mode == CORRELATE) {
        let c = k / khw();
        let t = k % khw();
        let iy = b_y[i] + i32(t / p.kw);
        let ix = b_x[i] + i32(t % p.kw);
        if (iy < 0 || iy >= i32(p.h_img) || ix < 0 || ix >= i32(p.w_img)) { return 0.0; }
        return in0[b_off[i] + c * hw_img() + u32(iy) * p.w_img + u32(ix)];
    } else if (j.mode == SCATTER) {
        let taps = j.nty * j.ntx;
        let f = k / taps;
        let t = k % taps;
        let oy = b_y[i] - i32(t / j.ntx);
        let ox = b_x[i] - i32(t % j.ntx);
        if (oy < 0 || oy >= i32(p.h_feat) || ox < 0 || ox >= i32(p.w_feat)) { return 0.0; }
        return in0[b_off[i] + f * hw_feat() + u32(oy) * p.w_feat + u32(ox)];
    }
    let item = j.k_first + k;
    let r = item % hw_feat();
    let iy = b_y[i] + i32((r / p.w_feat) * p.sh);
    let ix = b_x[i] + i32((r % p.w_feat) * p.sw);
    if (iy < 0 || iy >= i32(p.h_img) || ix < 0 || ix >= i32(p.w_img)) { return 0.0; }
    return in1[(item / hw_feat()) * p.c_img * hw_img() + b_off[i] + u32(iy) * p.w_img + u32(ix)];
}

// The register block C[m0 + tm*TM .. +TM, n0 + tn*4 .. +4] of this invocation (row r of
// the block is acc[r]). The loop bounds depend only on the parameters and the workgroup,
// so every barrier is reached by the whole workgroup.
fn gemm(j: Job, m0: u32, n0: u32, lid: u32) -> array<vec4<f32>, TM> {
    let tn = lid % WG_N;
    let tm = lid / WG_N;
    // The slots this invocation stages: A column block lid % BM4 at k rows lid / BM4 +
    // A_ROWS_PER_PASS * pass, likewise for B.
    let a_col = lid % BM4;
    let b_col = lid % BN4;
    prepare(j, m0 + 4u * a_col, n0 + 4u * b_col);
    var acc: array<vec4<f32>, TM>;
    for (var k0 = 0u; k0 < j.k_len; k0 += BK) {
        if (p.a_vec4 != 0u) {
            stage_a4(j, m0, k0, lid);
        } else {
            for (var kk = lid / BM4; kk < BK; kk += A_ROWS_PER_PASS) {
                let k = k0 + kk;
                a_tile[kk * BM4 + a_col] = vec4<f32>(load_a(j, 0u, k), load_a(j, 1u, k), load_a(j, 2u, k), load_a(j, 3u, k));
            }
        }
        for (var kk = lid / BN4; kk < BK; kk += B_ROWS_PER_PASS) {
            let k = k0 + kk;
            b_tile[kk * BN4 + b_col] = vec4<f32>(load_b(j, 0u, k), load_b(j, 1u, k), load_b(j, 2u, k), load_b(j, 3u, k));
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let b = b_tile[kk * BN4 + tn];
            for (var i = 0u; i < TM / 4u; i++) {
                let a = a_tile[kk * BM4 + tm * (TM / 4u) + i];
                acc[4u * i] += a.x * b;
                acc[4u * i + 1u] += a.y * b;
                acc[4u * i + 2u] += a.z * b;
                acc[4u * i + 3u] += a.w * b;
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// Store the block: C[m, n] goes to the product's layout, plus bias[m] where it has one.
fn store(j: Job, m0: u32, n0: u32, lid: u32, acc: array<vec4<f32>, TM>, z: u32, with_bias: bool) {
    let tn = lid % WG_N;
    let tm = lid / WG_N;
    for (var r = 0u; r < TM; r++) {
        let m = m0 + tm * TM + r;
        if (m >= j.m_len) { break; }
        let b = select(0.0, bias[m], with_bias);
        for (var c = 0u; c < 4u; c++) {
            let n = n0 + tn * 4u + c;
            if (n >= j.n_len) { break; }
            let v = acc[r][c] + b;
            if (j.mode == CORRELATE) {
                dst[((n / hw_feat()) * p.c_feat + m) * hw_feat() + n % hw_feat()] = v;
            } else if (j.mode == SCATTER) {
                let per_image = j.hp * j.wp;
                let rest = n % per_image;
                let iy = j.ry + p.sh * (rest / j.wp);
                let ix = j.rx + p.sw * (rest % j.wp);
                dst[(((n / per_image) * p.c_img + m) * p.h_img + iy) * p.w_img + ix] = v;
            } else {
                let nq = p.c_img * khw();
                dst[(z * p.c_feat + m) * nq + n] = v;
            }
        }
    }
}

fn run(mode: u32, wid: vec3<u32>, lid: u32, with_bias: bool) {
    let j = job_for(mode, wid.z);
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let acc = gemm(j, m0, n0, lid);
    store(j, m0, n0, lid, acc, wid.z, with_bias);
}

// ---- conv2d ----

// y = conv(x, W) + b.   in0 = x, in1 = W[c_feat, c_img, kh, kw], bias[c_feat]
@compute @workgroup_size(WG)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(CORRELATE, wid, lid, true);
}

// dx = conv^T(dy, W).   in0 = dy, in1 = W; workgroup z = stride phase
@compute @workgroup_size(WG)
fn conv2d_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(SCATTER, wid, lid, false);
}

// Partial dW[split = workgroup z].   in0 = dy, in1 = x
@compute @workgroup_size(WG)
fn conv2d_grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(FILTER, wid, lid, false);
}

// ---- conv_transpose2d ----

// y = conv^T(x, W) + b.   in0 = x, in1 = W[c_feat (in), c_img (out), kh, kw], bias[c_img]
@compute @workgroup_size(WG)
fn conv_transpose2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(SCATTER, wid, lid, true);
}

// dx = conv(dy, W).   in0 = dy, in1 = W
@compute @workgroup_size(WG)
fn conv_transpose2d_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(CORRELATE, wid, lid, false);
}

// Partial dW[split = workgroup z].   in0 = x (feature side), in1 = dy (image side)
@compute @workgroup_size(WG)
fn conv_transpose2d_grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run(FILTER, wid, lid, false);
}
