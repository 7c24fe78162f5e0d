//! Engine guarantees: buffers are reused across steps, a step is one submission, frozen
//! parameters cost no gradient kernels, and bad adapter choices give clear errors.

#[macro_use]
mod common;

use dcgan_inpaint::engine::gpu::{AdapterChoice, Kernel, arg};
use dcgan_inpaint::engine::variants;
use dcgan_inpaint::engine::ops::adam::AdamConfig;
use dcgan_inpaint::engine::optim::Adam;
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Gpu, Tape, Tensor};

struct Mlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Mlp {
    fn new(gpu: &Gpu, trainable: bool) -> Mlp {
        let mut rng = Rng::new(7);
        let mut p = |shape: &[usize]| {
            let n = shape.iter().product();
            Tensor::from_slice(gpu, shape, &rng.normal_vec(n, 0.0, 0.3)).with_grad(trainable)
        };
        Mlp { w1: p(&[16, 8]), b1: p(&[16]), w2: p(&[1, 16]), b2: p(&[1]) }
    }

    fn params(&self) -> [&Tensor; 4] {
        [&self.w1, &self.b1, &self.w2, &self.b2]
    }

    /// linear -> leaky-ReLU -> linear -> sigmoid CE
    fn loss(&self, tape: &mut Tape, x: &Tensor, targets: &Tensor) -> Tensor {
        let h = tape.linear(x, &self.w1, Some(&self.b1));
        let a = tape.leaky_relu(&h, 0.2);
        let logits = tape.linear(&a, &self.w2, Some(&self.b2));
        tape.sigmoid_cross_entropy(&logits, targets)
    }
}

fn batch(gpu: &Gpu) -> (Tensor, Tensor) {
    let mut rng = Rng::new(8);
    let x = rng.uniform_vec(32 * 8, -1.0, 1.0);
    let y: Vec<f32> = (0..32).map(|i| if x[i * 8] + x[i * 8 + 1] > 0.0 { 1.0 } else { 0.0 }).collect();
    (Tensor::from_slice(gpu, &[32, 8], &x), Tensor::from_slice(gpu, &[32, 1], &y))
}

kernel_set_tests! {
    fn a_repeated_training_step_allocates_nothing_and_submits_once(shared: &Gpu) {
        // A device of its own, so other tests' buffers do not enter the counts.
        let choice = AdapterChoice { kernels: Some(shared.kernels.name.into()), ..AdapterChoice::default() };
        repeated_step_allocates_nothing(Gpu::new(&choice).expect("the adapter the shared device runs on"));
    }
    fn backward_to_the_input_of_a_frozen_network_runs_no_weight_gradients(gpu: &Gpu) {
        frozen_backward(gpu);
    }
}

fn repeated_step_allocates_nothing(gpu: Gpu) {
    let net = Mlp::new(&gpu, true);
    let (x, targets) = batch(&gpu);
    let mut adam = Adam::new(&gpu, AdamConfig { lr: 0.05, ..AdamConfig::dcgan() }, &net.params());
    gpu.flush();
    let loss_now = || {
        let mut tape = Tape::new(&gpu);
        net.loss(&mut tape, &x, &targets).to_vec(&gpu)[0]
    };
    // One whole step, then the loss read back as a training loop does; nothing it creates
    // outlives it.
    let step = |adam: &mut Adam| {
        let mut tape = Tape::new(&gpu);
        let loss = net.loss(&mut tape, &x, &targets);
        let grads = tape.backward(&loss);
        adam.step(&gpu, &net.params(), &grads);
        gpu.flush();
        assert!(loss.to_vec(&gpu)[0].is_finite());
    };
    let first_loss = loss_now();
    step(&mut adam); // warm-up: fills the pool and the caches
    let warm = (gpu.pool().stats(), gpu.stats());
    for _ in 0..5 {
        step(&mut adam);
    }
    let after = (gpu.pool().stats(), gpu.stats());
    assert_eq!(after.0.buffers_created, warm.0.buffers_created, "steps after the first created buffers");
    assert_eq!(after.1.bind_groups_created, warm.1.bind_groups_created, "steps after the first created bind groups");
    assert_eq!(after.1.staging_buffers_created, warm.1.staging_buffers_created, "reading the loss back created buffers");
    assert_eq!(after.1.submissions - warm.1.submissions, 5 * 2, "each step must be one submission (plus one for the loss readback)");
    assert!(after.1.dispatches - warm.1.dispatches >= 5 * 10, "the steps recorded too few kernels");
    let last_loss = loss_now();
    assert!(last_loss.is_finite() && last_loss < first_loss, "loss went from {first_loss} to {last_loss}");
}

fn frozen_backward(gpu: &Gpu) {
    // Linear layers run as 1x1 convolutions on the simd8 and tiled sets (ops::linear::as_conv).
    let (input_kernel, weight_kernel) = match gpu.kernels.name {
        "portable" => ("linear_grad_input", "linear_grad_weight"),
        _ => ("conv2d_grad_input", "conv2d_grad_weight"),
    };
    let net = Mlp::new(gpu, false);
    let (x, targets) = batch(gpu);
    let x = x.with_grad(true);
    let mut tape = Tape::new(gpu);
    let loss = net.loss(&mut tape, &x, &targets);
    let (grads, kernels) = gpu.trace(|| tape.backward(&loss));
    assert!(!kernels.is_empty());
    assert!(kernels.contains(&input_kernel), "kernels run: {kernels:?}");
    let weight_kernels: Vec<_> = kernels.iter().filter(|k| k.contains("grad_weight") || k.contains("grad_bias")).collect();
    assert!(weight_kernels.is_empty(), "frozen parameters got gradient kernels: {weight_kernels:?}");
    assert!(grads.get(&x).is_some());
    for p in net.params() {
        assert!(grads.get(p).is_none());
    }

    // The registry ran every product on the device's own set.
    let mut tape = Tape::new(gpu);
    let loss = net.loss(&mut tape, &x, &targets);
    let (_, ran) = gpu.trace_variants(|| tape.backward(&loss));
    assert!(!ran.is_empty() && ran.iter().all(|&r| r == ("linear_grad_input", gpu.kernels.name)), "{ran:?}");

    // And the same network with trainable weights does run them (the check above can fail).
    let trainable = Mlp::new(gpu, true);
    let mut tape = Tape::new(gpu);
    let loss = trainable.loss(&mut tape, &x, &targets);
    let (_, kernels) = gpu.trace(|| tape.backward(&loss));
    assert!(kernels.contains(&weight_kernel) && kernels.contains(&"linear_grad_bias"), "{kernels:?}");
}

#[test]
fn inference_with_nothing_trainable_records_nothing() {
    let gpu = common::gpu();
    let net = Mlp::new(gpu, false);
    let (x, targets) = batch(gpu);
    let mut tape = Tape::new(gpu);
    let loss = net.loss(&mut tape, &x, &targets);
    assert!(tape.is_empty());
    assert!(!loss.requires_grad());
    assert!(loss.to_vec(gpu)[0].is_finite());
}

#[test]
fn an_unknown_adapter_name_is_a_clear_error() {
    let choice = AdapterChoice { adapter: Some("no-such-adapter-xyz".into()), ..Default::default() };
    let err = Gpu::new(&choice).err().expect("must fail").to_string();
    assert!(err.contains("no-such-adapter-xyz") && err.contains("Adapters seen"), "{err}");
}

#[test]
fn an_unknown_backend_is_a_clear_error() {
    let choice = AdapterChoice { backend: Some("glide".into()), ..Default::default() };
    let err = Gpu::new(&choice).err().expect("must fail").to_string();
    assert!(err.contains("unknown backend 'glide'"), "{err}");
}

#[test]
fn an_unknown_kernel_set_is_a_clear_error_and_portable_runs_anywhere() {
    let choice = AdapterChoice { kernels: Some("fastest".into()), ..Default::default() };
    let err = Gpu::new(&choice).err().expect("must fail").to_string();
    assert!(err.contains("unknown kernel set 'fastest'") && err.contains(&variants::names()), "{err}");
    assert_eq!(variants::names(), "auto, simd8, tiled64, tiled128, tiled32, portable");
    let portable = Gpu::new(&AdapterChoice { kernels: Some("portable".into()), ..Default::default() }).unwrap();
    assert_eq!(portable.kernels, &variants::PORTABLE);
}

#[test]
fn the_compile_time_kernel_set_names_are_the_registry() {
    let registry: Vec<&str> = variants::KERNEL_SETS.iter().map(|s| s.name).collect();
    let mut named = Vec::new();
    macro_rules! collect {
        ($set:ident) => {
            named.push(stringify!($set));
        };
    }
    dcgan_inpaint::for_each_kernel_set!(collect);
    assert_eq!(named, registry, "for_each_kernel_set! (src/engine/variants.rs), which makes the per-set tests, must list KERNEL_SETS in order");
}

dcgan_inpaint::kernel_params! {
    /// elementwise.wgsl's Params with two members swapped.
    pub struct SwappedParams { n: u32, beta: f32, alpha: f32 }
}

dcgan_inpaint::kernel_params! {
    /// elementwise.wgsl's Params as they are.
    pub struct RightParams { n: u32, alpha: f32, beta: f32 }
}

/// A swapped or unknown binding name, or params whose members differ from the WGSL struct,
/// stop the dispatch with a message naming both sides, instead of computing a wrong number.
#[test]
fn swapped_bindings_and_params_are_errors() {
    let gpu = common::gpu();
    let kernel = Kernel::new(dcgan_inpaint::family!("elementwise.wgsl"), "add_forward");
    let (a, out) = (Tensor::from_slice(gpu, &[4], &[1.0; 4]), Tensor::zeros(gpu, &[4]));
    let right = RightParams { n: 4, alpha: 0.0, beta: 0.0 };
    let run = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err().map(|e| {
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    });
    let err = run(&|| gpu.dispatch(kernel, &SwappedParams { n: 4, beta: 0.0, alpha: 0.0 }, &[arg("dst", &out), arg("a", &a), arg("b", &a)], [1, 1, 1]));
    assert!(err.as_deref().is_some_and(|e| e.contains("SwappedParams") && e.contains("\"alpha\"")), "{err:?}");
    let err = run(&|| gpu.dispatch(kernel, &right, &[arg("dst", &out), arg("a", &a), arg("c", &a)], [1, 1, 1]));
    assert!(err.as_deref().is_some_and(|e| e.contains("no binding `c`")), "{err:?}");
    let err = run(&|| gpu.dispatch(kernel, &right, &[arg("dst", &out), arg("a", &a)], [1, 1, 1]));
    assert!(err.as_deref().is_some_and(|e| e.contains("binding `b`")), "{err:?}");
    // The right call goes through (so the checks above can pass only by failing).
    gpu.dispatch(kernel.with_element(dcgan_inpaint::engine::gpu::Element::Vec4F32), &right, &[arg("dst", &out), arg("a", &a), arg("b", &a)], [1, 1, 1]);
    assert_eq!(out.to_vec(gpu), vec![2.0; 4]);
}

#[test]
fn profile_attributes_every_dispatch_to_its_kernel() {
    let gpu = common::gpu();
    let a = Tensor::from_slice(gpu, &[1000], &vec![1.0; 1000]);
    let ((), profile) = gpu.profile(|| {
        let b = dcgan_inpaint::engine::ops::elementwise::add(gpu, &a, &a);
        let c = dcgan_inpaint::engine::ops::elementwise::scale(gpu, &b, 2.0);
        dcgan_inpaint::engine::ops::elementwise::add(gpu, &c, &a);
    });
    let counts: Vec<(&str, usize)> = profile.iter().map(|k| (k.entry, k.dispatches)).collect();
    assert_eq!(profile.len(), 2, "{counts:?}");
    assert!(counts.contains(&("add_forward", 2)) && counts.contains(&("scale_forward", 1)), "{counts:?}");
    assert!(profile.iter().all(|k| k.seconds > 0.0));
    assert!(profile.windows(2).all(|w| w[0].seconds >= w[1].seconds), "most time first");
}
