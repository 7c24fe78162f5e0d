//! The DCGAN of Radford et al. as carpedm20's DCGAN-tensorflow and Brandon Amos'
//! dcgan-completion build it, written in forward order: each line one layer.
//!
//! With `stages = log2(image_size) - 2` (4 for 64x64):
//!   G: z[B, z_dim] -> linear -> [B, gf*2^(stages-1), 4, 4] -> BN -> ReLU
//!        -> stages x (deconv k, stride 2, "SAME": size doubles, width halves -> BN -> ReLU),
//!           the last going to `channels` -> tanh                        => [B, c, s, s]
//!   D: x[B, c, s, s] -> stages x (conv k, stride 2, "SAME": size halves, width doubles,
//!        from df -> BN except after the first -> leaky-ReLU 0.2)
//!        -> flatten -> linear -> 1 logit                                => [B, 1]
//! Both nets are sized from the architecture alone (no hard-coded 8192).

pub mod encoder;
pub mod gan;
pub mod inpaint;
pub mod weights;

use crate::error::{Error, Result};
use crate::engine::gpu::{Gpu, Scope};
use crate::engine::ops::batchnorm::BatchNorm;
use crate::engine::ops::conv::{ConvGeometry, Padding};
use crate::engine::ops::linear::portable as linear;
use crate::rng::Rng;
use crate::engine::tape::Tape;
use crate::engine::tensor::Tensor;

/// The largest z_dim, gf or df accepted (from flags or weights metadata).
pub const MAX_WIDTH: usize = 1 << 16;

/// Everything that fixes the shapes of the two networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Architecture {
    pub image_size: usize,
    pub channels: usize,
    pub z_dim: usize,
    pub gf: usize,
    pub df: usize,
    pub kernel: usize,
}

impl Default for Architecture {
    fn default() -> Self {
        Architecture { image_size: 64, channels: 3, z_dim: 100, gf: 64, df: 64, kernel: 5 }
    }
}

impl Architecture {
    pub fn validate(&self) -> Result<()> {
        if !self.image_size.is_power_of_two() || !(16..=256).contains(&self.image_size) {
            return Err(Error::new(format!("image size must be a power of two from 16 to 256, got {}", self.image_size)));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(Error::new(format!("channels must be 1 (grayscale) or 3 (colour), got {}", self.channels)));
        }
        if self.z_dim == 0 || self.gf == 0 || self.df == 0 {
            return Err(Error::new("z_dim, gf and df must be positive"));
        }
        if !(2..=7).contains(&self.kernel) {
            return Err(Error::new(format!("kernel size must be 2..7 (5 = TensorFlow original, 4 = PyTorch example), got {}", self.kernel)));
        }
        // Bounds far above any DCGAN, so that sizes computed from them cannot overflow.
        if self.z_dim > MAX_WIDTH || self.gf > MAX_WIDTH || self.df > MAX_WIDTH {
            return Err(Error::new(format!("z_dim, gf and df must be at most {MAX_WIDTH}, got {}, {} and {}", self.z_dim, self.gf, self.df)));
        }
        Ok(())
    }

    /// The largest buffer a step (training, or a completion iteration) on a batch of `batch`
    /// images allocates, as (bytes, a description): activations, weights (their gradients
    /// and Adam moments have the same shapes), and the per-split partial sums of the
    /// convolution and linear products (each family says what its kernels need). `None`
    /// when the size does not even fit a `usize`. tests/engine.rs checks this against the
    /// largest buffer real steps ask the pool for.
    pub fn largest_tensor(&self, batch: usize) -> Option<(u64, String)> {
        let (s, c, k, stages) = (self.image_size, self.channels, self.kernel, self.stages());
        let base = self.g_base_channels();
        let items = |shape: &[usize]| shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let mut buffers: Vec<(Option<usize>, String)> = Vec::new();
        let mut tensor = |shape: Vec<usize>, what: &str| buffers.push((items(&shape), format!("{what} {shape:?}")));
        // G: z -> fc -> [B, base, 4, 4] -> deconvs -> [B, c, s, s]
        tensor(vec![batch, self.z_dim], "the latent");
        tensor(vec![base * 16, self.z_dim], "G's fc weight");
        for i in 1..=stages {
            let (c_in, c_out) = (base >> (i - 1), if i == stages { c } else { base >> i });
            let size_in = 4 << (i - 1);
            tensor(vec![batch, c_in, size_in, size_in], "G's activation");
            tensor(vec![c_in, c_out, k, k], "G's deconv weight");
        }
        tensor(vec![batch, c, s, s], "the image batch");
        // D: [B, c, s, s] -> convs -> [B, top, 4, 4] -> fc
        for i in 0..stages {
            let (c_in, c_out) = (if i == 0 { c } else { self.df << (i - 1) }, self.df << i);
            tensor(vec![batch, c_out, s >> (i + 1), s >> (i + 1)], "D's activation");
            tensor(vec![c_out, c_in, k, k], "D's conv weight");
        }
        tensor(vec![1, self.d_top_channels() * 16], "D's fc weight");
        // What the products need besides their operands and results, if the shapes are
        // addressable at all (then every factor below is too).
        if buffers.iter().all(|(n, _)| n.is_some()) {
            for i in 1..=stages {
                let (c_in, c_out) = (base >> (i - 1), if i == stages { c } else { base >> i });
                let size_in = 4 << (i - 1);
                let g = ConvGeometry::conv_transpose2d_same(&[batch, c_in, size_in, size_in], &[c_in, c_out, k, k], 2);
                buffers.push((Some(g.scratch_items()), "G's deconv partial sums".into()));
            }
            for i in 0..stages {
                let (c_in, c_out) = (if i == 0 { c } else { self.df << (i - 1) }, self.df << i);
                let size = s >> i;
                let g = ConvGeometry::conv2d(&[batch, c_in, size, size], &[c_out, c_in, k, k], 2, Padding::same(size, size, k, 2));
                buffers.push((Some(g.scratch_items()), "D's conv partial sums".into()));
            }
            buffers.push((Some(linear::scratch_items([batch, base * 16, self.z_dim])), "G's fc partial sums".into()));
            buffers.push((Some(linear::scratch_items([batch, 1, self.d_top_channels() * 16])), "D's fc partial sums".into()));
        }
        let mut largest: Option<(u64, String)> = None;
        for (n, what) in buffers {
            let bytes = (n? as u64).checked_mul(4)?;
            if largest.as_ref().is_none_or(|(b, _)| bytes > *b) {
                largest = Some((bytes, what));
            }
        }
        largest
    }

    /// `Ok` when every buffer of a step on `batch` images fits the adapter; otherwise an
    /// error that names the buffer and the fix: `batch_fix` (the flag that lowers the batch)
    /// when one image fits, else `model_fix` (the model itself is too large here).
    pub fn check_fits(&self, gpu: &Gpu, batch: usize, batch_fix: &str, model_fix: &str) -> Result<()> {
        let fits = |b: usize| match self.largest_tensor(b) {
            Some((bytes, what)) => gpu.check_fits(bytes, &what, ""),
            None => Err(Error::new(format!("a batch of {b} images of this model is too large to address"))),
        };
        if fits(1).is_err() {
            let e = fits(1).unwrap_err().to_string();
            return Err(Error::new(format!("{}; the model itself is too large for this adapter: {model_fix}", e.trim_end_matches("; "))));
        }
        fits(batch).map_err(|e| Error::new(format!("a batch of {batch}: {}; {batch_fix}", e.to_string().trim_end_matches("; "))))
    }

    /// Stride-2 layers in each net: 4x4 <-> image size.
    pub fn stages(&self) -> usize {
        self.image_size.trailing_zeros() as usize - 2
    }

    /// Channels of G's first 4x4 feature map.
    pub fn g_base_channels(&self) -> usize {
        self.gf << (self.stages() - 1)
    }

    /// Channels of D's last 4x4 feature map.
    pub fn d_top_channels(&self) -> usize {
        self.df << (self.stages() - 1)
    }

    pub fn to_json(&self) -> String {
        format!(
            "{{\"image_size\": {}, \"channels\": {}, \"z_dim\": {}, \"gf\": {}, \"df\": {}, \"kernel\": {}}}",
            self.image_size, self.channels, self.z_dim, self.gf, self.df, self.kernel
        )
    }

    pub fn from_json(text: &str) -> Result<Architecture> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::new(format!("architecture metadata is not JSON ({e}): {text}")))?;
        let field = |k: &str| -> Result<usize> {
            match v.get(k) {
                None => Err(Error::new(format!("architecture metadata lacks \"{k}\": {text}"))),
                Some(x) => x
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| Error::new(format!("architecture metadata \"{k}\" must be a whole number >= 0, got {x}: {text}"))),
            }
        };
        Ok(Architecture {
            image_size: field("image_size")?,
            channels: field("channels")?,
            z_dim: field("z_dim")?,
            gf: field("gf")?,
            df: field("df")?,
            kernel: field("kernel")?,
        })
    }

    /// How `self` (what was found) differs from `want`, for error messages.
    pub fn differences(&self, want: &Architecture) -> String {
        let pairs = [
            ("image_size", self.image_size, want.image_size),
            ("channels", self.channels, want.channels),
            ("z_dim", self.z_dim, want.z_dim),
            ("gf", self.gf, want.gf),
            ("df", self.df, want.df),
            ("kernel", self.kernel, want.kernel),
        ];
        pairs
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(k, a, b)| format!("{k} {a} (expected {b})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A weight and bias pair (linear or convolution).
#[derive(Clone, Debug)]
pub struct Layer {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Layer {
    /// Weights from N(0, 0.02), zero bias (DCGAN's initialisation).
    fn init(gpu: &Gpu, rng: &mut Rng, weight_shape: &[usize], bias_len: usize) -> Layer {
        let n = weight_shape.iter().product();
        Layer {
            weight: Tensor::from_slice(gpu, weight_shape, &rng.normal_vec(n, 0.0, 0.02)).with_grad(true),
            bias: Tensor::zeros(gpu, &[bias_len]).with_grad(true),
        }
    }
}

/// A parameter as seen by the forward pass: frozen views carry no gradient.
fn use_param(t: &Tensor, frozen: bool) -> Tensor {
    if frozen { t.view(t.shape()).with_grad(false) } else { t.clone() }
}

fn use_layer(l: &Layer, frozen: bool) -> Layer {
    Layer { weight: use_param(&l.weight, frozen), bias: use_param(&l.bias, frozen) }
}

fn use_bn(bn: &BatchNorm, frozen: bool) -> BatchNorm {
    BatchNorm { gamma: use_param(&bn.gamma, frozen), beta: use_param(&bn.beta, frozen), ..bn.clone() }
}

/// Named tensors in file order, with whether each is trained (running stats are not).
pub type Named = Vec<(String, Tensor, bool)>;

fn push_layer(out: &mut Named, name: &str, l: &Layer) {
    out.push((format!("{name}.weight"), l.weight.clone(), true));
    out.push((format!("{name}.bias"), l.bias.clone(), true));
}

fn push_bn(out: &mut Named, name: &str, bn: &BatchNorm) {
    out.push((format!("{name}.weight"), bn.gamma.clone(), true));
    out.push((format!("{name}.bias"), bn.beta.clone(), true));
    out.push((format!("{name}.running_mean"), bn.running_mean.clone(), false));
    out.push((format!("{name}.running_var"), bn.running_var.clone(), false));
}

pub struct Generator {
    pub arch: Architecture,
    /// z -> 4x4 feature map: weight [base*16, z_dim]
    pub fc: Layer,
    pub bn0: BatchNorm,
    /// deconv1..=stages: weight [in, out, k, k]
    pub deconvs: Vec<Layer>,
    /// bn1..stages-1, after each deconv but the last
    pub bns: Vec<BatchNorm>,
}

impl Generator {
    pub fn init(gpu: &Gpu, arch: &Architecture, rng: &mut Rng) -> Generator {
        let stages = arch.stages();
        let base = arch.g_base_channels();
        let fc = Layer::init(gpu, rng, &[base * 16, arch.z_dim], base * 16);
        let bn0 = BatchNorm::new(gpu, base);
        let mut deconvs = Vec::new();
        let mut bns = Vec::new();
        let mut c_in = base;
        for i in 1..=stages {
            let c_out = if i == stages { arch.channels } else { base >> i };
            deconvs.push(Layer::init(gpu, rng, &[c_in, c_out, arch.kernel, arch.kernel], c_out));
            if i < stages {
                bns.push(BatchNorm::new(gpu, c_out));
            }
            c_in = c_out;
        }
        Generator { arch: *arch, fc, bn0, deconvs, bns }
    }

    /// z [B, z_dim] -> images [B, c, s, s] in [-1, 1]. `train`: batch statistics in BN
    /// (and running-stat updates); `frozen`: no gradients to G's parameters.
    pub fn forward(&self, tape: &mut Tape, z: &Tensor, train: bool, frozen: bool) -> Tensor {
        self.forward_between(tape, z, 0, self.image_stage(), train, frozen)
    }

    /// Stages of G: stage 0 is z, stage 1 the first 4x4 feature map (after fc, BN, ReLU),
    /// stage k + 1 the output of deconv block k; this is the image's.
    pub fn image_stage(&self) -> usize {
        self.deconvs.len() + 1
    }

    /// Run G from the activation `h` at stage `from` up to stage `to` (intermediate-layer
    /// optimisation frees the activation of one stage and runs the rest from it).
    ///   stage 0 z[B, z_dim] -> 1 [B, base, 4, 4] -> 2 [B, base/2, 8, 8] -> ... -> [B, c, s, s]
    pub fn forward_between(&self, tape: &mut Tape, h: &Tensor, from: usize, to: usize, train: bool, frozen: bool) -> Tensor {
        let mut h = h.clone();
        if from == 0 && to > 0 {
            let _scope = Scope::enter("g.fc");
            let batch = h.shape()[0];
            let fc = use_layer(&self.fc, frozen);
            let x = tape.linear(&h, &fc.weight, Some(&fc.bias)); //             [B, base*16]
            let x = tape.reshape(&x, &[batch, self.arch.g_base_channels(), 4, 4]); // [B, base, 4, 4]
            let x = tape.batch_norm(&x, &use_bn(&self.bn0, frozen), train);
            h = tape.relu(&x);
        }
        for (i, layer) in self.deconvs.iter().enumerate().take(to.saturating_sub(1)).skip(from.saturating_sub(1)) {
            let _scope = Scope::enter(format_args!("g.deconv{}", i + 1));
            let l = use_layer(layer, frozen);
            let geometry = ConvGeometry::conv_transpose2d_same(h.shape(), l.weight.shape(), 2);
            h = tape.conv_transpose2d(&h, &l.weight, Some(&l.bias), geometry); // size x2, width /2
            h = match self.bns.get(i) {
                Some(bn) => {
                    let h = tape.batch_norm(&h, &use_bn(bn, frozen), train);
                    tape.relu(&h)
                }
                None => tape.tanh(&h), //                                       [B, c, s, s]
            };
        }
        h
    }

    /// Every tensor of the generator with its file name (`g.fc.weight`, ...).
    pub fn named(&self) -> Named {
        let mut out = Vec::new();
        push_layer(&mut out, "g.fc", &self.fc);
        push_bn(&mut out, "g.bn0", &self.bn0);
        for (i, l) in self.deconvs.iter().enumerate() {
            push_layer(&mut out, &format!("g.deconv{}", i + 1), l);
        }
        for (i, bn) in self.bns.iter().enumerate() {
            push_bn(&mut out, &format!("g.bn{}", i + 1), bn);
        }
        out
    }
}

pub struct Discriminator {
    pub arch: Architecture,
    /// conv0..stages-1: weight [out, in, k, k]
    pub convs: Vec<Layer>,
    /// bn1..stages-1, after each conv but the first
    pub bns: Vec<BatchNorm>,
    /// flatten -> 1 logit: weight [1, top*16]
    pub fc: Layer,
}

/// D's convolution stack, which the encoder shares: `stages` x (conv k, stride 2, "SAME"
/// -> BN except after the first -> leaky-ReLU 0.2), widths df, 2df, ..., top, from `c_in`
/// channels. Weights [out, in, k, k].
fn conv_stack_init(gpu: &Gpu, arch: &Architecture, c_in: usize, rng: &mut Rng) -> (Vec<Layer>, Vec<BatchNorm>) {
    let (mut convs, mut bns, mut c_in) = (Vec::new(), Vec::new(), c_in);
    for i in 0..arch.stages() {
        let c_out = arch.df << i;
        convs.push(Layer::init(gpu, rng, &[c_out, c_in, arch.kernel, arch.kernel], c_out));
        if i > 0 {
            bns.push(BatchNorm::new(gpu, c_out));
        }
        c_in = c_out;
    }
    (convs, bns)
}

/// x [B, c_in, s, s] through the stack -> features flattened C-order, NCHW [B, top*16].
/// `prefix` names the layers for the profiler ("d" -> d.conv0, ...); each layer's output
/// (after its activation) is pushed onto `taps` when given (the Lab's layer view).
fn conv_stack_forward(tape: &mut Tape, x: &Tensor, convs: &[Layer], bns: &[BatchNorm], arch: &Architecture, prefix: &str, train: bool, frozen: bool, mut taps: Option<&mut Vec<Tensor>>) -> Tensor {
    let batch = x.shape()[0];
    let mut h = x.clone();
    for (i, layer) in convs.iter().enumerate() {
        let _scope = Scope::enter(format_args!("{prefix}.conv{i}"));
        let l = use_layer(layer, frozen);
        let size = h.shape()[2];
        let pad = Padding::same(size, size, arch.kernel, 2);
        h = tape.conv2d(&h, &l.weight, Some(&l.bias), 2, pad); //                size /2, width x2
        if i > 0 {
            h = tape.batch_norm(&h, &use_bn(&bns[i - 1], frozen), train);
        }
        h = tape.leaky_relu(&h, 0.2);
        if let Some(taps) = taps.as_deref_mut() {
            taps.push(h.clone());
        }
    }
    tape.reshape(&h, &[batch, arch.d_top_channels() * 16]) //                   [B, top*16]
}

impl Discriminator {
    pub fn init(gpu: &Gpu, arch: &Architecture, rng: &mut Rng) -> Discriminator {
        let (convs, bns) = conv_stack_init(gpu, arch, arch.channels, rng);
        let fc = Layer::init(gpu, rng, &[1, arch.d_top_channels() * 16], 1);
        Discriminator { arch: *arch, convs, bns, fc }
    }

    /// images [B, c, s, s] -> logits [B, 1].
    pub fn forward(&self, tape: &mut Tape, x: &Tensor, train: bool, frozen: bool) -> Tensor {
        self.forward_with_taps(tape, x, train, frozen, None)
    }

    /// [`Discriminator::forward`], pushing each conv layer's output onto `taps`.
    pub fn forward_with_taps(&self, tape: &mut Tape, x: &Tensor, train: bool, frozen: bool, taps: Option<&mut Vec<Tensor>>) -> Tensor {
        let h = conv_stack_forward(tape, x, &self.convs, &self.bns, &self.arch, "d", train, frozen, taps);
        let _scope = Scope::enter("d.fc");
        let fc = use_layer(&self.fc, frozen);
        tape.linear(&h, &fc.weight, Some(&fc.bias)) //                            [B, 1]
    }

    /// Every tensor of the discriminator with its file name (`d.conv0.weight`, ...).
    pub fn named(&self) -> Named {
        let mut out = Vec::new();
        for (i, l) in self.convs.iter().enumerate() {
            push_layer(&mut out, &format!("d.conv{i}"), l);
        }
        for (i, bn) in self.bns.iter().enumerate() {
            push_bn(&mut out, &format!("d.bn{}", i + 1), bn);
        }
        push_layer(&mut out, "d.fc", &self.fc);
        out
    }
}

/// The trainable tensors of a `named` list, in order (for Adam).
pub fn trainable(named: &Named) -> Vec<Tensor> {
    named.iter().filter(|(_, _, trained)| *trained).map(|(_, t, _)| t.clone()).collect()
}
