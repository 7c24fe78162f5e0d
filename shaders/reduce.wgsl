// Sums over one axis of a tensor viewed as [outer, len, inner] (C order), in chunks:
// output [outer, ceil(len / chunk), inner], each item the sum of one chunk of the axis.
// The Rust side repeats passes until one chunk is left, so no invocation loops more than
// `chunk` times: Mesa's llvmpipe (lavapipe) silently ends any loop nest after 65535
// iterations, and on GPUs short loops mean more invocations in flight.

struct Params {
    outer: u32,
    len: u32,
    inner: u32,
    chunk: u32,
    scale: f32,  // 1 for sum, 1/count for mean (applied in the last pass)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

// dst[o, c, i] = scale * sum_{l in chunk c} src[o, l, i]; one invocation per output, summing
// in f32 in a fixed order.
@compute @workgroup_size(64)
fn sum_axis_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let out = gid.x + gid.y * groups.x * 64u;
    let chunks = max((p.len + p.chunk - 1u) / p.chunk, 1u);  // an empty axis still sums to 0
    if (out >= p.outer * chunks * p.inner) { return; }
    let i = out % p.inner;
    let c = (out / p.inner) % chunks;
    let o = out / (p.inner * chunks);
    let start = c * p.chunk;
    let end = min(start + p.chunk, p.len);
    var acc = 0.0;
    for (var l = start; l < end; l++) {
        acc += src[(o * p.len + l) * p.inner + i];
    }
    dst[out] = p.scale * acc;
}

// dst[o, l, i] = scale * src[o, i]: the backward of a sum over the axis (a broadcast).
@compute @workgroup_size(64)
fn sum_axis_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let d = gid.x + gid.y * groups.x * 64u;
    if (d >= p.outer * p.len * p.inner) { return; }
    let i = d % p.inner;
    let o = d / (p.len * p.inner);
    dst[d] = p.scale * src[o * p.inner + i];
}
