//! The encoder that starts a completion's z: its forward and backward pass against finite
//! differences on every kernel set, its training command, and its weights loaded with the
//! generator's checks (names, shapes, finite values, variances).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{check_gradients_on, scratch};
use dcgan_inpaint::engine::ops::batchnorm::BatchNorm;
use dcgan_inpaint::io::weights;
use dcgan_inpaint::model::encoder::Encoder;
use dcgan_inpaint::model::{Architecture, Layer};
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Tape, Tensor};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// 16x16 grey images, 2 stages: conv0 [2, 2, 4, 4], conv1 [4, 2, 4, 4] + bn1, fc [3, 64].
const ARCH: Architecture = Architecture { image_size: 16, channels: 1, z_dim: 3, gf: 2, df: 2, kernel: 4 };

/// The smallest |pre-activation| of any leaky-ReLU in `e` on `x`: finite differences
/// straddle the kink when it is within their step.
fn nearest_kink(g: &dcgan_inpaint::Gpu, e: &Encoder, x: &Tensor, train: bool) -> f32 {
    let mut t = Tape::new(g);
    let (mut h, mut nearest) = (x.clone(), f32::MAX);
    for (i, l) in e.convs.iter().enumerate() {
        let pad = dcgan_inpaint::engine::ops::conv::Padding::same(h.shape()[2], h.shape()[2], ARCH.kernel, 2);
        h = t.conv2d(&h, &l.weight, Some(&l.bias), 2, pad);
        if i > 0 {
            h = t.batch_norm(&h, &e.bns[i - 1], train);
        }
        nearest = h.to_vec(g).iter().fold(nearest, |m, v| m.min(v.abs()));
        h = t.leaky_relu(&h, 0.2);
    }
    nearest
}

kernel_set_tests! {
    /// loss = sum(E(x) * r): gradients to the input and to every weight and bias, BN in
    /// training (batch statistics) and in eval mode (running statistics); on a draw whose
    /// pre-activations all stay clear of the leaky-ReLU kink.
    fn encoder_gradients_match_finite_differences(g: &Gpu) {
        for seed in 5..105 {
            let mut rng = Rng::new(seed);
            let template = Encoder::init(g, &ARCH, &mut rng);
            let x: Vec<f32> = rng.uniform_vec(2 * 2 * 16 * 16, -1.0, 1.0);
            let mut inputs = vec![(vec![2, 2, 16, 16], x)];
            for l in template.convs.iter().chain([&template.fc]) {
                inputs.push((l.weight.shape().to_vec(), rng.normal_vec(l.weight.numel(), 0.0, 0.3)));
                inputs.push((l.bias.shape().to_vec(), rng.normal_vec(l.bias.numel(), 0.0, 0.1)));
            }
            let r = rng.uniform_vec(2 * ARCH.z_dim, -1.0, 1.0);
            let build = |p: &[Tensor]| {
                let layer = |k: usize| Layer { weight: p[1 + 2 * k].clone(), bias: p[2 + 2 * k].clone() };
                let mut bn = BatchNorm::new(g, 4);
                bn.gamma = bn.gamma.with_grad(false);
                bn.beta = bn.beta.with_grad(false);
                Encoder { arch: ARCH, convs: vec![layer(0), layer(1)], bns: vec![bn], fc: layer(2) }
            };
            let plain: Vec<Tensor> = inputs.iter().map(|(shape, v)| Tensor::from_slice(g, shape, v)).collect();
            let e = build(&plain);
            if [false, true].iter().any(|&train| nearest_kink(g, &e, &plain[0], train) < 5e-3) {
                continue;
            }
            for train in [false, true] {
                let name = format!("[{} kernels] encoder (BN train={train}, seed {seed})", g.kernels.name);
                check_gradients_on(g, &name, &inputs, |t: &mut Tape, p: &[Tensor]| {
                    let z = build(p).forward(t, &p[0], train, false);
                    let rt = Tensor::from_slice(g, z.shape(), &r);
                    let zr = t.mul(&z, &rt);
                    t.sum(&zr)
                });
            }
            return;
        }
        panic!("seeds 5..105 all put a pre-activation within 5e-3 of the leaky-ReLU kink");
    }
}

/// The encoder's input: the known pixels (0 in the hole), then the mask, per image.
#[test]
fn the_encoder_sees_the_known_pixels_and_the_mask() {
    let (c, s) = (2, 2);
    let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
    let m = [1.0, 0.0, 0.0, 1.0];
    assert_eq!(Encoder::input(&y, &m, 1, c, s), [1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 0.0, 8.0, 1.0, 0.0, 0.0, 1.0]);
}

/// `train-encoder` on the tiny fixture model for a few steps: the written file holds G, D
/// and E, loads back, and says how E was trained.
fn trained_tiny(dir: &Path) -> PathBuf {
    let out = dir.join("with-encoder.safetensors");
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args(["train-encoder", "--weights", root().join("tests/fixtures/model/tiny.safetensors").to_str().unwrap()])
        .args(["--data", root().join("tests/fixtures/images").to_str().unwrap(), "--steps", "3", "--batch", "4"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn train_encoder_writes_weights_that_load_with_the_same_checks_as_the_generators() {
    let g = common::gpu();
    let dir = scratch("encoder-weights");
    let path = trained_tiny(&dir);
    let file = weights::read(&path).unwrap();
    assert!(file.tensors.contains_key("g.fc.weight") && file.tensors.contains_key("d.fc.weight"), "G and D are kept");
    assert_eq!(file.tensors["e.fc.weight"].0, [8, 4 * 2 * 16]); // [z_dim, top * 16]
    assert_eq!(file.tensors["e.conv0.weight"].0, [4, 4, 5, 5]); // reads c + 1 = 4 channels
    let about: serde_json::Value = serde_json::from_str(file.meta("encoder").unwrap()).unwrap();
    assert_eq!(about["steps"], 3);
    assert!(dcgan_inpaint::model::weights::load_encoder(g, &path).unwrap().is_some());
    // Weights without an encoder have none (and complete starts z at random).
    assert!(dcgan_inpaint::model::weights::load_encoder(g, &root().join("tests/fixtures/model/tiny.safetensors")).unwrap().is_none());

    // Damaged copies: each refused with the tensor named.
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = file.tensors.iter().map(|(n, (s, v))| (n.clone(), s.clone(), v.clone())).collect();
    let damaged = |name: &str, change: &dyn Fn(&mut (String, Vec<usize>, Vec<f32>)) -> bool, f16: bool| {
        let mut t = tensors.clone();
        t.retain_mut(|x| x.0 != name || change(x));
        let p = dir.join(format!("damaged-{}.safetensors", name.replace('.', "-")));
        weights::write(&p, &t, file.metadata.clone(), f16).unwrap();
        dcgan_inpaint::model::weights::load_encoder(g, &p).err().unwrap_or_else(|| panic!("{name}: a damaged encoder loaded")).to_string()
    };
    let e = damaged("e.conv1.weight", &|_| false, false);
    assert!(e.contains("e.conv1.weight is missing"), "{e}");
    let e = damaged("e.fc.weight", &|x| { x.1 = vec![8, 2, 64]; true }, false);
    assert!(e.contains("e.fc.weight has shape [8, 2, 64]"), "{e}");
    let e = damaged("e.bn1.running_var", &|x| { x.2[0] = -1.0; true }, false);
    assert!(e.contains("e.bn1.running_var holds the variance -1"), "{e}");
    let e = damaged("e.conv0.bias", &|x| { x.2[1] = f32::NAN; true }, false);
    assert!(e.contains("e.conv0.bias holds NaN"), "{e}");
}

/// The output is never the input, and a bad batch is refused before any work.
#[test]
fn train_encoder_refuses_to_overwrite_its_input_and_a_batch_of_one() {
    let dir = scratch("encoder-refusals");
    let input = dir.join("tiny.safetensors");
    std::fs::copy(root().join("tests/fixtures/model/tiny.safetensors"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    for (out, batch, want) in [(&input, "4", "is an input of this command"), (&dir.join("new.safetensors"), "1", "--batch must be at least 2")] {
        let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
            .args(["train-encoder", "--weights", input.to_str().unwrap(), "--data", root().join("tests/fixtures/images").to_str().unwrap()])
            .args(["--steps", "1", "--batch", batch, "--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{err}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input weights are untouched");
}
