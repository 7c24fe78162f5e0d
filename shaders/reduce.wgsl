// Sums over one axis of a tensor viewed as [outer, len, inner] (C order).
// A full sum is the same kernel on [ceil(total / len), len, 1], repeated until one value
// is left; `total` bounds the last, partial chunk.

struct Params {
    outer: u32,
    len: u32,
    inner: u32,
    total: u32,  // number of valid source items (outer * len * inner, or fewer for the last chunk)
    scale: f32,  // 1 for sum, 1/count for mean
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

// dst[o, i] = scale * sum_l src[o, l, i]; one invocation per output, no barriers (they
// are slow on CPU adapters), summing in f32 in a fixed order.
@compute @workgroup_size(64)
fn sum_axis_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let out = gid.x + gid.y * groups.x * 64u;
    if (out >= p.outer * p.inner) { return; }
    let o = out / p.inner;
    let i = out % p.inner;
    var acc = 0.0;
    for (var l = 0u; l < p.len; l++) {
        let s = (o * p.len + l) * p.inner + i;
        if (s < p.total) { acc += src[s]; }
    }
    dst[out] = p.scale * acc;
}

// dst[o, l, i] = scale * src[o, i]: the backward of sum_axis_forward (a broadcast).
@compute @workgroup_size(64)
fn sum_axis_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let d = gid.x + gid.y * groups.x * 64u;
    if (d >= p.total) { return; }
    let i = d % p.inner;
    let o = d / (p.len * p.inner);
    dst[d] = p.scale * src[o * p.inner + i];
}
