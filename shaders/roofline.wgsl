// The adapter's two roofs for `bench --roofline` (jobs/roofline.rs).
//
// fma_peak: arithmetic only. Each invocation runs 8 independent vec4 multiply-add chains
// for `iters` rounds (64 floating-point operations a round: 8 x 4 lanes x multiply + add),
// enough independent work to hide the latency of each operation, and stores one value so
// the compiler cannot drop the work. The multiplier and the addend come from the
// parameters, so nothing folds. fma_peak_narrow runs 3 chains (24 operations a round, 4 rounds a trip):
// on a CPU adapter, where an invocation is one SIMD lane, 8 vec4 chains do not fit the
// vector registers and spill. `measure` keeps the faster of the two.
// stream_copy: memory only, dst[i] = src[i] over vec4s.

struct Params {
    n: u32,       // invocations that store (fma_peak) or vec4s to copy (stream_copy)
    iters: u32,   // multiply-add rounds per invocation (at most a few thousand: lavapipe)
    mul: f32,
    add: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec4<f32>>;

@compute @workgroup_size(64)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    let m = vec4<f32>(p.mul);
    let c = vec4<f32>(p.add);
    var a0 = vec4<f32>(f32(i & 255u) * 1e-3);
    var a1 = a0 + vec4<f32>(1.0);
    var a2 = a0 + vec4<f32>(2.0);
    var a3 = a0 + vec4<f32>(3.0);
    var a4 = a0 + vec4<f32>(4.0);
    var a5 = a0 + vec4<f32>(5.0);
    var a6 = a0 + vec4<f32>(6.0);
    var a7 = a0 + vec4<f32>(7.0);
    for (var k = 0u; k < p.iters; k++) {
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
        a3 = a3 * m + c;
        a4 = a4 * m + c;
        a5 = a5 * m + c;
        a6 = a6 * m + c;
        a7 = a7 * m + c;
    }
    if (i < p.n) {
        dst[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    }
}

@compute @workgroup_size(64)
fn fma_peak_narrow(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    let m = vec4<f32>(p.mul);
    let c = vec4<f32>(p.add);
    var a0 = vec4<f32>(f32(i & 255u) * 1e-3);
    var a1 = a0 + vec4<f32>(1.0);
    var a2 = a0 + vec4<f32>(2.0);
    // 4 rounds a trip: the loop's own bookkeeping is a large share of a short body on a CPU.
    for (var k = 0u; k < p.iters; k += 4u) {
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
        a0 = a0 * m + c;
        a1 = a1 * m + c;
        a2 = a2 * m + c;
    }
    if (i < p.n) {
        dst[i] = a0 + a1 + a2;
    }
}

// Each invocation copies `iters` vec4s, a grid's width apart (consecutive invocations
// touch consecutive vec4s at every step): fewer, longer invocations cost less to launch.
@compute @workgroup_size(64)
fn stream_copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let invocations = groups.x * groups.y * 64u;
    let first = gid.x + gid.y * groups.x * 64u;
    for (var k = 0u; k < p.iters; k++) {
        let i = first + k * invocations;
        if (i < p.n) {
            dst[i] = src[i];
        }
    }
}
