//! Batchnorm against the CPU reference in both modes, on single-item and vec4 elements.
//! Tolerance: |gpu - ref| <= 1e-4 |ref| + 1e-5 max|ref| (f32 against f64 sums).

mod common;

use common::{assert_close, gpu, max_abs};
use dcgan_inpaint::engine::gpu::Element;
use dcgan_inpaint::engine::ops::batchnorm::{self, BatchNorm};
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Gpu, Tensor};

fn close(g: &Gpu, what: &str, got: &Tensor, want: &[f32]) {
    assert_close(what, &got.to_vec(g), want, 1e-4, 1e-5 * max_abs(want));
}

#[test]
fn batchnorm_matches_reference_in_both_modes() {
    let g = gpu();
    let mut rng = Rng::new(77);
    for shape in [vec![3, 5, 4, 7], vec![1, 2, 1, 3], vec![4, 17], vec![2, 1, 19, 19], vec![5, 3, 1, 1]] {
        let (_, c, _) = batchnorm::layout(&shape);
        let n: usize = shape.iter().product();
        let x: Vec<f32> = rng.uniform_vec(n, -2.0, 3.0);
        let dy = rng.uniform_vec(n, -1.0, 1.0);
        let (gamma, beta) = (rng.uniform_vec(c, 0.5, 1.5), rng.uniform_vec(c, -0.5, 0.5));
        let (rm, rv) = (rng.uniform_vec(c, -0.5, 0.5), rng.uniform_vec(c, 0.5, 2.0));
        for train in [true, false] {
            let label = format!("shape {shape:?} train={train}");
            let bn = BatchNorm {
                gamma: Tensor::from_slice(g, &[c], &gamma),
                beta: Tensor::from_slice(g, &[c], &beta),
                running_mean: Tensor::from_slice(g, &[c], &rm),
                running_var: Tensor::from_slice(g, &[c], &rv),
                momentum: 0.1,
                eps: 1e-5,
            };
            let tx = Tensor::from_slice(g, &shape, &x);
            let tdy = Tensor::from_slice(g, &shape, &dy);
            let want = batchnorm::cpu::forward(&x, &shape, &gamma, &beta, &rm, &rv, 0.1, 1e-5, train);
            let ((y, stats), kernels) = g.trace_kernels(|| batchnorm::forward(g, &tx, &bn, train));
            // Planes of whole vec4s take the 4-items-per-invocation element, the rest single items.
            let element = if batchnorm::layout(&shape).2 % 4 == 0 { Element::Vec4F32 } else { Element::F32 };
            assert!(kernels.iter().all(|k| k.element == element), "{label}: {kernels:?}");
            assert!(kernels.iter().any(|k| k.entry == "batchnorm_forward"), "{label}: {kernels:?}");
            close(g, &format!("bn forward {label}"), &y, &want.y);
            close(g, &format!("bn running mean {label}"), &bn.running_mean, &want.running_mean);
            close(g, &format!("bn running var {label}"), &bn.running_var, &want.running_var);
            let (dx_want, dgamma_want, dbeta_want) = batchnorm::cpu::backward(&dy, &x, &shape, &gamma, &want.mean, &want.invstd, train);
            let (dgamma, dbeta) = batchnorm::grad_reduce(g, &tdy, &tx, &stats, &bn);
            close(g, &format!("bn dgamma {label}"), &dgamma, &dgamma_want);
            close(g, &format!("bn dbeta {label}"), &dbeta, &dbeta_want);
            let dx = if train {
                batchnorm::grad_input(g, &tdy, &tx, &stats, &bn, &dgamma, &dbeta)
            } else {
                batchnorm::eval_grad_input(g, &tdy, &stats, &bn)
            };
            close(g, &format!("bn dx {label}"), &dx, &dx_want);
        }
    }
}
