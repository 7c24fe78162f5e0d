// The convolution family (conv.wgsl) for CPU adapters whose subgroups are 8 SIMD lanes
// (`KernelSet::Simd8`: lavapipe on AVX2). The same geometry and the same three products:
//
//   correlate   image -> feature    conv2d_forward,      conv_transpose2d_grad_input,
//                                   and the weight gradients (see below)
//   scatter     feature -> image    conv2d_grad_input,   conv_transpose2d_forward
//               (and *_narrow entry points for at most 4 image channels)
//
// with feat[n, f, oy, ox] = sum_{c, ky, kx} W[f, c, ky, kx] img[n, c, oy*s - pt + ky, ox*s - pl + kx].
// The weight gradient dW[f, c, ky, kx] = sum_{n, oy, ox} dfeat[n, f, oy, ox] img[n, c, s*oy - pt + ky, ..]
// is the same correlation with other roles: "images" c, "channels" n, "pixels" (ky, kx),
// "taps" (oy, ox) spaced s apart (a dilation), "weights" dfeat with rows f. One kernel with
// a dilation and free output strides computes all three, and a multiply-add there sums 4
// channels into one accumulator, where an outer-product weight gradient wrote one
// accumulator per multiply-add (twice as slow on lavapipe, which keeps accumulators in
// memory and masks every write).
//
// The entry points have the portable family's names; each subgroup is one workgroup of 8.
//
// Why it looks like this: on lavapipe a storage-buffer load is a loop over the 8 lanes
// (about 26 cycles per float for the group), while a read-only rgba32float storage-texture
// load fetches 4 floats for all 8 lanes in about 11 cycles, and a subgroup shuffle from a
// fixed lane is one register move. So the operands are first packed into textures with
// four channels per texel and zero padding around each image (pack.wgsl), and:
//   - each lane loads the texels of its own pixels (or weight columns),
//   - one texel load per lane fetches 4 channels of 8 weight rows at once, and every lane
//     gets them from the lane that loaded them with subgroupShuffle,
//   - each subgroup accumulates a 32 x 32 block of results (8 lanes x 4 pixels, as 8
//     mat4x4 per lane), so every load feeds 64 multiply-adds,
//   - the taps and channel quads are one loop (`Walk`), not three nested ones.
// The zero padding means the inner loops have no bounds checks; results outside the
// tensor (clamped stand-in pixels, rows past the channel count) are computed and dropped.
//
// Packed layouts (pack.wgsl): an image [n, c, h, w] with pads (top, left) is texel
//   (x, y) = ((ix + left) * quads + q, n * rows + iy + top),  quads = ceil(c / 4),
// and a weight is a row of quads per output row r: texel ((ky * kw + kx) * quads + q, r).

struct Params {
    n: u32,               // images (of this batch chunk)
    c_img: u32,
    h_img: u32,
    w_img: u32,
    c_feat: u32,
    h_feat: u32,
    w_feat: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad_top: u32,
    pad_left: u32,
    img_rows: u32,        // texture rows per image of the packed image side
    feat_rows: u32,       // texture rows per image of the packed feature side
    feat_pad: u32,        // scatter: zero rows and columns before the packed feature side
    dilation: u32,        // correlate: image pixels from one tap to the next
    out_image: u32,       // correlate: dst elements from one image's results to the next
    out_row: u32,         // correlate: dst elements from one row's (output channel's) results to the next
    dst_offset: u32,      // first element of dst this dispatch writes (batch chunks)
}

@group(0) @binding(0) var<uniform> p: Params;
// The output, 4 floats per element: whole vec4s where 4 results lie side by side, else one
// component at a time (`store1`).
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var img: texture_storage_2d<rgba32float, read>;
@group(0) @binding(4) var feat: texture_storage_2d<rgba32float, read>;
@group(0) @binding(5) var weights: texture_storage_2d<rgba32float, read>;

// acc[j][i] += dot(w_i, x[j]): w_i are the 4-channel weights of 4 rows, which lanes
// r0 .. r0 + 3 loaded into `wq`; x[j] are the 4-channel inputs of this lane's 4 pixels.
fn rows4(acc: mat4x4<f32>, wq: vec4<f32>, r0: u32, x: mat4x4<f32>) -> mat4x4<f32> {
    let w = mat4x4<f32>(subgroupShuffle(wq, r0), subgroupShuffle(wq, r0 + 1u), subgroupShuffle(wq, r0 + 2u), subgroupShuffle(wq, r0 + 3u));
    return acc + transpose(w) * x;
}

const NO_PIXEL: u32 = 0xffffffffu;

// dst as an array of floats: element `at` = v.
fn store1(at: u32, v: f32) {
    dst[at / 4u][at % 4u] = v;
}

// Store rows r .. r + 3 (acc[j][i]: pixel j, row r + i) plus bias[row] at 4 pixels whose row-0
// elements are `out` (NO_PIXEL: not stored); rows are `plane` elements apart and those from
// `rows` on are not stored.
fn store_rows(acc: mat4x4<f32>, r: u32, out: vec4<u32>, plane: u32, rows: u32) {
    let last = rows - 1u;
    let b = vec4<f32>(bias[min(r, last)], bias[min(r + 1u, last)], bias[min(r + 2u, last)], bias[min(r + 3u, last)]);
    store_column(acc[0] + b, out.x, r, plane, rows);
    store_column(acc[1] + b, out.y, r, plane, rows);
    store_column(acc[2] + b, out.z, r, plane, rows);
    store_column(acc[3] + b, out.w, r, plane, rows);
}

// store_rows for 4 pixels that are consecutive in every row (`out` = row 0 of the first, a
// multiple of 4, or NO_PIXEL): one 16-byte store per row instead of four.
fn store_rows_vec4(acc: mat4x4<f32>, r: u32, out: u32, plane: u32, rows: u32) {
    if (out == NO_PIXEL) { return; }
    let by_row = transpose(acc);   // by_row[i]: row r + i at the 4 pixels
    let last = rows - 1u;
    let at = out / 4u + r * (plane / 4u);
    if (r < rows) { dst[at] = by_row[0] + bias[min(r, last)]; }
    if (r + 1u < rows) { dst[at + plane / 4u] = by_row[1] + bias[min(r + 1u, last)]; }
    if (r + 2u < rows) { dst[at + 2u * (plane / 4u)] = by_row[2] + bias[min(r + 2u, last)]; }
    if (r + 3u < rows) { dst[at + 3u * (plane / 4u)] = by_row[3] + bias[min(r + 3u, last)]; }
}

fn store_column(v: vec4<f32>, out: u32, r: u32, plane: u32, rows: u32) {
    if (out == NO_PIXEL || r >= rows) { return; }
    let at = out + r * plane;
    store1(at, v.x);
    if (r + 1u < rows) { store1(at + plane, v.y); }
    if (r + 2u < rows) { store1(at + 2u * plane, v.z); }
    if (r + 3u < rows) { store1(at + 3u * plane, v.w); }
}

// A walk over kernel taps and channel quads, (y, x, q) with q fastest, that steps without
// divisions: one loop instead of three nested ones (lavapipe pays for every loop level, which
// dominated layers with a single channel quad).
struct Walk {
    q: u32,
    x: u32,
    y: u32,
}

fn step(w: Walk, quads: u32, width: u32) -> Walk {
    var n = w;
    n.q += 1u;
    if (n.q == quads) {
        n.q = 0u;
        n.x += 1u;
        if (n.x == width) {
            n.x = 0u;
            n.y += 1u;
        }
    }
    return n;
}

fn quads(channels: u32) -> u32 {
    return (channels + 3u) / 4u;
}

// The 4 consecutive pixels of lane `lane` in block `blk` (4 l .. 4 l + 3 after 32 * blk).
fn lane_pixels(blk: u32, lane: u32) -> vec4<u32> {
    return vec4<u32>(blk * 32u + 4u * lane) + vec4<u32>(0u, 1u, 2u, 3u);
}

// ---- correlate: image -> feature ------------------------------------------------------

// Texel of tap (0, 0), quad 0 for feature pixel `pix` (flat over n, oy, ox) in the packed
// image, whose padding is the conv padding.
fn correlate_origin(pix: u32) -> vec2<u32> {
    let hw = p.h_feat * p.w_feat;
    let r = pix % hw;
    return vec2<u32>((r % p.w_feat) * p.stride * quads(p.c_img), (pix / hw) * p.img_rows + (r / p.w_feat) * p.stride);
}

// Element of row 0 for feature pixel `pix` in dst, or NO_PIXEL past the end.
fn feat_out(pix: u32) -> u32 {
    let hw = p.h_feat * p.w_feat;
    if (pix >= p.n * hw) { return NO_PIXEL; }
    return p.dst_offset + (pix / hw) * p.out_image + pix % hw;
}

// feat[n, f, oy, ox] = bias[f] + sum_{c, ky, kx} W[f, c, ky, kx] img[n, c, oy*s - pt + d*ky, ox*s - pl + d*kx]
// (d = dilation), at dst[n * out_image + f * out_row + oy * w_feat + ox].
// img: packed with the conv padding; weights: rows f, quads over c.
// Subgroup (wid.x, wid.y): 32 pixels from 32 wid.x, rows f from 32 wid.y.
fn correlate(wid: vec3<u32>, lane: u32) {
    let pix = lane_pixels(wid.x, lane);
    let last = p.n * p.h_feat * p.w_feat - 1u;   // pixels past the end compute a stand-in
    let o0 = correlate_origin(min(pix.x, last));
    let o1 = correlate_origin(min(pix.y, last));
    let o2 = correlate_origin(min(pix.z, last));
    let o3 = correlate_origin(min(pix.w, last));
    let f0 = wid.y * 32u;
    let cq = quads(p.c_img);
    var acc0: mat4x4<f32>; var acc1: mat4x4<f32>; var acc2: mat4x4<f32>; var acc3: mat4x4<f32>;
    var acc4: mat4x4<f32>; var acc5: mat4x4<f32>; var acc6: mat4x4<f32>; var acc7: mat4x4<f32>;
    // Weight column t = (ky * kw + kx) * cq + q; the image texel of that tap is
    // (d * kx * cq + q, d * ky) from each pixel's origin.
    var at = Walk(0u, 0u, 0u);
    for (var t = 0u; t < p.kh * p.kw * cq; t++) {
        let w0 = textureLoad(weights, vec2<u32>(t, f0 + lane));
        let w1 = textureLoad(weights, vec2<u32>(t, f0 + 8u + lane));
        let w2 = textureLoad(weights, vec2<u32>(t, f0 + 16u + lane));
        let w3 = textureLoad(weights, vec2<u32>(t, f0 + 24u + lane));
        let tap = vec2<u32>(at.x * p.dilation * cq + at.q, at.y * p.dilation);
        at = step(at, cq, p.kw);
        let x = mat4x4<f32>(textureLoad(img, o0 + tap), textureLoad(img, o1 + tap), textureLoad(img, o2 + tap), textureLoad(img, o3 + tap));
        acc0 = rows4(acc0, w0, 0u, x); acc1 = rows4(acc1, w0, 4u, x);
        acc2 = rows4(acc2, w1, 0u, x); acc3 = rows4(acc3, w1, 4u, x);
        acc4 = rows4(acc4, w2, 0u, x); acc5 = rows4(acc5, w2, 4u, x);
        acc6 = rows4(acc6, w3, 0u, x); acc7 = rows4(acc7, w3, 4u, x);
    }
    // Lane l's rows are f0 + 8h + (0..8) for texel row h; rows4 with r0 = 0 and 4 split them.
    let out = vec4<u32>(feat_out(pix.x), feat_out(pix.y), feat_out(pix.z), feat_out(pix.w));
    if ((p.h_feat * p.w_feat) % 4u == 0u && p.out_row % 4u == 0u && p.out_image % 4u == 0u && p.dst_offset % 4u == 0u) {
        // A lane's 4 pixels then lie side by side in one image plane, at a whole vec4.
        store_rows_vec4(acc0, f0, out.x, p.out_row, p.c_feat); store_rows_vec4(acc1, f0 + 4u, out.x, p.out_row, p.c_feat);
        store_rows_vec4(acc2, f0 + 8u, out.x, p.out_row, p.c_feat); store_rows_vec4(acc3, f0 + 12u, out.x, p.out_row, p.c_feat);
        store_rows_vec4(acc4, f0 + 16u, out.x, p.out_row, p.c_feat); store_rows_vec4(acc5, f0 + 20u, out.x, p.out_row, p.c_feat);
        store_rows_vec4(acc6, f0 + 24u, out.x, p.out_row, p.c_feat); store_rows_vec4(acc7, f0 + 28u, out.x, p.out_row, p.c_feat);
        return;
    }
    store_rows(acc0, f0, out, p.out_row, p.c_feat); store_rows(acc1, f0 + 4u, out, p.out_row, p.c_feat);
    store_rows(acc2, f0 + 8u, out, p.out_row, p.c_feat); store_rows(acc3, f0 + 12u, out, p.out_row, p.c_feat);
    store_rows(acc4, f0 + 16u, out, p.out_row, p.c_feat); store_rows(acc5, f0 + 20u, out, p.out_row, p.c_feat);
    store_rows(acc6, f0 + 24u, out, p.out_row, p.c_feat); store_rows(acc7, f0 + 28u, out, p.out_row, p.c_feat);
}

// ---- scatter: feature -> image --------------------------------------------------------
//
// img[n, c, iy, ix] = bias[c] + sum_{f, ky, kx} W[f, c, ky, kx] feat[n, f, oy, ox] where
// oy * s = iy + pt - ky. Image pixels fall into stride phases (py, px) = ((iy + pt) % s,
// (ix + pl) % s); in a phase the taps that land are ky = py + s * ty with oy = qy - ty,
// qy = (iy + pt) / s, the same for every pixel. A subgroup takes pixels of one phase
// (wid.z) and loops over those taps only. The packed feature side has `feat_pad` zero
// rows and columns before it (and enough after) so that every such oy, ox reads a texel.

// First image row (or column) in phase `ph` and how many there are, along an axis of
// `size` pixels with padding `pad`.
fn phase_span(ph: u32, size: u32, pad: u32) -> vec2<u32> {
    let first = (ph + p.stride - pad % p.stride) % p.stride;
    return vec2<u32>(first, select(0u, (size - first + p.stride - 1u) / p.stride, first < size));
}

// Image pixel (n, iy, ix) of the `i`-th pixel of a phase, or n = p.n when i is past its end.
fn phase_pixel(i: u32, rows: vec2<u32>, cols: vec2<u32>) -> vec3<u32> {
    let per_image = rows.y * cols.y;
    if (i >= p.n * per_image) { return vec3<u32>(p.n, 0u, 0u); }
    let r = i % per_image;
    return vec3<u32>(i / per_image, rows.x + (r / cols.y) * p.stride, cols.x + (r % cols.y) * p.stride);
}

// Texel of tap (ty, tx) = (0, 0), quad 0 for image pixel `px` in the packed feature side.
fn scatter_origin(px: vec3<u32>) -> vec2<u32> {
    let n = min(px.x, p.n - 1u);   // past the end: a stand-in inside the texture
    let qy = (px.y + p.pad_top) / p.stride;
    let qx = (px.z + p.pad_left) / p.stride;
    return vec2<u32>((qx + p.feat_pad) * quads(p.c_feat), n * p.feat_rows + qy + p.feat_pad);
}

// Element of row 0 for image pixel `px` = (n, iy, ix) in dst, or NO_PIXEL past the end.
fn img_out(px: vec3<u32>) -> u32 {
    if (px.x >= p.n) { return NO_PIXEL; }
    return p.dst_offset + px.x * p.c_img * p.h_img * p.w_img + px.y * p.w_img + px.z;
}

// img from the packed feature side and weights with rows c, quads over f.
// Subgroup (wid.x, wid.y, wid.z): 32 pixels of phase wid.z from 32 wid.x, rows c from 32 wid.y.
fn scatter(wid: vec3<u32>, lane: u32) {
    let py = wid.z / p.stride;
    let px = wid.z % p.stride;
    let rows = phase_span(py, p.h_img, p.pad_top);
    let cols = phase_span(px, p.w_img, p.pad_left);
    let pix = lane_pixels(wid.x, lane);
    let at = array<vec3<u32>, 4>(phase_pixel(pix.x, rows, cols), phase_pixel(pix.y, rows, cols), phase_pixel(pix.z, rows, cols), phase_pixel(pix.w, rows, cols));
    let o0 = scatter_origin(at[0]);
    let o1 = scatter_origin(at[1]);
    let o2 = scatter_origin(at[2]);
    let o3 = scatter_origin(at[3]);
    let c0 = wid.y * 32u;
    let fq = quads(p.c_feat);
    let taps_y = (p.kh + p.stride - 1u - py) / p.stride;   // ky = py + s * ty < kh
    let taps_x = (p.kw + p.stride - 1u - px) / p.stride;
    var acc0: mat4x4<f32>; var acc1: mat4x4<f32>; var acc2: mat4x4<f32>; var acc3: mat4x4<f32>;
    var acc4: mat4x4<f32>; var acc5: mat4x4<f32>; var acc6: mat4x4<f32>; var acc7: mat4x4<f32>;
    // Tap (ty, tx) is kernel tap (py + s ty, px + s tx) and feature pixel (qy - ty, qx - tx).
    var tap = Walk(0u, 0u, 0u);
    for (var t = 0u; t < taps_y * taps_x * fq; t++) {
        let wx = ((py + p.stride * tap.y) * p.kw + px + p.stride * tap.x) * fq + tap.q;
        let w0 = textureLoad(weights, vec2<u32>(wx, c0 + lane));
        let w1 = textureLoad(weights, vec2<u32>(wx, c0 + 8u + lane));
        let w2 = textureLoad(weights, vec2<u32>(wx, c0 + 16u + lane));
        let w3 = textureLoad(weights, vec2<u32>(wx, c0 + 24u + lane));
        // Back by whole texel rows and pixels, then to the quad.
        let back = vec2<u32>(tap.x * fq, tap.y);
        let e = vec2<u32>(tap.q, 0u);
        tap = step(tap, fq, taps_x);
        let x = mat4x4<f32>(textureLoad(feat, o0 - back + e), textureLoad(feat, o1 - back + e), textureLoad(feat, o2 - back + e), textureLoad(feat, o3 - back + e));
        acc0 = rows4(acc0, w0, 0u, x); acc1 = rows4(acc1, w0, 4u, x);
        acc2 = rows4(acc2, w1, 0u, x); acc3 = rows4(acc3, w1, 4u, x);
        acc4 = rows4(acc4, w2, 0u, x); acc5 = rows4(acc5, w2, 4u, x);
        acc6 = rows4(acc6, w3, 0u, x); acc7 = rows4(acc7, w3, 4u, x);
    }
    let out = vec4<u32>(img_out(at[0]), img_out(at[1]), img_out(at[2]), img_out(at[3]));
    let hw = p.h_img * p.w_img;
    store_rows(acc0, c0, out, hw, p.c_img); store_rows(acc1, c0 + 4u, out, hw, p.c_img);
    store_rows(acc2, c0 + 8u, out, hw, p.c_img); store_rows(acc3, c0 + 12u, out, hw, p.c_img);
    store_rows(acc4, c0 + 16u, out, hw, p.c_img); store_rows(acc5, c0 + 20u, out, hw, p.c_img);
    store_rows(acc6, c0 + 24u, out, hw, p.c_img); store_rows(acc7, c0 + 28u, out, hw, p.c_img);
}

// The scatter for at most 4 image channels (a generator's RGB output and its gradient):
// one texel row of weights, and 8 pixels per lane instead of 32 rows x 4 pixels.
// Subgroup (wid.x, wid.y, wid.z): 64 pixels of phase wid.z from 64 wid.x, rows c from 4 wid.y.
fn scatter_narrow(wid: vec3<u32>, lane: u32) {
    let py = wid.z / p.stride;
    let px = wid.z % p.stride;
    let rows = phase_span(py, p.h_img, p.pad_top);
    let cols = phase_span(px, p.w_img, p.pad_left);
    let pa = lane_pixels(2u * wid.x, lane);
    let pb = lane_pixels(2u * wid.x + 1u, lane);
    let at_a = array<vec3<u32>, 4>(phase_pixel(pa.x, rows, cols), phase_pixel(pa.y, rows, cols), phase_pixel(pa.z, rows, cols), phase_pixel(pa.w, rows, cols));
    let at_b = array<vec3<u32>, 4>(phase_pixel(pb.x, rows, cols), phase_pixel(pb.y, rows, cols), phase_pixel(pb.z, rows, cols), phase_pixel(pb.w, rows, cols));
    let oa0 = scatter_origin(at_a[0]); let oa1 = scatter_origin(at_a[1]); let oa2 = scatter_origin(at_a[2]); let oa3 = scatter_origin(at_a[3]);
    let ob0 = scatter_origin(at_b[0]); let ob1 = scatter_origin(at_b[1]); let ob2 = scatter_origin(at_b[2]); let ob3 = scatter_origin(at_b[3]);
    let c0 = wid.y * 4u;
    let fq = quads(p.c_feat);
    let taps_y = (p.kh + p.stride - 1u - py) / p.stride;
    let taps_x = (p.kw + p.stride - 1u - px) / p.stride;
    var acc_a: mat4x4<f32>;
    var acc_b: mat4x4<f32>;
    var tap = Walk(0u, 0u, 0u);
    for (var t = 0u; t < taps_y * taps_x * fq; t++) {
        let wx = ((py + p.stride * tap.y) * p.kw + px + p.stride * tap.x) * fq + tap.q;
        let w = textureLoad(weights, vec2<u32>(wx, c0 + lane % 4u));
        let back = vec2<u32>(tap.x * fq, tap.y);
        let e = vec2<u32>(tap.q, 0u);
        tap = step(tap, fq, taps_x);
        let xa = mat4x4<f32>(textureLoad(feat, oa0 - back + e), textureLoad(feat, oa1 - back + e), textureLoad(feat, oa2 - back + e), textureLoad(feat, oa3 - back + e));
        let xb = mat4x4<f32>(textureLoad(feat, ob0 - back + e), textureLoad(feat, ob1 - back + e), textureLoad(feat, ob2 - back + e), textureLoad(feat, ob3 - back + e));
        acc_a = rows4(acc_a, w, 0u, xa);
        acc_b = rows4(acc_b, w, 0u, xb);
    }
    let hw = p.h_img * p.w_img;
    store_rows(acc_a, c0, vec4<u32>(img_out(at_a[0]), img_out(at_a[1]), img_out(at_a[2]), img_out(at_a[3])), hw, p.c_img);
    store_rows(acc_b, c0, vec4<u32>(img_out(at_b[0]), img_out(at_b[1]), img_out(at_b[2]), img_out(at_b[3])), hw, p.c_img);
}

// ---- entry points ----------------------------------------------------------------------
// Bindings: dst 1, bias 2 (forward products; zeros for the input gradients), and the
// packed operands: img 3, feat 4, weights 5.

// y = conv(x, W) + b: img = x, weights rows f (conv2d weight as is).
@compute @workgroup_size(8)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { correlate(wid, lane); }

// dx = conv^T(dy, W): feat = dy, weights rows c (transposed).
@compute @workgroup_size(8)
fn conv2d_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { scatter(wid, lane); }

@compute @workgroup_size(8)
fn conv2d_grad_input_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { scatter_narrow(wid, lane); }

// dW as a correlation (see the top): img = x with channels n, weights = dy with rows f.
@compute @workgroup_size(8)
fn conv2d_grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { correlate(wid, lane); }

// y = conv^T(x, W) + b: feat = x, weights rows c (transposed).
@compute @workgroup_size(8)
fn conv_transpose2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { scatter(wid, lane); }

@compute @workgroup_size(8)
fn conv_transpose2d_forward_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { scatter_narrow(wid, lane); }

// dx = conv(dy, W): img = dy, weights rows f.
@compute @workgroup_size(8)
fn conv_transpose2d_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { correlate(wid, lane); }

// dW as a correlation: img = dy with channels n, weights = x with rows f.
@compute @workgroup_size(8)
fn conv_transpose2d_grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) { correlate(wid, lane); }
