//! The `complete` command on a tiny fixed-weight model (tests/fixtures/model, written by
//! tools/torch_fixtures.py): losses against PyTorch, convergence, outputs, mask errors.

mod common;

use common::scratch;
use std::path::{Path, PathBuf};
use std::process::Command;

use dcgan_inpaint::io::npy;

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model")
}

/// `complete` on the two fixture inputs with the tiny model; returns (success, stderr).
fn complete(out: &Path, extra: &[&str]) -> (bool, String) {
    let m = model();
    let mut args: Vec<String> = vec![
        "complete".into(),
        m.join("input0.png").display().to_string(),
        m.join("input1.png").display().to_string(),
        "--weights".into(),
        m.join("tiny.safetensors").display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(&args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// loss.csv rows as (contextual, prior, total).
fn losses(path: &Path) -> Vec<(f64, f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            (v[1], v[2], v[3])
        })
        .collect()
}

#[test]
fn per_iteration_losses_match_pytorch() {
    let out = scratch("torch");
    let z_init = model().join("z_init.npy");
    let (ok, err) = complete(&out, &[
        "--mask", "center", "--weighted-window", "7", "--prior", "paper", "--lam", "0.1", "--iters", "5",
        "--restarts", "1", "--z-init", z_init.to_str().unwrap(), "--frames-every", "0",
        // The paper's method, z alone, is what PyTorch ran.
        "--ilo-layers", "0",
    ]);
    assert!(ok, "{err}");
    let (shape, want) = npy::read_f32(&model().join("completion_losses.npy")).unwrap();
    assert_eq!(shape, [6, 2, 2]);
    for (image, name) in ["input0", "input1"].iter().enumerate() {
        let got = losses(&out.join(name).join("loss.csv"));
        assert_eq!(got.len(), 6, "iterations 0..=5");
        for (t, (c, p, total)) in got.iter().enumerate() {
            let (wc, wp) = (want[(t * 2 + image) * 2] as f64, want[(t * 2 + image) * 2 + 1] as f64);
            assert!((c - wc).abs() <= 1e-3 * wc.abs(), "{name} iteration {t}: contextual {c} vs PyTorch {wc}");
            assert!((p - wp).abs() <= 1e-3 * wp.abs(), "{name} iteration {t}: prior {p} vs PyTorch {wp}");
            assert!((total - (c + p)).abs() < 1e-5);
        }
    }
}

#[test]
fn the_loss_decreases_z_stays_in_range_and_every_output_is_written() {
    let out = scratch("converge");
    // z for 40 updates, then (the default) two freed layers for 20 updates each.
    let (ok, err) = complete(&out, &["--iters", "40", "--ilo-iters", "20", "--lr", "0.05", "--restarts", "2", "--save-z", "--frames-every", "10", "--eval"]);
    assert!(ok, "{err}");
    for name in ["input0", "input1"] {
        let l = losses(&out.join(name).join("loss.csv"));
        assert_eq!(l.len(), 40 + 2 * 20 + 1);
        assert!(l[40].2 < l[0].2, "{name}: the z phase took the loss from {} to {}", l[0].2, l[40].2);
        assert!(l[80].2 < l[40].2, "{name}: the freed layers took the loss from {} to {}", l[40].2, l[80].2);
        let (shape, z) = npy::read_f32(&out.join(name).join("z.npy")).unwrap();
        assert_eq!(shape, [1, 8]);
        assert!(z.iter().all(|v| (-1.0..=1.0).contains(v)), "z left [-1, 1]: {z:?}");
        for f in ["masked.png", "generated.png", "completed.png", "summary.png", "progress.gif"] {
            assert!(out.join(name).join(f).exists(), "{name}/{f} missing");
        }
    }
    assert!(out.join("summary.png").exists() && out.join("metrics.json").exists());
}

#[test]
fn every_blend_and_method_keeps_the_known_pixels() {
    let runs: [&[&str]; 7] = [
        &["--blend", "none"],
        &["--blend", "poisson"],
        &["--blend", "biharmonic"],
        &["--blend", "hybrid"],
        &["--blend", "poisson", "--ilo-layers", "2", "--ilo-iters", "3"],
        &["--method", "harmonic"],
        &["--method", "biharmonic"],
    ];
    for extra in runs {
        let blend = extra.join(" ");
        let out = scratch(&format!("blend-{}", blend.replace(' ', "_")));
        let mut args = vec!["--iters", "3", "--frames-every", "0"];
        args.extend_from_slice(extra);
        let (ok, err) = complete(&out, &args);
        assert!(ok, "{err}");
        let input = image::open(model().join("input0.png")).unwrap().to_rgb8();
        let done = image::open(out.join("input0/completed.png")).unwrap().to_rgb8();
        for (x, y, px) in input.enumerate_pixels() {
            let in_hole = (4..12).contains(&x) && (4..12).contains(&y);
            if !in_hole {
                assert_eq!(done.get_pixel(x, y), px, "{blend}: known pixel ({x}, {y}) changed");
            }
        }
    }
}

/// Every mask type runs, and the masked view shows exactly its hole: the pixels that
/// differ from the input are missing ones (mask::make for image 0), and nearly all missing
/// ones differ (a missing pixel may happen to equal the grey it is shown as).
#[test]
fn every_mask_type_runs_with_the_hole_it_describes() {
    use dcgan_inpaint::inpaint::mask::{self, MaskKind};
    let input = image::open(model().join("input0.png")).unwrap().to_rgb8();
    for name in ["center", "left", "right", "top", "bottom", "half", "random", "grid", "pattern", "lowres", "full"] {
        let out = scratch(&format!("mask-{name}"));
        let (ok, err) = complete(&out, &["--mask", name, "--iters", "2", "--frames-every", "0"]);
        assert!(ok, "--mask {name}: {err}");
        let kind = MaskKind::parse(name, 0.25, 0.8).unwrap();
        let missing: Vec<bool> = mask::make(&kind, 16, 0, 0).unwrap().iter().map(|&m| m < 0.5).collect();
        let masked = image::open(out.join("input0/masked.png")).unwrap().to_rgb8();
        let differs: Vec<bool> = input.pixels().zip(masked.pixels()).map(|(a, b)| a != b).collect();
        let outside = (0..256).filter(|&i| differs[i] && !missing[i]).count();
        let shown = (0..256).filter(|&i| differs[i] && missing[i]).count();
        let holes = missing.iter().filter(|m| **m).count();
        assert_eq!(outside, 0, "--mask {name}: {outside} known pixels shown changed");
        assert!(shown * 10 >= holes * 9, "--mask {name}: only {shown} of {holes} missing pixels shown as missing");
    }
}

#[test]
fn masks_with_nothing_known_or_nothing_missing_are_errors() {
    let dir = scratch("badmask");
    for (name, value, expect) in [("white.png", 255u8, "--mask full"), ("black.png", 0u8, "no known pixel")] {
        let path = dir.join(name);
        image::GrayImage::from_pixel(16, 16, image::Luma([value])).save(&path).unwrap();
        let (ok, err) = complete(&dir.join("out"), &["--mask", path.to_str().unwrap(), "--iters", "1"]);
        assert!(!ok, "{name} must be refused");
        assert!(err.contains(expect), "{name}: {err}");
    }
}

#[test]
fn a_z_init_of_the_wrong_shape_is_an_error() {
    let dir = scratch("zinit");
    let bad = dir.join("z.npy");
    npy::write_f32(&bad, &[3, 8], &[0.0; 24]).unwrap();
    let (ok, err) = complete(&dir.join("out"), &["--z-init", bad.to_str().unwrap(), "--restarts", "1"]);
    assert!(!ok && err.contains("[2, 8]"), "{err}");
}

#[test]
fn the_quality_table_covers_every_mask_method_and_blend() {
    let dir = scratch("quality");
    let (out, export) = (dir.join("table.md"), dir.join("export"));
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let quality = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
            .args(["quality", "--weights", model().join("tiny.safetensors").to_str().unwrap(), "--data", images.to_str().unwrap()])
            .args(["--include", "shape[0-3]*", "--iters", "2", "--ilo-iters", "1", "--out", out.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = quality(&["--export", export.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    // The summary (one row per mask: auto against the best classical fill), then the table.
    let (summary, table) = text.split_once("\n\n").expect("summary, then table");
    let masks = ["center", "half", "random 0.8", "grid", "pattern", "scratches", "strokes", "lowres"];
    assert_eq!(summary.lines().skip(2).count(), masks.len(), "{summary}");
    // Per-image wins out of the 4 images, on both measures.
    assert!(summary.lines().skip(2).all(|l| l.matches("/4 |").count() == 2), "{summary}");
    let rows: Vec<&str> = table.lines().skip(2).collect();
    // Per mask: 3 classical fills, auto, then z only and z + ILO, each with 4 blends (lowres: 2).
    // Lowres has no known pixels: block means and their bilinear upsampling stand for the fills.
    assert_eq!(rows.len(), 7 * (3 + 1 + 2 * 4) + (2 + 1 + 2 * 2), "{table}");
    assert_eq!(rows.iter().filter(|r| r.contains("(classical)")).count(), 7 * 3 + 2);
    for mask in masks {
        let of_mask: Vec<&&str> = rows.iter().filter(|r| r.starts_with(&format!("| {mask} |"))).collect();
        let smooth = if mask == "lowres" { "bilinear upsampling of the block means (classical)" } else { "biharmonic fill (classical)" };
        assert!(of_mask.iter().any(|r| r.contains("ILO 2 layers")) && of_mask.iter().any(|r| r.contains(smooth)), "{mask}: {of_mask:?}");
        assert!(of_mask.iter().any(|r| r.contains("x DCGAN +")), "{mask}: no hybrid row");
        assert!(of_mask.iter().any(|r| r.contains("auto (the default)")), "{mask}: no auto row");
    }
    assert!(rows.iter().all(|r| !r.contains("NaN")), "{table}");
    // Another tool's fills come back as a row, measured like the others: here the exported
    // originals themselves, a perfect fill.
    assert!(export.join("scratches/shape0.mask.png").is_file());
    let o = quality(&["--mask", "scratches", "--import", &format!("originals={}", export.display())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    // The originals went through 8-bit PNGs: nearly, not exactly, the images measured.
    let row = text.lines().find(|l| l.starts_with("| scratches | **originals (classical)** |")).unwrap_or_else(|| panic!("no originals row:\n{text}"));
    let psnr: f64 = row.split('|').nth(3).unwrap().trim().trim_matches('*').parse().unwrap();
    assert!(psnr > 40.0, "{row}");
    let o = quality(&["--mask", "center", "--import", &format!("missing={}", dir.join("nothing").display())]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nothing/center/shape") && err.contains(".png is missing"), "{err}");
}

#[test]
fn per_image_masks_come_from_the_mask_dir() {
    let dir = scratch("maskdir");
    let masks = dir.join("masks");
    std::fs::create_dir_all(&masks).unwrap();
    // input0: the left half missing; input1: a 4x4 hole at the top-left corner.
    image::GrayImage::from_fn(16, 16, |x, _| image::Luma([if x < 8 { 0 } else { 255 }])).save(masks.join("input0.png")).unwrap();
    image::GrayImage::from_fn(16, 16, |x, y| image::Luma([if x < 4 && y < 4 { 0 } else { 255 }])).save(masks.join("input1.png")).unwrap();
    let out = dir.join("out");
    let (ok, err) = complete(&out, &["--mask-dir", masks.to_str().unwrap(), "--iters", "2", "--frames-every", "0", "--blend", "none"]);
    assert!(ok, "{err}");
    let masked = image::open(out.join("input1/masked.png")).unwrap().to_rgb8();
    let input = image::open(model().join("input1.png")).unwrap().to_rgb8();
    assert_eq!(masked.get_pixel(10, 10), input.get_pixel(10, 10), "known pixel shown as it is");
    assert_ne!(masked.get_pixel(1, 1), input.get_pixel(1, 1), "missing pixel greyed out");
    // A missing mask file is named.
    std::fs::remove_file(masks.join("input1.png")).unwrap();
    let (ok, err) = complete(&dir.join("out2"), &["--mask-dir", masks.to_str().unwrap(), "--iters", "1"]);
    assert!(!ok && err.contains("input1.png"), "{err}");
}

/// A picture far from what the shipped face model knows (noise) is said to look unlike it,
/// on stderr and in metrics.json; a held-out face is not (its fit is compared with the
/// calibration stored in the weights, `calibrate`).
#[test]
fn a_picture_unlike_what_the_model_knows_is_said_so() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let faces = root.join("weights/olivetti-64.safetensors");
    assert!(dcgan_inpaint::model::weights::fit_p99(&faces).is_some(), "the shipped face model is calibrated");
    let dir = scratch("unlike");
    let noise = dir.join("noise.png");
    let mut rng = dcgan_inpaint::rng::Rng::new(3);
    image::GrayImage::from_fn(64, 64, |_, _| image::Luma([(rng.uniform() * 255.0) as u8])).save(&noise).unwrap();
    let face = root.join("weights/examples/faces/s40_10.png");
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args(["complete", noise.to_str().unwrap(), face.to_str().unwrap(), "--weights", faces.to_str().unwrap(), "--iters", "200", "--ilo-layers", "0"])
        .args(["--frames-every", "0", "--out", dir.join("out").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("noise.png looks unlike the pictures this model knows") && !err.contains("s40_10.png looks unlike"), "{err}");
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out/metrics.json")).unwrap()).unwrap();
    let unlike: Vec<(&str, bool)> = metrics["images"].as_array().unwrap().iter().map(|i| (i["name"].as_str().unwrap(), i["unlike_what_the_model_knows"].as_bool().unwrap())).collect();
    assert_eq!(unlike, [("noise", true), ("s40_10", false)]);
}

/// The default method chooses per image by self-validation: the classical fill where it is
/// exact (a linear ramp, which harmonic and biharmonic interpolation reproduce), the DCGAN
/// where the hole needs what only the model knows (a held-out face with its centre missing).
/// The choice is said on stderr and recorded in metrics.json.
#[test]
fn auto_chooses_the_classical_fill_on_a_ramp_and_the_dcgan_on_a_face() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = scratch("auto");
    let ramp = dir.join("ramp.png");
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([(40 + x * 2) as u8])).save(&ramp).unwrap();
    let face = root.join("weights/examples/faces/s40_10.png");
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args(["complete", ramp.to_str().unwrap(), face.to_str().unwrap(), "--weights", root.join("weights/olivetti-64.safetensors").to_str().unwrap()])
        .args(["--mask", "center", "--iters", "200", "--ilo-layers", "0", "--frames-every", "0", "--out", dir.join("out").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out/metrics.json")).unwrap()).unwrap();
    let chosen: Vec<(&str, &str)> = metrics["images"].as_array().unwrap().iter().map(|i| (i["name"].as_str().unwrap(), i["method"].as_str().unwrap())).collect();
    assert!(["harmonic", "biharmonic"].contains(&chosen[0].1), "the ramp: {chosen:?}\n{err}");
    assert!(chosen[1].1.starts_with("dcgan"), "the face: {chosen:?}\n{err}");
    assert!(err.contains("ramp.png: auto chose") && err.contains("s40_10.png: auto chose DCGAN"), "{err}");
    // Every candidate's score on the hidden pixels is there to see.
    assert!(metrics["images"][1]["validation_psnr"]["biharmonic"].is_number(), "{metrics}");
}
