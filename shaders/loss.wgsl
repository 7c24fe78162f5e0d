// Sigmoid cross-entropy with logits, elementwise (the mean is taken by reduce.wgsl):
//   loss(x, t) = max(x, 0) - x t + log(1 + exp(-|x|))
// which equals -t log s(x) - (1 - t) log(1 - s(x)) without overflow for any x.

struct Params {
    n: u32,
    scale: f32,  // d(mean)/d(item) = 1/n
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read> dloss: array<f32>;  // [1]: gradient of the scalar loss

fn sigmoid_stable(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
}

@compute @workgroup_size(64)
fn sigmoid_ce_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n) { return; }
    let x = logits[i];
    dst[i] = max(x, 0.0) - x * targets[i] + log(1.0 + exp(-abs(x)));
}

// d loss / d x = (sigmoid(x) - t) * scale * dloss
@compute @workgroup_size(64)
fn sigmoid_ce_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.n) { return; }
    dst[i] = (sigmoid_stable(logits[i]) - targets[i]) * p.scale * dloss[0];
}
