// 2-D convolution and its transpose, NCHW, with PyTorch's weight layouts.
//
// Everything is phrased with one conv geometry: the "image" side (n, c_img, h_img, w_img)
// and the "feature" side (n, c_feat, h_feat, w_feat), related by
//   feat[n, f, oy, ox] = sum_{c, ky, kx} W[f, c, ky, kx] * img[n, c, oy*sh - pad_top + ky, ox*sw - pad_left + kx]
// (taps outside the image read 0; bottom/right padding is implied by h_feat, w_feat).
// Three bodies compute the three products of that relation, and each serves two ops,
// because a transposed convolution is the adjoint of the convolution with the same
// geometry (its input lives on the feature side, its output on the image side, and
// W[f, c, ..] is PyTorch's ConvTranspose2d weight [in, out, kh, kw]):
//
//   correlate   image -> feature    conv2d_forward,      conv_transpose2d_grad_input
//   scatter     feature -> image    conv2d_grad_input,   conv_transpose2d_forward
//               (pixels grouped by stride phase, see scatter_pixels)
//   filter      dW from both        conv2d_grad_weight,  conv_transpose2d_grad_weight
//
// Each invocation owns a 4x4 register block (4 channels x 4 pixels or weights); a
// workgroup is 64 invocations along the pixel axis. No shared memory or barriers.
// The weight and bias gradients reduce over the whole batch; they are split so that no
// invocation loops more than a few thousand times (lavapipe ends any loop nest after 65535
// iterations; GPUs want the parallelism): each split writes a partial result at
// [split, ...] and the Rust side sums the partials (reduce.wgsl).

struct Params {
    n: u32,
    c_img: u32,
    h_img: u32,
    w_img: u32,
    c_feat: u32,
    h_feat: u32,
    w_feat: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    pad_top: u32,
    pad_left: u32,
    images_per_split: u32,  // filter: images one invocation sums over (its split of the batch)
    items_per_chunk: u32,   // bias: (image, pixel) items one invocation sums over
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;   // see each body
@group(0) @binding(3) var<storage, read> in1: array<f32>;   // see each body
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// feat[n, f0..f0+4, pixels p0..p0+4] from in0 = image and in1 = W[c_feat, c_img, kh, kw].
// acc[i][j]: channel f0 + i, feature pixel p0 + j (flattened over n, oy, ox).
fn correlate_block(f0: u32, p0: u32) -> array<vec4<f32>, 4> {
    let hw_feat = p.h_feat * p.w_feat;
    let hw_img = p.h_img * p.w_img;
    let npix = p.n * hw_feat;
    let khw = p.kh * p.kw;
    var base: vec4<u32>;   // offset of (n, channel 0) in the image
    var iy0: vec4<i32>;
    var ix0: vec4<i32>;
    for (var j = 0u; j < 4u; j++) {
        let pix = min(p0 + j, npix - 1u);
        let r = pix % hw_feat;
        base[j] = (pix / hw_feat) * p.c_img * hw_img;
        iy0[j] = i32((r / p.w_feat) * p.sh) - i32(p.pad_top);
        ix0[j] = i32((r % p.w_feat) * p.sw) - i32(p.pad_left);
    }
    var wrow: vec4<u32>;   // offset of W[f, 0, 0, 0]
    for (var i = 0u; i < 4u; i++) { wrow[i] = min(f0 + i, p.c_feat - 1u) * p.c_img * khw; }
    var acc: array<vec4<f32>, 4>;
    for (var ky = 0u; ky < p.kh; ky++) {
        for (var kx = 0u; kx < p.kw; kx++) {
            var off: vec4<u32>;
            var valid: vec4<bool>;
            for (var j = 0u; j < 4u; j++) {
                let iy = iy0[j] + i32(ky);
                let ix = ix0[j] + i32(kx);
                valid[j] = iy >= 0 && iy < i32(p.h_img) && ix >= 0 && ix < i32(p.w_img);
                off[j] = base[j] + select(0u, u32(iy) * p.w_img + u32(ix), valid[j]);
            }
            if (!any(valid)) { continue; }
            let k = ky * p.kw + kx;
            for (var c = 0u; c < p.c_img; c++) {
                let co = c * hw_img;
                let xv = select(vec4<f32>(0.0), vec4<f32>(in0[off.x + co], in0[off.y + co], in0[off.z + co], in0[off.w + co]), valid);
                let wo = c * khw + k;
                let wv = vec4<f32>(in1[wrow.x + wo], in1[wrow.y + wo], in1[wrow.z + wo], in1[wrow.w + wo]);
                acc[0] += wv.x * xv;
                acc[1] += wv.y * xv;
                acc[2] += wv.z * xv;
                acc[3] += wv.w * xv;
            }
        }
    }
    return acc;
}

// The scatter direction visits its pixels in blocks of 4 that share a row and a phase
// modulo the stride: (y, x) = (ry + yq * sh, rx + (4q + j) * sw) for j = 0..3, with the
// phase (ry, rx) varying slowest across invocations. Neighbouring invocations then agree on
// which kernel taps land on a feature pixel, so the taps that fall between feature pixels
// (3 of 4 at stride 2) are skipped by whole SIMD groups instead of computed and masked.
const NO_PIXEL: u32 = 0xffffffffu;

fn scatter_rows_per_phase() -> u32 { return (p.h_img + p.sh - 1u) / p.sh; }
fn scatter_blocks_per_row() -> u32 { return ((p.w_img + p.sw - 1u) / p.sw + 3u) / 4u; }

// Flat image-side pixel indices (n * h * w + y * w + x) of scatter block `blk`.
fn scatter_pixels(blk: u32) -> vec4<u32> {
    let per_row = scatter_blocks_per_row();
    let per_phase = p.n * scatter_rows_per_phase() * per_row;
    let phase = blk / per_phase;
    let rest = blk % per_phase;
    let y = phase / p.sw + ((rest / per_row) % scatter_rows_per_phase()) * p.sh;
    let nn = rest / (per_row * scatter_rows_per_phase());
    let q = rest % per_row;
    var pix = vec4<u32>(NO_PIXEL);
    if (phase >= p.sh * p.sw || y >= p.h_img) { return pix; }
    for (var j = 0u; j < 4u; j++) {
        let x = phase % p.sw + (4u * q + j) * p.sw;
        if (x < p.w_img) { pix[j] = (nn * p.h_img + y) * p.w_img + x; }
    }
    return pix;
}

// img[n, c0..c0+4, pix] from in0 = feature and in1 = W[c_feat, c_img, kh, kw]:
// img[n, c, iy, ix] = sum_{f, ky, kx} W[f, c, ky, kx] feat[n, f, oy, ox] where
// oy * sh = iy + pad_top - ky (and likewise for x). acc[i][j]: channel c0 + i, pixel pix[j].
fn scatter_block(c0: u32, pix_in: vec4<u32>) -> array<vec4<f32>, 4> {
    let hw_feat = p.h_feat * p.w_feat;
    let hw_img = p.h_img * p.w_img;
    let khw = p.kh * p.kw;
    var base: vec4<u32>;   // offset of (n, channel 0) on the feature side
    var ty0: vec4<i32>;
    var tx0: vec4<i32>;
    var present: vec4<bool>;
    for (var j = 0u; j < 4u; j++) {
        present[j] = pix_in[j] != NO_PIXEL;
        let pix = select(pix_in.x, pix_in[j], present[j]);   // absent: a valid stand-in
        let r = pix % hw_img;
        base[j] = (pix / hw_img) * p.c_feat * hw_feat;
        ty0[j] = i32(r / p.w_img) + i32(p.pad_top);
        tx0[j] = i32(r % p.w_img) + i32(p.pad_left);
    }
    var wcol: vec4<u32>;   // offset of W[0, c, 0, 0]
    for (var i = 0u; i < 4u; i++) { wcol[i] = min(c0 + i, p.c_img - 1u) * khw; }
    let wstride = p.c_img * khw;   // from W[f, c] to W[f + 1, c]
    var acc: array<vec4<f32>, 4>;
    for (var ky = 0u; ky < p.kh; ky++) {
        let ty = ty0.x - i32(ky);   // one row for the whole block
        let oy = ty / i32(p.sh);
        if (ty < 0 || oy * i32(p.sh) != ty || oy >= i32(p.h_feat)) { continue; }
        for (var kx = 0u; kx < p.kw; kx++) {
            var off: vec4<u32>;
            var valid: vec4<bool>;
            for (var j = 0u; j < 4u; j++) {
                let tx = tx0[j] - i32(kx);
                let ox = tx / i32(p.sw);
                valid[j] = present[j] && tx >= 0 && ox * i32(p.sw) == tx && ox < i32(p.w_feat);
                off[j] = base[j] + select(0u, u32(oy) * p.w_feat + u32(ox), valid[j]);
            }
            if (!any(valid)) { continue; }
            let k = ky * p.kw + kx;
            for (var f = 0u; f < p.c_feat; f++) {
                let fo = f * hw_feat;
                let gv = select(vec4<f32>(0.0), vec4<f32>(in0[off.x + fo], in0[off.y + fo], in0[off.z + fo], in0[off.w + fo]), valid);
                let wo = f * wstride + k;
                let wv = vec4<f32>(in1[wcol.x + wo], in1[wcol.y + wo], in1[wcol.z + wo], in1[wcol.w + wo]);
                acc[0] += wv.x * gv;
                acc[1] += wv.y * gv;
                acc[2] += wv.z * gv;
                acc[3] += wv.w * gv;
            }
        }
    }
    return acc;
}

// Store a scatter block: image-side NCHW with `p.c_img` channels.
fn store_scatter(c0: u32, pix: vec4<u32>, acc: array<vec4<f32>, 4>) {
    let hw = p.h_img * p.w_img;
    for (var i = 0u; i < 4u; i++) {
        let c = c0 + i;
        if (c >= p.c_img) { break; }
        for (var j = 0u; j < 4u; j++) {
            if (pix[j] != NO_PIXEL) {
                dst[((pix[j] / hw) * p.c_img + c) * hw + pix[j] % hw] = acc[i][j];
            }
        }
    }
}

// dW[f0..f0+4, q0..q0+4] with q = (c, ky, kx) flattened, from in0 = feature-side gradient
// and in1 = image: dW[f, c, ky, kx] = sum_{n, oy, ox} feat[n, f, oy, ox] img[n, c, oy*sh - pt + ky, ox*sw - pl + kx],
// with n restricted to the images of `split`.
fn filter_block(f0: u32, q0: u32, split: u32) -> array<vec4<f32>, 4> {
    let hw_feat = p.h_feat * p.w_feat;
    let hw_img = p.h_img * p.w_img;
    let khw = p.kh * p.kw;
    let nq = p.c_img * khw;
    var cbase: vec4<u32>;  // offset of channel c in an image
    var dy: vec4<i32>;
    var dx: vec4<i32>;
    for (var j = 0u; j < 4u; j++) {
        let q = min(q0 + j, nq - 1u);
        let k = q % khw;
        cbase[j] = (q / khw) * hw_img;
        dy[j] = i32(k / p.kw) - i32(p.pad_top);
        dx[j] = i32(k % p.kw) - i32(p.pad_left);
    }
    var frow: vec4<u32>;   // offset of channel f on the feature side
    for (var i = 0u; i < 4u; i++) { frow[i] = min(f0 + i, p.c_feat - 1u) * hw_feat; }
    var acc: array<vec4<f32>, 4>;
    let n_end = min((split + 1u) * p.images_per_split, p.n);
    for (var nn = split * p.images_per_split; nn < n_end; nn++) {
        let fb = nn * p.c_feat * hw_feat;
        let ib = nn * p.c_img * hw_img;
        for (var oy = 0u; oy < p.h_feat; oy++) {
            var iy: vec4<i32>;
            var row_ok: vec4<bool>;
            for (var j = 0u; j < 4u; j++) {
                iy[j] = i32(oy * p.sh) + dy[j];
                row_ok[j] = iy[j] >= 0 && iy[j] < i32(p.h_img);
            }
            for (var ox = 0u; ox < p.w_feat; ox++) {
                var off: vec4<u32>;
                var valid: vec4<bool>;
                for (var j = 0u; j < 4u; j++) {
                    let ix = i32(ox * p.sw) + dx[j];
                    valid[j] = row_ok[j] && ix >= 0 && ix < i32(p.w_img);
                    off[j] = ib + cbase[j] + select(0u, u32(iy[j]) * p.w_img + u32(ix), valid[j]);
                }
                let fo = fb + oy * p.w_feat + ox;
                let gv = vec4<f32>(in0[frow.x + fo], in0[frow.y + fo], in0[frow.z + fo], in0[frow.w + fo]);
                let xv = select(vec4<f32>(0.0), vec4<f32>(in1[off.x], in1[off.y], in1[off.z], in1[off.w]), valid);
                acc[0] += gv.x * xv;
                acc[1] += gv.y * xv;
                acc[2] += gv.z * xv;
                acc[3] += gv.w * xv;
            }
        }
    }
    return acc;
}

// Store a block of an NCHW tensor with `channels` channels of `hw` pixels.
fn store_nchw(c0: u32, p0: u32, acc: array<vec4<f32>, 4>, channels: u32, hw: u32) {
    let npix = p.n * hw;
    for (var i = 0u; i < 4u; i++) {
        let c = c0 + i;
        if (c >= channels) { break; }
        for (var j = 0u; j < 4u; j++) {
            let pix = p0 + j;
            if (pix < npix) {
                dst[((pix / hw) * channels + c) * hw + pix % hw] = acc[i][j];
            }
        }
    }
}

// acc[i] += bias[c0 + i] (clamped reads; rows past `channels` are never stored).
fn add_bias(c0: u32, acc: array<vec4<f32>, 4>, channels: u32) -> array<vec4<f32>, 4> {
    var out = acc;
    for (var i = 0u; i < 4u; i++) { out[i] += vec4<f32>(bias[min(c0 + i, channels - 1u)]); }
    return out;
}

// Partial dW of one split, at dst[split, f, q].
fn store_filter(f0: u32, q0: u32, split: u32, acc: array<vec4<f32>, 4>) {
    let nq = p.c_img * p.kh * p.kw;
    let base = split * p.c_feat * nq;
    for (var i = 0u; i < 4u; i++) {
        let f = f0 + i;
        if (f >= p.c_feat) { break; }
        for (var j = 0u; j < 4u; j++) {
            if (q0 + j < nq) { dst[base + f * nq + q0 + j] = acc[i][j]; }
        }
    }
}

// Partial db[chunk, ch]: the sum of g[n, ch, pixel] over one chunk of the (n, pixel)
// items, g = in0 with `channels` x `hw`.
fn bias_grad(ch: u32, chunk: u32, channels: u32, hw: u32) {
    let end = min((chunk + 1u) * p.items_per_chunk, p.n * hw);
    var acc = 0.0;
    for (var r = chunk * p.items_per_chunk; r < end; r++) {
        acc += in0[((r / hw) * channels + ch) * hw + r % hw];
    }
    dst[chunk * channels + ch] = acc;
}

// ---- conv2d: x on the image side, y on the feature side ----------------------------

// y = conv(x, W) + b.   in0 = x, in1 = W[c_feat, c_img, kh, kw], bias[c_feat]
@compute @workgroup_size(64)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f0 = gid.y * 4u;
    let p0 = gid.x * 4u;
    store_nchw(f0, p0, add_bias(f0, correlate_block(f0, p0), p.c_feat), p.c_feat, p.h_feat * p.w_feat);
}

// dx = conv^T(dy, W).   in0 = dy, in1 = W
@compute @workgroup_size(64)
fn conv2d_grad_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pix = scatter_pixels(gid.x);
    if (pix.x == NO_PIXEL) { return; }
    let c0 = gid.y * 4u;
    store_scatter(c0, pix, scatter_block(c0, pix));
}

// Partial dW[split = gid.z].   in0 = dy, in1 = x
@compute @workgroup_size(64)
fn conv2d_grad_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f0 = gid.y * 4u;
    let q0 = gid.x * 4u;
    store_filter(f0, q0, gid.z, filter_block(f0, q0, gid.z));
}

// Partial db[chunk = gid.y, c_feat].   in0 = dy
@compute @workgroup_size(64)
fn conv2d_grad_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.c_feat) { bias_grad(gid.x, gid.y, p.c_feat, p.h_feat * p.w_feat); }
}

// ---- conv_transpose2d: x on the feature side, y on the image side -------------------

// y = conv^T(x, W) + b.   in0 = x, in1 = W[c_feat (in), c_img (out), kh, kw], bias[c_img]
@compute @workgroup_size(64)
fn conv_transpose2d_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pix = scatter_pixels(gid.x);
    if (pix.x == NO_PIXEL) { return; }
    let c0 = gid.y * 4u;
    store_scatter(c0, pix, add_bias(c0, scatter_block(c0, pix), p.c_img));
}

// dx = conv(dy, W).   in0 = dy, in1 = W
@compute @workgroup_size(64)
fn conv_transpose2d_grad_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f0 = gid.y * 4u;
    let p0 = gid.x * 4u;
    store_nchw(f0, p0, correlate_block(f0, p0), p.c_feat, p.h_feat * p.w_feat);
}

// Partial dW[split = gid.z].   in0 = x (feature side), in1 = dy (image side)
@compute @workgroup_size(64)
fn conv_transpose2d_grad_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f0 = gid.y * 4u;
    let q0 = gid.x * 4u;
    store_filter(f0, q0, gid.z, filter_block(f0, q0, gid.z));
}

// Partial db[chunk = gid.y, c_img].   in0 = dy
@compute @workgroup_size(64)
fn conv_transpose2d_grad_bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.c_img) { bias_grad(gid.x, gid.y, p.c_img, p.h_img * p.w_img); }
}
