//! The size check made before any work (`Architecture::check_fits`, which turns a model or a
//! batch too large for the adapter into an error naming the flag) must cover every buffer a
//! step really asks for: activations, weights and the products' partial sums. Here a
//! training step and a completion (z and ILO) run for models of several shapes and batches,
//! and the largest buffer the pool handed out is compared with the check's figure.

#[macro_use]
mod common;

use std::sync::atomic::AtomicBool;

use dcgan_inpaint::engine::ops::adam::AdamConfig;
use dcgan_inpaint::engine::ops::conv::{self, ConvGeometry, Padding};
use dcgan_inpaint::engine::ops::elementwise;
use dcgan_inpaint::inpaint::{self, Item, MaskKind, Settings, mask};
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::model::gan::{GanState, train_step, uniform_z};
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::Tensor;

fn shapes() -> Vec<Architecture> {
    let a = |image_size, channels, gf, df, kernel| Architecture { image_size, channels, z_dim: 8, gf, df, kernel };
    vec![a(16, 1, 8, 8, 4), a(16, 3, 4, 16, 5), a(32, 3, 16, 4, 3), a(32, 1, 2, 2, 7), a(64, 1, 4, 4, 4)]
}

kernel_set_tests! {
    fn the_size_check_covers_every_buffer_of_a_step(gpu: &Gpu) {
        let mut rng = Rng::new(5);
        for arch in shapes() {
            for batch in [1, 3, 9] {
                let (c, s) = (arch.channels, arch.image_size);
                let (checked, what) = arch.largest_tensor(batch).expect("addressable");
                gpu.pool().reset_peak();

                let mut state = GanState::new(gpu, &arch, 1, AdamConfig::dcgan());
                let real = Tensor::from_slice(gpu, &[batch, c, s, s], &rng.uniform_vec(batch * c * s * s, -1.0, 1.0));
                let z = Tensor::from_slice(gpu, &[batch, arch.z_dim], &uniform_z(&mut rng, batch, arch.z_dim));
                let ones = elementwise::full(gpu, &[batch, 1], 1.0);
                let zeros = Tensor::zeros(gpu, &[batch, 1]);
                let (d_loss, _) = train_step(gpu, &mut state, &real, &z, &ones, &zeros, 2);
                d_loss.to_vec(gpu);

                let items: Vec<Item> = (0..batch)
                    .map(|i| Item { name: format!("{i}"), image: rng.uniform_vec(c * s * s, -1.0, 1.0), mask: mask::make(&MaskKind::Center { scale: 0.25 }, s, 0, 0).unwrap() })
                    .collect();
                let settings = Settings { iters: 2, ilo_layers: 1, ilo_iters: 2, batch, frames_every: 1, ..Settings::default() };
                inpaint::complete(gpu, &state.g, &state.d, None, &items, None, &settings, &MaskKind::Center { scale: 0.25 }, &AtomicBool::new(false), |_| {}).unwrap();

                let largest = gpu.pool().stats().largest_buffer;
                assert!(largest <= checked, "{arch:?}, batch {batch}: a buffer of {largest} bytes, but the check allows {checked} ({what})");
            }
        }
    }
}

kernel_set_tests! {
    /// Where the weight gradient's partial sums are the largest buffer of all (a wide layer on
    /// a small map, a batch of several splits), `scratch_items` must still cover them.
    fn a_convolution_s_partial_sums_are_covered(gpu: &Gpu) {
        let mut rng = Rng::new(6);
        let (n, c_in, c_out, size, k) = (65, 96, 256, 16, 7);
        let x = Tensor::from_slice(gpu, &[n, c_in, size, size], &rng.uniform_vec(n * c_in * size * size, -1.0, 1.0));
        let g = ConvGeometry::conv2d(x.shape(), &[c_out, c_in, k, k], 2, Padding::same(size, size, k, 2));
        let dy = Tensor::from_slice(gpu, &g.feat_shape(), &rng.uniform_vec(g.feat_shape().iter().product(), -1.0, 1.0));
        let operands = [x.shape().iter().product::<usize>(), g.feat_shape().iter().product(), g.weight_shape().iter().product()];
        let covered = (operands.into_iter().max().unwrap().max(g.scratch_items()) * 4) as u64;
        assert!(g.scratch_items() > operands.into_iter().max().unwrap(), "this case must be one where the partial sums dominate");
        gpu.pool().reset_peak();
        conv::conv2d_grad_weight(gpu, &dy, &x, &g).to_vec(gpu);
        let largest = gpu.pool().stats().largest_buffer;
        assert!(largest <= covered, "the weight gradient asked for {largest} bytes; scratch_items covers {covered}");
    }
}
