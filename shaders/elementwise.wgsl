// Elementwise kernels over flat f32 arrays of `n` items.
// Every 1-D kernel in this project runs 64-wide workgroups on a grid of up to 65535 x Y
// groups, and recovers the flat index as gid.x + gid.y * (groups in x) * 64.

struct Params {
    n: u32,
    alpha: f32,  // scale factor (scale, axpy), fill value, or clamp's lower bound
    beta: f32,   // clamp's upper bound
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

// dst = a + b
@compute @workgroup_size(64)
fn add_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = a[i] + b[i]; }
}

// dst = a - b
@compute @workgroup_size(64)
fn sub_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = a[i] - b[i]; }
}

// dst = a * b   (also the backward of mul: da = dy * b, db = dy * a)
@compute @workgroup_size(64)
fn mul_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = a[i] * b[i]; }
}

// dst = alpha * a   (its own backward)
@compute @workgroup_size(64)
fn scale_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = p.alpha * a[i]; }
}

// dst += alpha * a   (in place)
@compute @workgroup_size(64)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = dst[i] + p.alpha * a[i]; }
}

// dst = alpha
@compute @workgroup_size(64)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = p.alpha; }
}

// dst = clamp(dst, alpha, beta), in place (keeps the latent z in [-1, 1])
@compute @workgroup_size(64)
fn clamp_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i < p.n) { dst[i] = clamp(dst[i], p.alpha, p.beta); }
}
