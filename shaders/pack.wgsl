// Packing a tensor for the SIMD-8 kernels (conv_simd8.wgsl): texels for an rgba32float
// texture, written to a buffer that is then copied into the texture (on lavapipe a vec4
// buffer store costs less than half a texture store, and the copy is a memcpy).
//
// A 4-D view T[a, b, y, x] = src[offset + a*stride_a + b*stride_b + y*stride_y + x*stride_x]
// (an NCHW activation, or a weight [out, in, kh, kw] read in either channel order) becomes
// texels with four consecutive b ("channels") each, zero padding around each (y, x) plane,
// and the planes of successive a stacked vertically:
//
//   texel (x_t, y_t) = (T[a, 4q, y, x], T[a, 4q + 1, y, x], T[a, 4q + 2, y, x], T[a, 4q + 3, y, x])
//   with x_t = (x + left) * quads + q,  y_t = a * rows + (y + top),  quads = ceil(b / 4)
//
// at dst[y_t * width + x_t]. The Rust side clears dst first, so padding stays zero and
// these kernels only write texels inside T.

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
    width: u32,    // texels per texture row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> src4: array<vec4<f32>>;   // src, 4 floats at a time (no entry point uses both)

fn texel_index(a: u32, q: u32, y: u32, x: u32) -> u32 {
    return (a * p.rows + y + p.top) * p.width + (x + p.left) * p.quads + q;
}

// One invocation per texel inside T (4 strided loads): any strides.
// Grid: x = texels of a plane row (w * quads, 64 per workgroup), y = rows h, z = planes a.
@compute @workgroup_size(64)
fn pack_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.w * p.quads) { return; }
    let x = gid.x / p.quads;
    let q = gid.x % p.quads;
    let base = p.offset + gid.z * p.stride_a + 4u * q * p.stride_b + gid.y * p.stride_y + x * p.stride_x;
    let left = p.b - 4u * q;   // channels in this quad (the last quad may hold fewer than 4)
    var texel = vec4<f32>(src[base], 0.0, 0.0, 0.0);
    if (left > 1u) { texel.y = src[base + p.stride_b]; }
    if (left > 2u) { texel.z = src[base + 2u * p.stride_b]; }
    if (left > 3u) { texel.w = src[base + 3u * p.stride_b]; }
    dst[texel_index(gid.z, q, gid.y, x)] = texel;
}

// Four texels per invocation, from 4 aligned vec4 loads (4 channels x 4 pixels), where
// x is contiguous (stride_x = 1) and every other stride, the offset and w are multiples of 4.
// Grid: x = groups of 4 pixels in a row (w / 4), y = rows h, z = planes a x quads.
@compute @workgroup_size(8, 8)
fn pack_forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x * 4u >= p.w || gid.y >= p.h) { return; }
    let a = gid.z / p.quads;
    let q = gid.z % p.quads;
    let x = gid.x * 4u;
    let base = (p.offset + a * p.stride_a + 4u * q * p.stride_b + gid.y * p.stride_y + x) / 4u;
    let step = p.stride_b / 4u;
    let left = p.b - 4u * q;
    let c0 = src4[base];
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    if (left > 1u) { c1 = src4[base + step]; }
    if (left > 2u) { c2 = src4[base + 2u * step]; }
    if (left > 3u) { c3 = src4[base + 3u * step]; }
    // Rows of m are channels; its columns are the 4 pixels' texels.
    let m = transpose(mat4x4<f32>(c0, c1, c2, c3));
    let at = texel_index(a, q, gid.y, x);
    dst[at] = m[0];
    dst[at + p.quads] = m[1];
    dst[at + 2u * p.quads] = m[2];
    dst[at + 3u * p.quads] = m[3];
}
