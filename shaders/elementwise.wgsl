// Elementwise kernels over flat f32 arrays of `n` items.
// Every 1-D kernel in this project runs 64-wide workgroups on a grid of up to 65535 x Y
// groups, and recovers the flat index as gid.x + gid.y * (groups in x) * 64.
// Each invocation takes one element T of W items (the prelude pipelines.rs appends); the
// Rust side compiles these with T = vec4<f32>: one 16-byte access instead of four 4-byte
// ones (on lavapipe every buffer access is a loop over the SIMD lanes, so this halves the
// time). When n is not a multiple of W the last element runs past n into the buffer's tail:
// pooled buffers are whole multiples of 64 bytes, and nothing reads past a tensor's n items.

struct Params {
    n: u32,
    alpha: f32,  // scale factor (scale, axpy), fill value, or clamp's lower bound
    beta: f32,   // clamp's upper bound
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<storage, read> a: array<T>;
@group(0) @binding(3) var<storage, read> b: array<T>;

// The element this invocation owns; those from quads() on do nothing.
fn quad(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

fn quads() -> u32 {
    return (p.n + W - 1u) / W;
}

// dst = a + b
@compute @workgroup_size(64)
fn add_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = a[i] + b[i]; }
}

// dst = a - b
@compute @workgroup_size(64)
fn sub_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = a[i] - b[i]; }
}

// dst = a * b   (also the backward of mul: da = dy * b, db = dy * a)
@compute @workgroup_size(64)
fn mul_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = a[i] * b[i]; }
}

// dst = alpha * a   (its own backward)
@compute @workgroup_size(64)
fn scale_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = p.alpha * a[i]; }
}

// dst += alpha * a   (in place)
@compute @workgroup_size(64)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = dst[i] + p.alpha * a[i]; }
}

// dst = alpha
@compute @workgroup_size(64)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = splat(p.alpha); }
}

// dst = clamp(dst, alpha, beta), in place (keeps the latent z in [-1, 1]). NaN stays NaN
// (clamp alone turns it into alpha), so a diverged z shows in the next loss. `is_nan` tests
// the bits: lavapipe's compiler folds `v != v` to false.
@compute @workgroup_size(64)
fn clamp_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { let v = dst[i]; dst[i] = select(clamp(v, splat(p.alpha), splat(p.beta)), v, is_nan(v)); }
}
