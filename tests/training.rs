//! Training, resuming, sampling and exporting a tiny DCGAN on committed fixture images,
//! and the clear errors (with nothing overwritten) for bad inputs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{scratch, assert_close, gpu, max_abs};
use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::io::npy;
use dcgan_inpaint::engine::ops::adam::AdamConfig;
use dcgan_inpaint::jobs::train::{TrainConfig, TrainEvent, checkpoint_path, train};
use dcgan_inpaint::model::gan::GanState;
use dcgan_inpaint::io::weights;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tiny_arch() -> Architecture {
    Architecture { image_size: 16, channels: 3, z_dim: 8, gf: 8, df: 8, kernel: 5 }
}

fn tiny_config(out: &Path, steps: u64) -> TrainConfig {
    TrainConfig {
        arch: tiny_arch(),
        data: fixtures().join("images"),
        exclude: vec![],
        flip: true,
        batch: 4,
        epochs: 1,
        steps: Some(steps),
        out: out.to_path_buf(),
        seed: 3,
        adam: AdamConfig::dcgan(),
        g_steps: 2,
        sample_every: 2,
        checkpoint_every: 2,
        resume: false,
    }
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
}

/// Run the binary; returns (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = cli().args(args).output().expect("run dcgan-inpaint");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_tiny_model_trains_with_finite_losses_and_changing_weights() {
    let g = gpu();
    let out = scratch("train");
    let cfg = tiny_config(&out, 6);
    let summary = train(g, &cfg, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(summary.steps, 6);
    assert!(summary.d_loss.is_finite() && summary.g_loss.is_finite(), "{summary:?}");
    for f in ["checkpoint.safetensors", "log.csv", "loss.png", "samples/step_000002.png", "samples/step_000006.png"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    assert_eq!(log.lines().count(), 7, "header + one row per step:\n{log}");

    // Every trained tensor moved away from its initial value.
    let initial = GanState::new(g, &cfg.arch, cfg.seed, cfg.adam);
    let file = weights::read(&checkpoint_path(&out)).unwrap();
    for (name, tensor, trained) in initial.g.named().into_iter().chain(initial.d.named()) {
        let before = tensor.to_vec(g);
        let after = &file.tensors[&name].1;
        if trained {
            assert_ne!(&before, after, "{name} did not change");
        }
    }
    assert_eq!(file.meta("step").unwrap(), "6");
}

#[test]
fn resuming_after_a_stop_continues_bit_identically() {
    let g = gpu();
    let straight = scratch("straight");
    train(g, &tiny_config(&straight, 7), &AtomicBool::new(false), |_| {}).unwrap();

    // Stop (as Ctrl-C does) after step 3, then resume to 7.
    let stopped = scratch("stopped");
    let stop = AtomicBool::new(false);
    let first = train(g, &tiny_config(&stopped, 7), &stop, |event| {
        if matches!(event, TrainEvent::Step(p) if p.step == 3) {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(first.interrupted);
    assert_eq!(first.steps, 3);
    assert_eq!(weights::read(&checkpoint_path(&stopped)).unwrap().meta("step").unwrap(), "3");
    let resumed = train(g, &TrainConfig { resume: true, ..tiny_config(&stopped, 7) }, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(resumed.steps, 7);

    let a = weights::read(&checkpoint_path(&straight)).unwrap();
    let b = weights::read(&checkpoint_path(&stopped)).unwrap();
    for key in ["step", "epoch", "adam_g_step", "adam_d_step"] {
        assert_eq!(a.meta(key).unwrap(), b.meta(key).unwrap(), "{key}");
    }
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, (shape, data)) in &a.tensors {
        let (shape_b, data_b) = &b.tensors[name];
        assert_eq!(shape, shape_b, "{name}");
        let same = data.iter().zip(data_b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name} differs between the straight and the resumed run");
    }
    // The logs agree on every step's losses too.
    let losses = |dir: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("log.csv")).unwrap();
        text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
    };
    assert_eq!(losses(&straight), losses(&stopped));
}

#[test]
fn sample_with_fixed_latents_matches_pytorch() {
    let dir = scratch("sample");
    let fx = fixtures().join("model");
    let raw = dir.join("raw.npy");
    let grid = dir.join("grid.png");
    let (ok, err) = run(&[
        "sample",
        "--weights",
        fx.join("tiny.safetensors").to_str().unwrap(),
        "--z",
        fx.join("z.npy").to_str().unwrap(),
        "--out",
        grid.to_str().unwrap(),
        "--raw-out",
        raw.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (shape, got) = npy::read_f32(&raw).unwrap();
    let (want_shape, want) = npy::read_f32(&fx.join("expected.npy")).unwrap();
    assert_eq!(shape, want_shape);
    assert_close("generator output vs PyTorch", &got, &want, 1e-4, 1e-5 * max_abs(&want));
    assert!(grid.exists());
}

#[test]
fn export_writes_loadable_f16_weights() {
    let g = gpu();
    let out = scratch("export");
    train(g, &tiny_config(&out, 2), &AtomicBool::new(false), |_| {}).unwrap();
    let w = out.join("w.safetensors");
    let (ok, err) = run(&["export", "--checkpoint", checkpoint_path(&out).to_str().unwrap(), "--out", w.to_str().unwrap(), "--f16"]);
    assert!(ok, "{err}");
    let file = weights::read(&w).unwrap();
    assert_eq!(dcgan_inpaint::model::weights::architecture(&file).unwrap(), tiny_arch());
    assert_eq!(file.meta("kind").unwrap(), "weights");
    assert!(file.tensors.contains_key("g.bn1.running_var") && file.tensors.contains_key("d.fc.weight"));
    assert!(!file.tensors.keys().any(|k| k.starts_with("adam.")), "optimiser state must not be exported");
    let (ok, err) = run(&["sample", "--weights", w.to_str().unwrap(), "--n", "3", "--out", out.join("s.png").to_str().unwrap()]);
    assert!(ok, "{err}");
}

#[test]
fn an_empty_data_folder_is_a_clear_error() {
    let dir = scratch("empty");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let (ok, err) = run(&["train", "--data", dir.join("data").to_str().unwrap(), "--out", dir.join("out").to_str().unwrap(), "--steps", "1"]);
    assert!(!ok);
    assert!(err.contains("no images") && err.contains("data"), "{err}");
}

#[test]
fn an_unreadable_image_is_named() {
    let dir = scratch("unreadable");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixtures().join("images/shape0.png"), data.join("good.png")).unwrap();
    std::fs::write(data.join("broken.png"), b"this is not a png").unwrap();
    let (ok, err) = run(&["train", "--data", data.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap(), "--steps", "1", "--batch", "1"]);
    assert!(!ok);
    assert!(err.contains("broken.png") && err.contains("--exclude"), "{err}");
}

#[test]
fn weights_of_another_architecture_are_refused_and_left_alone() {
    let g = gpu();
    let out = scratch("otherarch");
    train(g, &tiny_config(&out, 2), &AtomicBool::new(false), |_| {}).unwrap();
    let before = std::fs::read(checkpoint_path(&out)).unwrap();
    let (ok, err) = run(&[
        "train", "--resume", "--data", fixtures().join("images").to_str().unwrap(), "--out", out.to_str().unwrap(),
        "--image-size", "16", "--z-dim", "8", "--gf", "16", "--df", "8", "--batch", "4", "--steps", "4", "--seed", "3",
    ]);
    assert!(!ok);
    assert!(err.contains("another architecture") && err.contains("gf 8 (expected 16)"), "{err}");
    assert_eq!(std::fs::read(checkpoint_path(&out)).unwrap(), before, "the checkpoint was modified");

    // Training into a folder that holds a checkpoint without --resume is refused too.
    let (ok, err) = run(&["train", "--data", fixtures().join("images").to_str().unwrap(), "--out", out.to_str().unwrap(), "--steps", "1", "--batch", "4"]);
    assert!(!ok && err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read(checkpoint_path(&out)).unwrap(), before, "the checkpoint was modified");
}

#[test]
fn a_truncated_weights_file_is_a_clear_error_and_overwrites_nothing() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(fixtures().join("model/tiny.safetensors")).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let existing = dir.join("grid.png");
    std::fs::write(&existing, b"keep me").unwrap();
    let (ok, err) = run(&["sample", "--weights", truncated.to_str().unwrap(), "--out", existing.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("truncated.safetensors") && err.contains("truncated or corrupt"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let exported = dir.join("w.safetensors");
    let (ok, _) = run(&["export", "--checkpoint", truncated.to_str().unwrap(), "--out", exported.to_str().unwrap()]);
    assert!(!ok && !exported.exists());
}

#[test]
fn a_diverging_run_stops_with_the_step_and_keeps_the_last_checkpoint() {
    let g = gpu();
    let out = scratch("nan");
    train(g, &tiny_config(&out, 2), &AtomicBool::new(false), |_| {}).unwrap();
    // A checkpoint whose weights are finite but absurd (D's last layer at 1e38): the next
    // step's logits overflow, and the loss with them.
    let file = weights::read(&checkpoint_path(&out)).unwrap();
    let tensors: Vec<_> = file
        .tensors
        .iter()
        .map(|(n, (sh, d))| (n.clone(), sh.clone(), if n == "d.fc.weight" { vec![1e38; d.len()] } else { d.clone() }))
        .collect();
    weights::write(&checkpoint_path(&out), &tensors, file.metadata.clone(), false).unwrap();
    let good = std::fs::read(checkpoint_path(&out)).unwrap();
    let cfg = TrainConfig { checkpoint_every: 1, resume: true, ..tiny_config(&out, 5) };
    let err = train(g, &cfg, &AtomicBool::new(false), |_| {}).unwrap_err().to_string();
    assert!(err.contains("diverged at step 3") && err.contains("last good checkpoint"), "{err}");
    assert_eq!(std::fs::read(checkpoint_path(&out)).unwrap(), good, "the last good checkpoint was replaced");
}

/// Sizes from flags are checked before anything is allocated: a batch whose activations
/// exceed the adapter's largest binding is an error naming the flag, not a panic, and
/// `bench --batch 0` is refused.
#[test]
fn batches_too_large_for_the_adapter_are_errors_naming_the_flag() {
    let g = common::gpu();
    let dir = scratch("huge-batch");
    let cfg = TrainConfig { arch: Architecture { image_size: 128, channels: 3, z_dim: 100, gf: 64, df: 64, kernel: 5 }, batch: 4096, ..tiny_config(&dir, 1) };
    let err = train(g, &cfg, &AtomicBool::new(false), |_| {}).err().expect("a 4 GiB activation must be refused").to_string();
    assert!(err.contains("use a smaller --batch") && err.contains("[4096, 64, 64, 64]"), "{err}");
    assert!(!checkpoint_path(&dir).exists(), "nothing is written for a refused run");
    // A model whose weights alone exceed the adapter's largest buffer (at 256 with the
    // default widths, G's first deconv weight is 200 MiB): the fix is the width, not the batch.
    let cfg = TrainConfig { arch: Architecture { image_size: 256, channels: 1, z_dim: 100, gf: 64, df: 64, kernel: 5 }, batch: 8, ..tiny_config(&dir, 1) };
    let max = g.max_binding_bytes();
    let err = train(g, &cfg, &AtomicBool::new(false), |_| {}).err().map(|e| e.to_string());
    if max < 200 << 20 {
        let err = err.expect("a 200 MiB weight must be refused on this adapter");
        assert!(err.contains("--gf") && err.contains("deconv weight [2048, 1024, 5, 5]"), "{err}");
    }
    let (ok, err) = run(&["bench", "--batch", "0", "--no-kernels"]);
    assert!(!ok && err.contains("--batch, --reps and --g-steps must be at least 1"), "{err}");
    let (ok, err) = run(&["sample", "--weights", fixtures().join("model/tiny.safetensors").to_str().unwrap(), "--z", "/nonexistent.npy"]);
    assert!(!ok && !err.contains("panicked"), "{err}");
}
