// Matrix products for linear layers, y = x W^T + b with PyTorch's W[out, in].
//
// All entry points compute one GEMM  C[rows, cols] = sum_d A(r, d) B(d, c)  and differ
// only in where A and B come from (the strides), so the three products of a linear layer
// share one inner loop:
//   linear_forward      Y[M, N]  = X[M, K]  . W[N, K]^T  (+ b)   rows M, cols N, depth K
//   linear_grad_input   dX[M, K] = dY[M, N] . W[N, K]            rows M, cols K, depth N
//   linear_grad_weight  dW[N, K] = dY[M, N]^T . X[M, K]          rows N, cols K, depth M
//
// Each invocation owns a 4x4 block of C held in registers, and a 8x8 workgroup a 32x32
// tile. No shared memory or barriers: on CPU adapters (lavapipe) barriers cost more than
// they save. Out-of-range rows/columns read a clamped (valid) address and are not stored,
// which keeps the inner loop free of branches for any shape.
// The depth is split into chunks (gid.z), each writing a partial C at [split, rows, cols]
// that the Rust side sums: no invocation loops more than `depth_chunk` times (lavapipe
// ends loop nests after 65535 iterations), and a long, thin product gets parallelism.

struct Params {
    rows: u32,
    cols: u32,
    depth: u32,
    depth_chunk: u32,  // depth per split; linear_grad_bias: rows per split
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Strides: A(r, d) = a[r * a_row + d * a_depth], B(d, c) = b[d * b_depth + c * b_col].
struct Strides {
    a_row: u32,
    a_depth: u32,
    b_depth: u32,
    b_col: u32,
}

// The 4x4 block of C at (row0, col0) over the depth of `split`; acc[i][j] is C[row0 + i, col0 + j].
fn gemm_block(row0: u32, col0: u32, split: u32, s: Strides) -> array<vec4<f32>, 4> {
    var a_off: vec4<u32>;
    var b_off: vec4<u32>;
    for (var i = 0u; i < 4u; i++) {
        a_off[i] = min(row0 + i, p.rows - 1u) * s.a_row;
        b_off[i] = min(col0 + i, p.cols - 1u) * s.b_col;
    }
    var acc: array<vec4<f32>, 4>;
    let d_end = min((split + 1u) * p.depth_chunk, p.depth);
    for (var d = split * p.depth_chunk; d < d_end; d++) {
        let ad = d * s.a_depth;
        let bd = d * s.b_depth;
        let av = vec4<f32>(a[a_off.x + ad], a[a_off.y + ad], a[a_off.z + ad], a[a_off.w + ad]);
        let bv = vec4<f32>(b[b_off.x + bd], b[b_off.y + bd], b[b_off.z + bd], b[b_off.w + bd]);
        acc[0] += av.x * bv;
        acc[1] += av.y * bv;
        acc[2] += av.z * bv;
        acc[3] += av.w * bv;
    }
    return acc;
}

fn store_block(row0: u32, col0: u32, split: u32, acc: array<vec4<f32>, 4>, add: vec4<f32>) {
    let base = split * p.rows * p.cols;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + i;
        if (r >= p.rows) { break; }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + j;
            if (col < p.cols) { c[base + r * p.cols + col] = acc[i][j] + add[j]; }
        }
    }
}

@compute @workgroup_size(8, 8)
fn linear_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    let acc = gemm_block(row0, col0, gid.z, Strides(p.depth, 1u, 1u, p.depth));
    var bv: vec4<f32>;  // the bias goes into the first split only
    if (gid.z == 0u) {
        for (var j = 0u; j < 4u; j++) { bv[j] = bias[min(col0 + j, p.cols - 1u)]; }
    }
    store_block(row0, col0, gid.z, acc, bv);
}

// Same as linear_forward without a bias (a plain x W^T).
@compute @workgroup_size(8, 8)
fn linear_forward_nobias(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    store_block(row0, col0, gid.z, gemm_block(row0, col0, gid.z, Strides(p.depth, 1u, 1u, p.depth)), vec4<f32>(0.0));
}

@compute @workgroup_size(8, 8)
fn linear_grad_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    store_block(row0, col0, gid.z, gemm_block(row0, col0, gid.z, Strides(p.depth, 1u, p.cols, 1u)), vec4<f32>(0.0));
}

@compute @workgroup_size(8, 8)
fn linear_grad_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    store_block(row0, col0, gid.z, gemm_block(row0, col0, gid.z, Strides(1u, p.rows, p.cols, 1u)), vec4<f32>(0.0));
}

// Partial db[split = gid.y, n] = sum over the split's rows m of dY[m, n]; here rows = M and
// cols = N (a is dY), one invocation per column and split.
@compute @workgroup_size(64)
fn linear_grad_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if (col >= p.cols) { return; }
    var acc = 0.0;
    let r_end = min((gid.y + 1u) * p.depth_chunk, p.rows);
    for (var r = gid.y * p.depth_chunk; r < r_end; r++) { acc += a[r * p.cols + col]; }
    c[gid.y * p.cols + col] = acc;
}
