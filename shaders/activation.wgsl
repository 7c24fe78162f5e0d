// Activations, forward and backward side by side, over flat arrays of `n` items.
// Forward: dst = f(src) with src = x.
// Backward: dst = dy * f'(.), where src is x for ReLU / leaky-ReLU / abs / softplus and
// y = f(x) for tanh / sigmoid (their derivatives are cheapest from the output).
// Each invocation takes one element T (see elementwise.wgsl on the last, partial one).

struct Params {
    n: u32,
    slope: f32,  // leaky-ReLU negative slope
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<storage, read> src: array<T>;
@group(0) @binding(3) var<storage, read> dy: array<T>;

// The element this invocation owns, or none past the last one.
fn quad(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

fn quads() -> u32 {
    return (p.n + W - 1u) / W;
}

// tanh without overflow: exp of a non-positive number only.
fn tanh_stable(x: T) -> T {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// sigmoid without overflow: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
fn sigmoid_stable(x: T) -> T {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= splat(0.0));
}

@compute @workgroup_size(64)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = max(src[i], splat(0.0)); }
}

@compute @workgroup_size(64)
fn relu_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = select(splat(0.0), dy[i], src[i] > splat(0.0)); }
}

@compute @workgroup_size(64)
fn leaky_relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { let x = src[i]; dst[i] = select(p.slope * x, x, x > splat(0.0)); }
}

@compute @workgroup_size(64)
fn leaky_relu_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = select(splat(p.slope), splat(1.0), src[i] > splat(0.0)) * dy[i]; }
}

@compute @workgroup_size(64)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = tanh_stable(src[i]); }
}

// src = y = tanh(x): dy/dx = 1 - y^2
@compute @workgroup_size(64)
fn tanh_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { let y = src[i]; dst[i] = (1.0 - y * y) * dy[i]; }
}

@compute @workgroup_size(64)
fn sigmoid_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = sigmoid_stable(src[i]); }
}

// src = y = sigmoid(x): dy/dx = y (1 - y)
@compute @workgroup_size(64)
fn sigmoid_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { let y = src[i]; dst[i] = y * (1.0 - y) * dy[i]; }
}

// |x|; the derivative is sign(x) (0 at 0).
@compute @workgroup_size(64)
fn abs_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = abs(src[i]); }
}

@compute @workgroup_size(64)
fn abs_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = sign(src[i]) * dy[i]; }
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), without overflow.
@compute @workgroup_size(64)
fn softplus_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { let x = src[i]; dst[i] = max(x, splat(0.0)) + log(1.0 + exp(-abs(x))); }
}

// d softplus / dx = sigmoid(x)
@compute @workgroup_size(64)
fn softplus_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = quad(gid, groups);
    if (i < quads()) { dst[i] = sigmoid_stable(src[i]) * dy[i]; }
}
