//! What the Lab shows besides losses and samples, all computed on the worker:
//!   - the architecture as a table (layer, output shape, parameters, FLOPs);
//!   - the layer view: for one z, G's activations stage by stage, D's activations for a
//!     real and a generated image, and D's first-layer filters, as 8-bit maps;
//!   - per-layer weight and gradient norms of a step;
//!   - the kernel view: one step's dispatches grouped by (layer, pass, op), with their
//!     time, GFLOP/s and kernel set (`Gpu::profile_dispatches`).

use crate::engine::gpu::{DispatchProfile, Gpu};
use crate::engine::tape::{Gradients, Tape};
use crate::engine::tensor::Tensor;
use crate::error::Result;
use crate::model::{Architecture, Discriminator, Generator};

/// One row of the architecture table (batch 1, forward).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerRow {
    /// "G" or "D".
    pub net: &'static str,
    /// The name its tensors carry in weight files and the profiler's scopes (`g.deconv1`).
    pub layer: String,
    /// What it computes, in words.
    pub op: String,
    /// [channels, height, width], or [features].
    pub output: Vec<usize>,
    /// Trained parameters (weights, biases, batchnorm scale and shift).
    pub params: usize,
    /// 2 x multiply-accumulates of its linear or convolution product, one image.
    pub flops: u64,
}

/// The architecture table: G from z to the image, then D from the image to its logit.
pub fn layer_table(arch: &Architecture) -> Vec<LayerRow> {
    let (k, stages) = (arch.kernel, arch.stages());
    let base = arch.g_base_channels();
    let mut rows = vec![LayerRow {
        net: "G",
        layer: "g.fc".into(),
        op: format!("linear {} -> {}, reshape, batchnorm, ReLU", arch.z_dim, base * 16),
        output: vec![base, 4, 4],
        params: arch.z_dim * base * 16 + base * 16 + 2 * base,
        flops: 2 * (arch.z_dim * base * 16) as u64,
    }];
    let (mut c_in, mut size) = (base, 4);
    for i in 1..=stages {
        let c_out = if i == stages { arch.channels } else { base >> i };
        let last = i == stages;
        rows.push(LayerRow {
            net: "G",
            layer: format!("g.deconv{i}"),
            op: format!("conv-transpose {k}x{k} stride 2, {}", if last { "tanh" } else { "batchnorm, ReLU" }),
            output: vec![c_out, size * 2, size * 2],
            params: c_in * c_out * k * k + c_out + if last { 0 } else { 2 * c_out },
            // Each input pixel scatters a k x k patch to every output channel.
            flops: 2 * (c_in * size * size * c_out * k * k) as u64,
        });
        (c_in, size) = (c_out, size * 2);
    }
    let (mut c_in, mut size) = (arch.channels, arch.image_size);
    for i in 0..stages {
        let c_out = arch.df << i;
        size /= 2;
        rows.push(LayerRow {
            net: "D",
            layer: format!("d.conv{i}"),
            op: format!("conv {k}x{k} stride 2, {}leaky ReLU 0.2", if i > 0 { "batchnorm, " } else { "" }),
            output: vec![c_out, size, size],
            params: c_out * c_in * k * k + c_out + if i > 0 { 2 * c_out } else { 0 },
            flops: 2 * (c_out * size * size * c_in * k * k) as u64,
        });
        c_in = c_out;
    }
    let top = arch.d_top_channels() * 16;
    rows.push(LayerRow { net: "D", layer: "d.fc".into(), op: format!("flatten, linear {top} -> 1 (the logit)"), output: vec![1], params: top + 1, flops: 2 * top as u64 });
    rows
}

/// A stack of 2-D maps, each scaled to 0..=255 on its own (so a quiet map still shows its
/// pattern; `range` keeps what the scaling hid).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Maps {
    pub layer: String,
    /// What the maps are ("G(z) stage 2", "D on the real image", ...).
    pub title: String,
    pub height: usize,
    pub width: usize,
    /// Colour maps (3 channels each, for filters of an RGB model): `maps` holds RGB triples.
    pub rgb: bool,
    pub maps: Vec<Vec<u8>>,
    /// The smallest and largest value over all maps, before scaling.
    pub range: [f32; 2],
}

fn scaled(values: &[f32], symmetric: bool) -> Vec<u8> {
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    // Filters: zero stays mid-grey, so sign reads as dark / light.
    let (lo, hi) = if symmetric { let m = lo.abs().max(hi.abs()); (-m, m) } else { (lo, hi) };
    let span = if hi > lo { hi - lo } else { 1.0 };
    values.iter().map(|&v| (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8).collect()
}

fn range(values: &[f32]) -> [f32; 2] {
    values.iter().fold([f32::INFINITY, f32::NEG_INFINITY], |[lo, hi], &v| [lo.min(v), hi.max(v)])
}

/// Image `n` of a [B, C, H, W] read-back as C maps.
fn maps_of(layer: &str, title: String, values: &[f32], shape: &[usize], n: usize) -> Maps {
    let (c, h, w) = (shape[1], shape[2], shape[3]);
    let image = &values[n * c * h * w..(n + 1) * c * h * w];
    let maps = image.chunks(h * w).map(|m| scaled(m, false)).collect();
    Maps { layer: layer.to_string(), title, height: h, width: w, rgb: false, maps, range: range(image) }
}

/// The layer view of one z.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LayerView {
    pub step: u64,
    /// Which z of the sample grid (0-based, row-major).
    pub z: usize,
    /// G's stages, 4x4 up to the image.
    pub generator: Vec<Maps>,
    /// D's conv layers on the real image, then on G(z).
    pub real: Vec<Maps>,
    pub fake: Vec<Maps>,
    /// D's probability that each is real.
    pub d_real: f32,
    pub d_fake: f32,
    /// D's first-layer filters.
    pub filters: Option<Maps>,
}

/// G's activations for `z` ([1, z_dim]) stage by stage, D's for `real` (one image, [c, s, s])
/// and G(z), and D's first filters; batchnorm in eval mode (its running statistics).
pub fn layer_view(gpu: &Gpu, g: &Generator, d: &Discriminator, z: &Tensor, real: &[f32], step: u64, which: usize) -> Result<LayerView> {
    let mut tape = Tape::new(gpu);
    let mut stages = Vec::new();
    let mut h = z.clone();
    for stage in 1..=g.image_stage() {
        h = g.forward_between(&mut tape, &h, stage - 1, stage, false, true);
        stages.push(h.clone());
    }
    // D on each image alone: batchnorm in eval mode makes that the same as on the pair.
    let real_t = Tensor::from_slice(gpu, h.shape(), real);
    let (mut taps_real, mut taps_fake) = (Vec::new(), Vec::new());
    let logit_real = d.forward_with_taps(&mut tape, &real_t, false, true, Some(&mut taps_real));
    let logit_fake = d.forward_with_taps(&mut tape, &h, false, true, Some(&mut taps_fake));
    let w = &d.convs[0].weight;
    // Everything in one read.
    let wanted: Vec<&Tensor> = stages.iter().chain(&taps_real).chain(&taps_fake).chain([&logit_real, &logit_fake, w]).collect();
    let mut values = Tensor::read_many(gpu, &wanted)?.into_iter();
    let mut next = || values.next().unwrap_or_default();
    let generator = stages.iter().enumerate().map(|(k, t)| {
        let stage = k + 1;
        let layer = if stage == 1 { "g.fc".to_string() } else { format!("g.deconv{}", stage - 1) };
        let title = if stage == g.image_stage() { "G(z): the image".to_string() } else { format!("G stage {stage}") };
        maps_of(&layer, title, &next(), t.shape(), 0)
    }).collect();
    let mut on = |taps: &[Tensor], what: &str| -> Vec<Maps> {
        taps.iter().enumerate().map(|(i, t)| {
            let layer = format!("d.conv{i}");
            maps_of(&layer, format!("D {layer} on {what}"), &next(), t.shape(), 0)
        }).collect()
    };
    let (on_real, on_fake) = (on(&taps_real, "the real image"), on(&taps_fake, "G(z)"));
    let (logit_real, logit_fake, weights) = (next(), next(), next());
    let sigmoid = |l: f32| 1.0 / (1.0 + (-l).exp());
    let (out, c, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let filters = weights.chunks(c * kh * kw).map(|f| {
        let f = scaled(f, true);
        // [c, kh, kw] -> pixels of c values (grey, or RGB triples).
        (0..kh * kw).flat_map(|p| (0..c).map(move |ch| (ch, p))).map(|(ch, p)| f[ch * kh * kw + p]).collect()
    }).collect::<Vec<Vec<u8>>>();
    let filters = Maps { layer: "d.conv0".into(), title: format!("D's {out} first-layer filters"), height: kh, width: kw, rgb: c == 3, maps: filters, range: range(&weights) };
    Ok(LayerView { step, z: which, generator, real: on_real, fake: on_fake, d_real: sigmoid(logit_real[0]), d_fake: sigmoid(logit_fake[0]), filters: Some(filters) })
}

/// Weight and gradient norms of every layer at one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NormRow {
    pub step: u64,
    /// In the order of `Norms::layers`: the L2 norm of a layer's trained tensors together.
    pub weights: Vec<f32>,
    /// The L2 norm of the gradients its update applied (D's from the D update, G's from
    /// the last G update).
    pub grads: Vec<f32>,
}

/// A layer's name from its tensor's (`g.deconv1.weight` -> `g.deconv1`).
fn layer_of(tensor: &str) -> &str {
    tensor.rsplit_once('.').map_or(tensor, |(layer, _)| layer)
}

/// Layers with trained tensors, in file order (G's, then D's).
pub fn norm_layers(g: &Generator, d: &Discriminator) -> Vec<String> {
    let mut layers: Vec<String> = Vec::new();
    for (name, _, trained) in g.named().into_iter().chain(d.named()) {
        let layer = layer_of(&name);
        if trained && !layers.iter().any(|l| l == layer) {
            layers.push(layer.to_string());
        }
    }
    layers
}

pub fn norms(gpu: &Gpu, g: &Generator, d: &Discriminator, g_grads: &Gradients, d_grads: &Gradients, step: u64) -> Result<NormRow> {
    let layers = norm_layers(g, d);
    let (mut weights, mut grads) = (vec![0f64; layers.len()], vec![0f64; layers.len()]);
    // (layer, is a gradient, tensor) for every trained tensor and its gradient: one read.
    let mut wanted: Vec<(usize, bool, Tensor)> = Vec::new();
    for (named, got) in [(g.named(), g_grads), (d.named(), d_grads)] {
        for (name, t, _) in named.into_iter().filter(|(_, _, trained)| *trained) {
            let Some(k) = layers.iter().position(|l| l == layer_of(&name)) else { continue };
            if let Some(grad) = got.get(&t) {
                wanted.push((k, true, grad.clone()));
            }
            wanted.push((k, false, t));
        }
    }
    let values = Tensor::read_many(gpu, &wanted.iter().map(|(_, _, t)| t).collect::<Vec<_>>())?;
    for ((k, is_grad, _), v) in wanted.iter().zip(values) {
        let sum_sq: f64 = v.iter().map(|&x| (x as f64) * (x as f64)).sum();
        if *is_grad { grads[*k] += sum_sq } else { weights[*k] += sum_sq }
    }
    let root = |v: Vec<f64>| v.into_iter().map(|x| x.sqrt() as f32).collect();
    Ok(NormRow { step, weights: root(weights), grads: root(grads) })
}

/// One group of the kernel view: a layer's op in one pass.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelRow {
    /// Where in the step: "D step / d.conv1", "G step / adam", ...
    pub scope: String,
    /// "forward", "backward" or "update" (the optimiser).
    pub pass: &'static str,
    /// The product (`conv2d_grad_weight`, ...) or, outside products, the kernel's entry point.
    pub op: String,
    /// The kernel set that ran it (products only).
    pub set: Option<&'static str>,
    pub dispatches: usize,
    pub ms: f64,
    /// 2 x the products' multiply-accumulates over their time (products only).
    pub gflops: Option<f64>,
}

/// One profiled training step.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct KernelView {
    pub step: u64,
    /// Every dispatch of the step: `bench`'s count for the same shape.
    pub dispatches: usize,
    /// The step's dispatches, each timed on its own, together.
    pub ms: f64,
    pub rows: Vec<KernelRow>,
}

/// Group a step's dispatches by (scope, pass, op), in the order each group first ran.
pub fn kernel_view(step: u64, dispatches: &[DispatchProfile]) -> KernelView {
    let mut rows: Vec<KernelRow> = Vec::new();
    // (row, product call) pairs already counted for FLOPs: a product's dispatches share one.
    let mut counted: Vec<(usize, u64)> = Vec::new();
    let mut macs: Vec<u64> = Vec::new();
    for d in dispatches {
        let scope = d.scope.as_deref().unwrap_or("(outside a layer)").to_string();
        let pass = if scope.ends_with("adam") { "update" } else if d.backward { "backward" } else { "forward" };
        let op = d.product.map_or(d.entry, |p| p.product).to_string();
        let k = match rows.iter().position(|r| r.scope == scope && r.pass == pass && r.op == op) {
            Some(k) => k,
            None => {
                rows.push(KernelRow { scope, pass, op, set: d.product.map(|p| p.set), dispatches: 0, ms: 0.0, gflops: None });
                macs.push(0);
                rows.len() - 1
            }
        };
        rows[k].dispatches += 1;
        rows[k].ms += d.seconds * 1e3;
        if let Some(p) = d.product
            && !counted.contains(&(k, p.call))
        {
            counted.push((k, p.call));
            macs[k] += p.macs;
        }
    }
    for (row, macs) in rows.iter_mut().zip(macs) {
        if macs > 0 && row.ms > 0.0 {
            row.gflops = Some(2.0 * macs as f64 / (row.ms * 1e-3) / 1e9);
        }
    }
    KernelView { step, dispatches: dispatches.len(), ms: rows.iter().map(|r| r.ms).sum(), rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's shapes are the models' own: G's stages from a forward pass.
    #[test]
    fn the_table_names_every_trained_layer_once() {
        let arch = Architecture { image_size: 16, channels: 1, z_dim: 100, gf: 8, df: 8, kernel: 4 };
        let table = layer_table(&arch);
        let names: Vec<&str> = table.iter().map(|r| r.layer.as_str()).collect();
        assert_eq!(names, ["g.fc", "g.deconv1", "g.deconv2", "d.conv0", "d.conv1", "d.fc"]);
        assert_eq!(table[2].output, [1, 16, 16]);
        assert_eq!(table[4].output, [16, 4, 4]);
    }
}
