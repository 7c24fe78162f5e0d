// Packing a tensor into an rgba32float texture for the SIMD-8 kernels (conv_simd8.wgsl).
//
// A 4-D view T[a, b, y, x] = src[offset + a*stride_a + b*stride_b + y*stride_y + x*stride_x]
// (an NCHW activation, or a weight [out, in, kh, kw] read in either channel order) becomes
// a texture with four consecutive b ("channels") per texel, zero padding around each
// (y, x) plane, and the planes of successive a stacked vertically:
//
//   texel (x_t, y_t) = (T[a, 4q, y, x], T[a, 4q + 1, y, x], T[a, 4q + 2, y, x], T[a, 4q + 3, y, x])
//   with x_t = (x + left) * quads + q,  y_t = a * rows + (y + top),  quads = ceil(b / 4)
//
// Texels outside T (padding, channels past b, rows past the last plane) are zero, so the
// kernels that read the texture need no bounds checks in their inner loops.

struct Params {
    a: u32,
    b: u32,
    h: u32,
    w: u32,
    stride_a: u32,
    stride_b: u32,
    stride_y: u32,
    stride_x: u32,
    offset: u32,   // element of src where T[0, 0, 0, 0] lives
    top: u32,      // zero rows before each plane
    left: u32,     // zero columns (pixels) before each row
    rows: u32,     // texture rows per plane: top + h + zero rows after
    quads: u32,    // ceil(b / 4)
    width: u32,    // texture width in texels
    height: u32,   // texture height in texels
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var dst: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

// One invocation per texel of the whole texture, padding included.
@compute @workgroup_size(64)
fn pack_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = gid.x + gid.y * groups.x * 64u;
    if (t >= p.width * p.height) { return; }
    let xt = t % p.width;
    let yt = t / p.width;
    let q = xt % p.quads;
    let a = yt / p.rows;
    let y = i32(yt % p.rows) - i32(p.top);
    let x = i32(xt / p.quads) - i32(p.left);
    var texel = vec4<f32>(0.0);
    if (a < p.a && y >= 0 && y < i32(p.h) && x >= 0 && x < i32(p.w)) {
        let base = p.offset + a * p.stride_a + u32(y) * p.stride_y + u32(x) * p.stride_x;
        for (var i = 0u; i < 4u; i++) {
            let b = 4u * q + i;
            if (b < p.b) { texel[i] = src[base + b * p.stride_b]; }
        }
    }
    textureStore(dst, vec2<u32>(xt, yt), texel);
}
