//! Packing tensors into textures for the simd8 kernels, against the CPU reference; each
//! layout takes the kernel meant for it.

mod common;

use common::{assert_close, gpu};
use dcgan_inpaint::Tensor;
use dcgan_inpaint::engine::ops::pack::{self, PackLayout};
use dcgan_inpaint::rng::Rng;

#[test]
fn packing_into_textures_matches_reference() {
    let g = gpu();
    let mut rng = Rng::new(31);
    let shape = [3, 6, 5, 7];
    let x = rng.uniform_vec(shape.iter().product(), -1.0, 1.0);
    let t = Tensor::from_slice(g, &shape, &x);
    let w_shape = [5, 6, 3, 2];
    let w = rng.uniform_vec(w_shape.iter().product(), -1.0, 1.0);
    let tw = Tensor::from_slice(g, &w_shape, &w);
    // Rows of whole vec4s (w = 8) take the aligned kernel; the others one texel at a time.
    let aligned = [3, 7, 2, 8];
    let xa = rng.uniform_vec(aligned.iter().product(), -1.0, 1.0);
    let ta = Tensor::from_slice(g, &aligned, &xa);
    let layouts = [
        (PackLayout::images(shape, 0, 3, 2, 1, 9, 10), &t, &x, "pack_forward"), // padded on every side
        (PackLayout::images(shape, 1, 2, 0, 0, 5, 7), &t, &x, "pack_forward"),  // a chunk of the batch, no padding
        (PackLayout::images(aligned, 0, 3, 1, 3, 4, 13), &ta, &xa, "pack_forward_vec4"),
        (PackLayout::images(aligned, 2, 1, 0, 0, 2, 8), &ta, &xa, "pack_forward_vec4"),
        (PackLayout::weights(w_shape, false, 8), &tw, &w, "pack_forward"),
        (PackLayout::weights(w_shape, true, 6), &tw, &w, "pack_forward"),
    ];
    for (layout, tensor, data, kernel) in layouts {
        let (packed, kernels) = g.trace(|| pack::pack(g, tensor, &layout));
        assert_eq!(kernels, [kernel], "{layout:?}");
        assert_eq!((packed.width as usize, packed.height as usize), layout.texture_size());
        assert_close(&format!("pack {layout:?}"), &g.download_texture(&packed).expect("texture download"), &pack::cpu::pack(data, &layout), 0.0, 0.0);
    }
}
