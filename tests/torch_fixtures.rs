//! GPU kernels against numbers PyTorch wrote once (tools/torch_fixtures.py): every kernel
//! and every gradient of conv2d, conv_transpose2d and batchnorm. No Python needed here.
//! Tolerance: |gpu - torch| <= 1e-4 |torch| + 1e-5 max|torch|.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{assert_close, gpu, max_abs};
use dcgan_inpaint::{Gpu, Tensor};
use dcgan_inpaint::io::npy;
use dcgan_inpaint::engine::ops::batchnorm::{self, BatchNorm};
use dcgan_inpaint::engine::ops::conv::{self, ConvGeometry, Padding};

struct Case {
    dir: PathBuf,
    params: HashMap<String, Vec<String>>,
}

impl Case {
    fn tensor(&self, g: &Gpu, name: &str) -> Tensor {
        let (shape, data) = npy::read_f32(&self.dir.join(format!("{name}.npy"))).unwrap_or_else(|e| panic!("{e}"));
        Tensor::from_slice(g, &shape, &data)
    }
    fn expect(&self, g: &Gpu, what: &str, got: &Tensor, name: &str) {
        let (shape, want) = npy::read_f32(&self.dir.join(format!("{name}.npy"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.numel(), want.len(), "{}: {what} has shape {:?}, PyTorch {shape:?}", self.dir.display(), got.shape());
        let label = format!("[{} kernels] {} {what}", g.kernels.name, self.dir.display());
        assert_close(&label, &got.to_vec(g), &want, 1e-4, 1e-5 * max_abs(&want));
    }
    fn numbers(&self, key: &str) -> Vec<usize> {
        self.params[key].iter().map(|v| v.parse().unwrap()).collect()
    }
    fn padding(&self) -> Padding {
        let p = self.numbers("pad");
        Padding { top: p[0], left: p[1], bottom: p[2], right: p[3] }
    }
}

fn cases(family: &str) -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(family);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with tools/torch_fixtures.py)", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures under {}", root.display());
    dirs.into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("params.txt")).unwrap();
            let params = text
                .lines()
                .filter_map(|l| {
                    let mut words = l.split_whitespace().map(String::from);
                    Some((words.next()?, words.collect()))
                })
                .collect();
            Case { dir, params }
        })
        .collect()
}

kernel_set_tests! {
    fn conv2d_matches_pytorch(g: &Gpu) {
        for case in cases("conv2d") {
            let [x, w, b, dy] = ["x", "w", "b", "dy"].map(|name| case.tensor(g, name));
            let geo = ConvGeometry::conv2d(x.shape(), w.shape(), case.numbers("stride")[0], case.padding());
            case.expect(g, "forward", &conv::conv2d_forward(g, &x, &w, Some(&b), &geo), "y");
            case.expect(g, "grad_input", &conv::conv2d_grad_input(g, &dy, &w, &geo), "dx");
            case.expect(g, "grad_weight", &conv::conv2d_grad_weight(g, &dy, &x, &geo), "dw");
            case.expect(g, "grad_bias", &conv::conv2d_grad_bias(g, &dy, &geo), "db");
        }
    }
}

kernel_set_tests! {
    fn conv_transpose2d_matches_pytorch(g: &Gpu) {
        for case in cases("conv_transpose2d") {
            let [x, w, b, dy] = ["x", "w", "b", "dy"].map(|name| case.tensor(g, name));
            let out = case.numbers("out");
            let geo = ConvGeometry::conv_transpose2d(x.shape(), w.shape(), case.numbers("stride")[0], case.padding(), (out[0], out[1]));
            case.expect(g, "forward", &conv::conv_transpose2d_forward(g, &x, &w, Some(&b), &geo), "y");
            case.expect(g, "grad_input", &conv::conv_transpose2d_grad_input(g, &dy, &w, &geo), "dx");
            case.expect(g, "grad_weight", &conv::conv_transpose2d_grad_weight(g, &dy, &x, &geo), "dw");
            case.expect(g, "grad_bias", &conv::conv_transpose2d_grad_bias(g, &dy, &geo), "db");
        }
    }
}

#[test]
fn same_transpose_helper_reproduces_the_pytorch_same_cases() {
    for case in cases("conv_transpose2d").into_iter().filter(|c| c.dir.ends_with("k5_s2_same") || c.dir.ends_with("k5_s2_same_odd")) {
        let (x, w) = (case.tensor(gpu(), "x"), case.tensor(gpu(), "w"));
        let geo = ConvGeometry::conv_transpose2d_same(x.shape(), w.shape(), 2);
        assert_eq!(geo.pad, case.padding(), "{}", case.dir.display());
        assert_eq!(geo.img_shape()[2..], case.numbers("out")[..]);
    }
}

#[test]
fn batchnorm_matches_pytorch() {
    let g = gpu();
    for case in cases("batchnorm") {
        let train = case.numbers("train")[0] == 1;
        let bn = BatchNorm {
            gamma: case.tensor(g, "gamma"),
            beta: case.tensor(g, "beta"),
            running_mean: case.tensor(g, "running_mean"),
            running_var: case.tensor(g, "running_var"),
            momentum: case.params["momentum"][0].parse().unwrap(),
            eps: case.params["eps"][0].parse().unwrap(),
        };
        let (x, dy) = (case.tensor(g, "x"), case.tensor(g, "dy"));
        let (y, stats) = batchnorm::forward(g, &x, &bn, train);
        case.expect(g, "forward", &y, "y");
        case.expect(g, "running mean", &bn.running_mean, "running_mean_after");
        case.expect(g, "running var", &bn.running_var, "running_var_after");
        let (dgamma, dbeta) = batchnorm::grad_reduce(g, &dy, &x, &stats, &bn);
        case.expect(g, "dgamma", &dgamma, "dgamma");
        case.expect(g, "dbeta", &dbeta, "dbeta");
        let dx = if train {
            batchnorm::grad_input(g, &dy, &x, &stats, &bn, &dgamma, &dbeta)
        } else {
            batchnorm::eval_grad_input(g, &dy, &stats, &bn)
        };
        case.expect(g, "dx", &dx, "dx");
    }
}

/// One training step of the tiny model against PyTorch (tools/torch_fixtures.py
/// `training_step`): both losses and the gradient of every trainable D and G parameter,
/// compared tensor by tensor, through the same functions `train` runs.
fn whole_training_step(g: &Gpu) {
    use dcgan_inpaint::engine::ops::elementwise;
    use dcgan_inpaint::model::gan::{d_loss_and_gradients, g_loss_and_gradients};
    use dcgan_inpaint::model::Named;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = root.join("step");
    let load = |name: &str| -> (Vec<usize>, Vec<f32>) { npy::read_f32(&dir.join(format!("{name}.npy"))).unwrap_or_else(|e| panic!("{e}")) };
    let (generator, disc) = dcgan_inpaint::model::weights::load_gan(g, &root.join("model/tiny.safetensors")).expect("the tiny model");
    let ((rs, real), (zs, z)) = (load("real"), load("z"));
    let (real, z) = (Tensor::from_slice(g, &rs, &real), Tensor::from_slice(g, &zs, &z));
    let b = zs[0];
    let (ones, zeros) = (elementwise::full(g, &[b, 1], 1.0), Tensor::zeros(g, &[b, 1]));
    let label = |what: &str| format!("[{} kernels] training step: {what}", g.kernels.name);
    let check = |what: &str, got: &Tensor, name: &str| {
        let (shape, want) = load(name);
        assert_eq!(got.numel(), want.len(), "{what}: {:?} vs PyTorch {shape:?}", got.shape());
        // f32 against PyTorch's f64. A bias followed by a train-mode batchnorm has a true
        // gradient of exactly 0, which f32 sums leave at ~1e-7: hence the 1e-6 floor.
        assert_close(&label(what), &got.to_vec(g), &want, 1e-3, 1e-4 * max_abs(&want) + 1e-6);
    };

    // Every trainable parameter of `net` has the gradient PyTorch wrote; those of `frozen` none.
    let check_gradients = |grads: &dcgan_inpaint::Gradients, net: &Named, frozen: &Named, count: usize| {
        let params: Vec<_> = net.iter().filter(|(_, _, t)| *t).collect();
        assert_eq!(params.len(), count, "{:?}", params.iter().map(|p| &p.0).collect::<Vec<_>>());
        for (name, param, _) in params {
            let grad = grads.get(param).unwrap_or_else(|| panic!("{name} got no gradient"));
            check(name, grad, &format!("grad.{name}"));
        }
        for (name, param, _) in frozen.iter().filter(|(_, _, t)| *t) {
            assert!(grads.get(param).is_none(), "{name} is frozen in this step");
        }
    };

    let (d_loss, grads) = d_loss_and_gradients(&mut dcgan_inpaint::Tape::new(g), &generator, &disc, &real, &z, &ones, &zeros);
    check("d_loss", &d_loss, "d_loss");
    check_gradients(&grads, &disc.named(), &generator.named(), 8);
    let (g_loss, grads) = g_loss_and_gradients(&mut dcgan_inpaint::Tape::new(g), &generator, &disc, &z, &ones);
    check("g_loss", &g_loss, "g_loss");
    check_gradients(&grads, &generator.named(), &disc.named(), 10);
}

kernel_set_tests! {
    fn one_training_step_matches_pytorch(g: &Gpu) {
        whole_training_step(g);
    }
}
