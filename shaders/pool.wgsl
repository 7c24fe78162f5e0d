// Average pooling over non-overlapping f x f blocks, NCHW (the "lowres" completion mask
// matches 8x8 block means: super-resolution).
//   forward      x[N, C, H, W]           -> y[N, C, H/f, W/f] = block means
//   grad_input   dy[N, C, H/f, W/f]      -> dx[N, C, H, W]   = dy of the block / f^2

struct Params {
    planes: u32,  // N * C
    h: u32,
    w: u32,
    f: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(64)
fn avg_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = gid.x + gid.y * groups.x * 64u;
    let ho = p.h / p.f;
    let wo = p.w / p.f;
    if (o >= p.planes * ho * wo) { return; }
    let plane = o / (ho * wo);
    let by = (o % (ho * wo)) / wo;
    let bx = o % wo;
    var acc = 0.0;
    for (var dy = 0u; dy < p.f; dy++) {
        for (var dx = 0u; dx < p.f; dx++) {
            acc += src[(plane * p.h + by * p.f + dy) * p.w + bx * p.f + dx];
        }
    }
    dst[o] = acc / f32(p.f * p.f);
}

@compute @workgroup_size(64)
fn avg_pool_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 64u;
    if (i >= p.planes * p.h * p.w) { return; }
    let plane = i / (p.h * p.w);
    let y = (i % (p.h * p.w)) / p.w;
    let x = i % p.w;
    let ho = p.h / p.f;
    let wo = p.w / p.f;
    dst[i] = src[(plane * ho + y / p.f) * wo + x / p.f] / f32(p.f * p.f);
}
