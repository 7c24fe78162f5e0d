// Batch normalisation over (N, H, W) per channel, NCHW (a [N, C] input is hw = 1).
//
//   train:  mean, var = batch statistics (biased var), y = (x - mean) * invstd * gamma + beta,
//           running_mean += momentum * (mean - running_mean)
//           running_var  += momentum * (var * M / (M - 1) - running_var)     (PyTorch)
//   eval:   the same y with running statistics.
//   backward (M = N * H * W items per channel, xhat = (x - mean) * invstd):
//           dbeta = sum dy, dgamma = sum dy * xhat
//           train: dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M)
//           eval:  dx = gamma * invstd * dy
//
// `stats` holds [mean[C], invstd[C]] of whichever statistics the forward used, so the
// normalise and backward kernels are the same for both modes. The per-channel sums run in
// two steps: partial sums over chunks of `chunk` items (one invocation per channel and
// chunk), then one invocation per channel adds its chunks up. No invocation loops long:
// lavapipe ends loop nests after 65535 iterations, and GPUs want the parallelism.
// Each global has its own binding; each entry point uses the subset it needs.
// The item kernels load and store elements T of W items (the prelude pipelines.rs appends):
// the Rust side compiles them with T = vec4<f32> where a channel plane holds whole vec4s
// (hw % 4 == 0; one channel per vec4; on lavapipe every buffer access is a loop over the SIMD
// lanes, so a 16-byte access costs about what a 4-byte one does), else with T = f32.

struct Params {
    n: u32,
    c: u32,
    hw: u32,
    eps: f32,
    momentum: f32,
    chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;          // y or dx
@group(0) @binding(2) var<storage, read> src: array<T>;                // x (forward) or dy (backward)
@group(0) @binding(3) var<storage, read> x_saved: array<T>;            // x, in the backward
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;      // [mean[C], invstd[C]]
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(10) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(11) var<storage, read_write> partials: array<f32>;  // [2, chunks, C]

// Item r of channel ch, counting over (image, pixel).
fn item(ch: u32, r: u32) -> u32 {
    return ((r / p.hw) * p.c + ch) * p.hw + r % p.hw;
}

fn chunks() -> u32 {
    return (p.n * p.hw + p.chunk - 1u) / p.chunk;
}

// The first item of an element (a channel's first item starts an element: hw % W == 0).
fn first(v: T) -> f32 {
    return dot(vec4<f32>(v), vec4<f32>(1.0, 0.0, 0.0, 0.0));
}

// Partial sums of (x - shift) and (x - shift)^2 over chunk gid.y of channel gid.x, with
// shift = the channel's first item: sums of shifted values keep the variance free of the
// cancellation that sum(x^2) - sum(x)^2 / M suffers when the mean is large.
// (`chunk` is a multiple of 4, so chunks start on element boundaries.)
@compute @workgroup_size(64)
fn batchnorm_partial_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let shift = first(src[item(ch, 0u) / W]);
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var s1 = splat(0.0);
    var s2 = splat(0.0);
    for (var r = gid.y * p.chunk; r < end; r += W) {
        let d = src[item(ch, r) / W] - shift;
        s1 += d;
        s2 += d * d;
    }
    partials[gid.y * p.c + ch] = hsum(s1);
    partials[(chunks() + gid.y) * p.c + ch] = hsum(s2);
}

// One invocation per channel: add the chunks up into `stats`, and the running update.
@compute @workgroup_size(64)
fn batchnorm_train_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let count = f32(p.n * p.hw);
    var s1 = 0.0;
    var s2 = 0.0;
    for (var k = 0u; k < chunks(); k++) {
        s1 += partials[k * p.c + ch];
        s2 += partials[(chunks() + k) * p.c + ch];
    }
    let shifted_mean = s1 / count;
    let sq = max(s2 - s1 * shifted_mean, 0.0);   // sum of squared deviations
    let mean = first(src[item(ch, 0u) / W]) + shifted_mean;
    stats[ch] = mean;
    stats[p.c + ch] = 1.0 / sqrt(sq / count + p.eps);
    let var_unbiased = sq / max(count - 1.0, 1.0);
    running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mean;
    running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * var_unbiased;
}

// One invocation per channel: `stats` from the running statistics.
@compute @workgroup_size(64)
fn batchnorm_eval_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    stats[ch] = running_mean[ch];
    stats[p.c + ch] = 1.0 / sqrt(running_var[ch] + p.eps);
}

// The channel of element i (an element never straddles two channels).
fn channel(i: u32) -> u32 {
    return (W * i / p.hw) % p.c;
}

fn elements() -> u32 {
    return p.n * p.c * p.hw / W;
}

// y = x * (invstd * gamma) + (beta - mean * invstd * gamma), one element per invocation.
@compute @workgroup_size(64)
fn batchnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= elements()) { return; }
    let ch = channel(i);
    let a = stats[p.c + ch] * gamma[ch];
    dst[i] = src[i] * a + (beta[ch] - stats[ch] * a);
}

// Partial sums of dy and dy * xhat over chunk gid.y of channel gid.x.
@compute @workgroup_size(64)
fn batchnorm_partial_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let mean = stats[ch];
    let invstd = stats[p.c + ch];
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var sum_dy = splat(0.0);
    var sum_dy_xhat = splat(0.0);
    for (var r = gid.y * p.chunk; r < end; r += W) {
        let k = item(ch, r) / W;
        let dy = src[k];
        sum_dy += dy;
        sum_dy_xhat += dy * (x_saved[k] - mean) * invstd;
    }
    partials[gid.y * p.c + ch] = hsum(sum_dy);
    partials[(chunks() + gid.y) * p.c + ch] = hsum(sum_dy_xhat);
}

// One invocation per channel: dbeta = sum dy, dgamma = sum dy * xhat, from the chunks.
@compute @workgroup_size(64)
fn batchnorm_grad_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var k = 0u; k < chunks(); k++) {
        sum_dy += partials[k * p.c + ch];
        sum_dy_xhat += partials[(chunks() + k) * p.c + ch];
    }
    dbeta[ch] = sum_dy;
    dgamma[ch] = sum_dy_xhat;
}

// Training mode: dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M).
@compute @workgroup_size(64)
fn batchnorm_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= elements()) { return; }
    let ch = channel(i);
    let invstd = stats[p.c + ch];
    let count = f32(p.n * p.hw);
    let xhat = (x_saved[i] - stats[ch]) * invstd;
    dst[i] = gamma[ch] * invstd * (src[i] - dbeta[ch] / count - xhat * dgamma[ch] / count);
}

// Eval mode: the statistics are constants, so dx = gamma * invstd * dy.
@compute @workgroup_size(64)
fn batchnorm_eval_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= elements()) { return; }
    dst[i] = gamma[channel(i)] * stats[p.c + channel(i)] * src[i];
}
