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
// Where a channel plane holds a whole number of vec4s (hw % 4 == 0), the *_vec4 entry
// points read and write 4 items at a time (one channel per vec4): on lavapipe every buffer
// access is a loop over the SIMD lanes, so a 16-byte access costs about what a 4-byte one does.

struct Params {
    n: u32,
    c: u32,
    hw: u32,
    eps: f32,
    momentum: f32,
    chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;        // y or dx
@group(0) @binding(2) var<storage, read> src: array<f32>;              // x (forward) or dy (backward)
@group(0) @binding(3) var<storage, read> x_saved: array<f32>;          // x, in the backward
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;      // [mean[C], invstd[C]]
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(10) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(11) var<storage, read_write> partials: array<f32>;  // [2, chunks, C]
// The same buffers as dst, src and x_saved, 4 items at a time (no entry point uses both views).
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> x_saved4: array<vec4<f32>>;

// Item r of channel ch, counting over (image, pixel).
fn item(ch: u32, r: u32) -> u32 {
    return ((r / p.hw) * p.c + ch) * p.hw + r % p.hw;
}

fn chunks() -> u32 {
    return (p.n * p.hw + p.chunk - 1u) / p.chunk;
}

// Partial sums of (x - shift) and (x - shift)^2 over chunk gid.y of channel gid.x, with
// shift = the channel's first item: sums of shifted values keep the variance free of the
// cancellation that sum(x^2) - sum(x)^2 / M suffers when the mean is large.
@compute @workgroup_size(64)
fn batchnorm_partial_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let shift = src[item(ch, 0u)];
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var s1 = 0.0;
    var s2 = 0.0;
    for (var r = gid.y * p.chunk; r < end; r++) {
        let d = src[item(ch, r)] - shift;
        s1 += d;
        s2 += d * d;
    }
    partials[gid.y * p.c + ch] = s1;
    partials[(chunks() + gid.y) * p.c + ch] = s2;
}

// batchnorm_partial_stats 4 items at a time (hw % 4 == 0; `chunk` is a multiple of 4).
@compute @workgroup_size(64)
fn batchnorm_partial_stats_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let shift = src4[item(ch, 0u) / 4u].x;
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    for (var r = gid.y * p.chunk; r < end; r += 4u) {
        let d = src4[item(ch, r) / 4u] - shift;
        s1 += d;
        s2 += d * d;
    }
    partials[gid.y * p.c + ch] = s1.x + s1.y + s1.z + s1.w;
    partials[(chunks() + gid.y) * p.c + ch] = s2.x + s2.y + s2.z + s2.w;
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
    let mean = src[item(ch, 0u)] + shifted_mean;
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

// y = (x - mean) * invstd * gamma + beta, one invocation per item.
@compute @workgroup_size(64)
fn batchnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n * p.c * p.hw) { return; }
    let ch = (i / p.hw) % p.c;
    dst[i] = (src[i] - stats[ch]) * stats[p.c + ch] * gamma[ch] + beta[ch];
}

// y = x * (invstd * gamma) + (beta - mean * invstd * gamma), 4 items per invocation.
@compute @workgroup_size(64)
fn batchnorm_forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n * p.c * p.hw / 4u) { return; }
    let ch = (4u * i / p.hw) % p.c;
    let a = stats[p.c + ch] * gamma[ch];
    dst4[i] = src4[i] * a + (beta[ch] - stats[ch] * a);
}

// Partial sums of dy and dy * xhat over chunk gid.y of channel gid.x.
@compute @workgroup_size(64)
fn batchnorm_partial_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let mean = stats[ch];
    let invstd = stats[p.c + ch];
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var r = gid.y * p.chunk; r < end; r++) {
        let k = item(ch, r);
        sum_dy += src[k];
        sum_dy_xhat += src[k] * (x_saved[k] - mean) * invstd;
    }
    partials[gid.y * p.c + ch] = sum_dy;
    partials[(chunks() + gid.y) * p.c + ch] = sum_dy_xhat;
}

// batchnorm_partial_grad 4 items at a time.
@compute @workgroup_size(64)
fn batchnorm_partial_grad_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.c) { return; }
    let mean = stats[ch];
    let invstd = stats[p.c + ch];
    let end = min((gid.y + 1u) * p.chunk, p.n * p.hw);
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_xhat = vec4<f32>(0.0);
    for (var r = gid.y * p.chunk; r < end; r += 4u) {
        let k = item(ch, r) / 4u;
        let dy = src4[k];
        sum_dy += dy;
        sum_dy_xhat += dy * (x_saved4[k] - mean) * invstd;
    }
    partials[gid.y * p.c + ch] = sum_dy.x + sum_dy.y + sum_dy.z + sum_dy.w;
    partials[(chunks() + gid.y) * p.c + ch] = sum_dy_xhat.x + sum_dy_xhat.y + sum_dy_xhat.z + sum_dy_xhat.w;
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
    if (i >= p.n * p.c * p.hw) { return; }
    let ch = (i / p.hw) % p.c;
    let invstd = stats[p.c + ch];
    let count = f32(p.n * p.hw);
    let xhat = (x_saved[i] - stats[ch]) * invstd;
    dst[i] = gamma[ch] * invstd * (src[i] - dbeta[ch] / count - xhat * dgamma[ch] / count);
}

// batchnorm_grad_input 4 items at a time.
@compute @workgroup_size(64)
fn batchnorm_grad_input_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n * p.c * p.hw / 4u) { return; }
    let ch = (4u * i / p.hw) % p.c;
    let invstd = stats[p.c + ch];
    let count = f32(p.n * p.hw);
    let xhat = (x_saved4[i] - stats[ch]) * invstd;
    dst4[i] = gamma[ch] * invstd * (src4[i] - dbeta[ch] / count - xhat * dgamma[ch] / count);
}

// Eval mode: the statistics are constants, so dx = gamma * invstd * dy.
@compute @workgroup_size(64)
fn batchnorm_eval_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n * p.c * p.hw) { return; }
    let ch = (i / p.hw) % p.c;
    dst[i] = gamma[ch] * stats[p.c + ch] * src[i];
}

@compute @workgroup_size(64)
fn batchnorm_eval_grad_input_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n * p.c * p.hw / 4u) { return; }
    let ch = (4u * i / p.hw) % p.c;
    dst4[i] = gamma[ch] * stats[p.c + ch] * src4[i];
}
