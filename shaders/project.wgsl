// Projection of each row of x onto a ball around x0 (intermediate-layer optimisation keeps
// a freed activation near where it started; Daras et al. 2021 use an L1 ball). Rows of n
// items, x0 >= 0 (post-ReLU activations), an L1 budget r per row:
//   x <- x0 + d,  d = argmin |d - v|^2  s.t.  |d|_1 <= r  and  x0 + d >= 0,   v = x - x0
// Both constraints split per item but for one multiplier theta, so
//   d_i = max(soft(v_i, theta), -x0_i),   soft(v, t) = sign(v) max(|v| - t, 0),
// with the least theta >= 0 whose d fits the budget. |d|_1 falls as theta grows, so theta
// is found by bisection: each step one pass of chunk sums (l1_partials) and one update per
// row (l1_bisect); l1_apply then writes d for the upper end, which always fits.
// No invocation loops more than `chunk` (or `chunks`) times: lavapipe silently ends loop
// nests past 65535 iterations.

struct Params {
    rows: u32,
    n: u32,       // items per row
    chunk: u32,   // items per partial sum
    chunks: u32,  // ceil(n / chunk)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;         // [rows, n]
@group(0) @binding(2) var<storage, read> x0: array<f32>;              // [rows, n]
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;  // [rows, chunks, 2]: |d|_1, max |v|
@group(0) @binding(4) var<storage, read_write> state: array<f32>;     // [rows, 3]: lo, hi, budget

// The theta this bisection step tries: 0 first (hi < 0: no upper bound known yet).
fn trial(row: u32) -> f32 {
    let hi = state[row * 3u + 1u];
    if (hi < 0.0) { return 0.0; }
    return 0.5 * (state[row * 3u] + hi);
}

fn projected(v: f32, lower: f32, theta: f32) -> f32 {
    return max(sign(v) * max(abs(v) - theta, 0.0), lower);
}

// state[row] = (0, -1, budget) for every row: a new search.
@compute @workgroup_size(64)
fn l1_reset(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = gid.x + gid.y * groups.x * 64u;
    if (row >= p.rows) { return; }
    state[row * 3u] = 0.0;
    state[row * 3u + 1u] = -1.0;
}

// partials[row, c] = (sum of |d_i| over chunk c at the trial theta, max |v_i| over chunk c).
@compute @workgroup_size(64)
fn l1_partials(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = gid.x + gid.y * groups.x * 64u;
    if (o >= p.rows * p.chunks) { return; }
    let row = o / p.chunks;
    let start = (o % p.chunks) * p.chunk;
    let end = min(start + p.chunk, p.n);
    let theta = trial(row);
    var total = 0.0;
    var largest = 0.0;
    for (var i = start; i < end; i++) {
        let k = row * p.n + i;
        let v = x[k] - x0[k];
        total += abs(projected(v, -x0[k], theta));
        largest = max(largest, abs(v));
    }
    partials[o * 2u] = total;
    partials[o * 2u + 1u] = largest;
}

// One bisection step per row: the trial theta fits the budget (it becomes hi) or not (lo).
// The first step, at theta 0, also sets hi to max |v|, where d is 0.
@compute @workgroup_size(64)
fn l1_bisect(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = gid.x + gid.y * groups.x * 64u;
    if (row >= p.rows) { return; }
    let theta = trial(row);
    var total = 0.0;
    var largest = 0.0;
    for (var c = 0u; c < p.chunks; c++) {
        total += partials[(row * p.chunks + c) * 2u];
        largest = max(largest, partials[(row * p.chunks + c) * 2u + 1u]);
    }
    let fits = total <= state[row * 3u + 2u];
    if (state[row * 3u + 1u] < 0.0) {
        state[row * 3u + 1u] = select(largest, 0.0, fits);
    } else if (fits) {
        state[row * 3u + 1u] = theta;
    } else {
        state[row * 3u] = theta;
    }
}

// x = x0 + d at theta = hi.
@compute @workgroup_size(64)
fn l1_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let k = gid.x + gid.y * groups.x * 64u;
    if (k >= p.rows * p.n) { return; }
    let row = k / p.n;
    let theta = max(state[row * 3u + 1u], 0.0);
    x[k] = x0[k] + projected(x[k] - x0[k], -x0[k], theta);
}
