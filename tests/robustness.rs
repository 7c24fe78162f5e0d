//! Hostile input and faults, one test per item of the robustness issue (#12): nothing is
//! lost, no panic, no hang, no silent garbage; every refusal names the file and the fix.
//! Runs the binary on the tiny fixture model, so each case takes a fraction of a second.

#[macro_use]
mod common;

use common::scratch;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dcgan_inpaint::io::{npy, weights};
use dcgan_inpaint::model::Architecture;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tiny() -> PathBuf {
    fixtures().join("model/tiny.safetensors")
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
}

/// Run the binary to the end; returns (exit code, stdout + stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = cli().args(args).output().expect("run dcgan-inpaint");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "a panic: {text}");
    (out.status.code().unwrap_or(-1), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `complete` on the fixture inputs with the tiny model and a few iterations.
fn complete(out: &Path, extra: &[&str]) -> (i32, String) {
    let (input, weights) = (fixtures().join("model/input0.png"), tiny());
    let mut args = vec!["complete", s(&input), "--weights", s(&weights)];
    args.extend(["--iters", "3", "--out", s(out)]);
    args.extend_from_slice(extra);
    run(&args)
}

fn read_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// Item 1: an output that is an input, has the wrong extension, or would replace a
/// checkpoint is refused, and the file is left as it was.
#[test]
fn outputs_never_overwrite_inputs() {
    let dir = scratch("outputs");
    let w = dir.join("w.safetensors");
    std::fs::copy(tiny(), &w).unwrap();
    let before = read_bytes(&w);
    let (code, err) = run(&["sample", "--weights", s(&w), "--out", s(&w)]);
    assert!(code == 1 && err.contains("is an input of this command"), "{err}");
    let (code, err) = run(&["sample", "--weights", s(&w), "--out", s(&dir.join("grid.safetensors"))]);
    assert!(code == 1 && err.contains("is a .png file"), "{err}");
    let (code, err) = run(&["export", "--checkpoint", s(&w), "--out", s(&w)]);
    assert!(code == 1 && err.contains("is an input of this command"), "{err}");
    assert_eq!(read_bytes(&w), before, "the weights were changed");

    // A checkpoint is never replaced by exported weights, even when it is not the input.
    let file = weights::read(&tiny()).unwrap();
    let tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), d.clone())).collect();
    let mut meta = file.metadata.clone();
    meta.insert("kind".into(), "checkpoint".into());
    let ckpt = dir.join("checkpoint.safetensors");
    weights::write(&ckpt, &tensors, meta, false).unwrap();
    let before = read_bytes(&ckpt);
    let (code, err) = run(&["export", "--checkpoint", s(&w), "--out", s(&ckpt)]);
    assert!(code == 1 && err.contains("holds a training checkpoint"), "{err}");
    assert_eq!(read_bytes(&ckpt), before);

    let log = dir.join("log.csv");
    std::fs::write(&log, "step,epoch,d_loss,g_loss,images_per_s\n1,0,1.0,2.0,3.0\n").unwrap();
    let (code, err) = run(&["plot", "--log", s(&log), "--out", s(&log)]);
    assert!(code == 1 && err.contains("is an input of this command"), "{err}");
    assert!(std::fs::read_to_string(&log).unwrap().starts_with("step,"));
}

/// Item 2: one run per output folder; a folder with results is refused unless
/// --overwrite, which leaves no stale file; the output folder is never read as input.
#[test]
fn complete_output_folders_are_locked_and_never_mixed() {
    let dir = scratch("folders");
    let out = dir.join("out");
    let (code, err) = complete(&out, &["--frames-every", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.join("input0/progress.gif").exists());
    let (code, err) = complete(&out, &[]);
    assert!(code == 1 && err.contains("already holds files") && err.contains("--overwrite"), "{err}");
    let (code, err) = complete(&out, &["--overwrite", "--frames-every", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.join("input0/progress.gif").exists(), "a stale progress.gif survived --overwrite");

    // A live run holds the folder (this test's own pid stands in for it).
    std::fs::write(out.join(".dcgan-inpaint.lock"), std::process::id().to_string()).unwrap();
    let (code, err) = complete(&out, &["--overwrite"]);
    assert!(code == 1 && err.contains("another dcgan-inpaint run"), "{err}");
    std::fs::remove_file(out.join(".dcgan-inpaint.lock")).unwrap();

    // An output folder inside the input folder is skipped when the folder is walked.
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(fixtures().join("model/input0.png"), inputs.join("a.png")).unwrap();
    let args = |out: &Path| {
        vec!["complete".to_string(), s(&inputs).into(), "--weights".into(), s(&tiny()).into(), "--iters".into(), "2".into(), "--out".into(), s(out).into(), "--overwrite".into()]
    };
    let nested = inputs.join("results");
    for _ in 0..2 {
        let a = args(&nested);
        let (code, text) = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(code == 0 && text.contains("completed 1 image(s)"), "{text}");
    }
}

/// Wait until `path` holds at least `lines` lines, or panic after `limit`.
fn wait_for_lines(path: &Path, lines: usize, limit: Duration) {
    let start = Instant::now();
    while std::fs::read_to_string(path).map_or(0, |t| t.lines().count()) < lines {
        assert!(start.elapsed() < limit, "{} did not reach {lines} lines in {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Item 3: SIGTERM, SIGINT and SIGHUP (a closed terminal, a dropped ssh session; round two,
/// item 5) save the checkpoint and exit with 143 / 130 / 129.
#[test]
fn signals_save_the_checkpoint_and_exit_non_zero() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let out = scratch(&format!("signal-{signal}"));
        let mut child = cli()
            .args(["train", "--data", s(&fixtures().join("images")), "--out", s(&out)])
            .args(["--image-size", "16", "--channels", "3", "--z-dim", "8", "--gf", "8", "--df", "8", "--batch", "4", "--steps", "100000"])
            .args(["--sample-every", "0", "--checkpoint-every", "100000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_lines(&out.join("log.csv"), 3, Duration::from_secs(120));
        assert!(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap().success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "SIG{signal}");
        let file = weights::read(&out.join("checkpoint.safetensors")).expect("the checkpoint written on the signal");
        assert!(file.meta_u64("step").unwrap() >= 2, "SIG{signal}: the checkpoint holds the steps done");
    }
}

/// Item 4: sizes beyond the adapter's largest binding are refused naming the flag, or
/// split into batches that fit.
#[test]
fn tensors_too_large_for_the_adapter_are_refused_or_split() {
    let gpu = common::gpu();
    let dir = scratch("sizes");
    // The tiny model's input is 3 x 16 x 16 floats a row.
    let restarts = (gpu.max_binding_bytes() / (3 * 16 * 16 * 4) + 1).to_string();
    let (code, err) = complete(&dir.join("out"), &["--restarts", &restarts]);
    assert!(code == 1 && err.contains("fewer --restarts"), "{err}");
    let raw = dir.join("raw.npy");
    let (code, err) = run(&["sample", "--weights", s(&tiny()), "--n", "130", "--out", s(&dir.join("g.png")), "--raw-out", s(&raw)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(npy::read_f32(&raw).unwrap().0, vec![130, 3, 16, 16]);
}

/// Item 5: non-finite weights, hyper-parameters and latents are refused; a NaN z stays NaN
/// through the clip, so the loss guard sees it.
#[test]
fn non_finite_numbers_are_refused() {
    let dir = scratch("nan");
    let file = weights::read(&tiny()).unwrap();
    let mut tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), d.clone())).collect();
    tensors[0].2[0] = f32::NAN;
    let bad = dir.join("nan.safetensors");
    weights::write(&bad, &tensors, file.metadata.clone(), false).unwrap();
    let (code, err) = run(&["sample", "--weights", s(&bad), "--out", s(&dir.join("g.png"))]);
    assert!(code == 1 && err.contains("holds NaN"), "{err}");
    for (flag, value) in [("--lr", "nan"), ("--lr", "inf"), ("--beta1", "1")] {
        let (code, err) = complete(&dir.join("out"), &[flag, value]);
        assert!(code == 1 && err.contains(&format!("{flag} must be")), "{flag} {value}: {err}");
    }
    let z = dir.join("z.npy");
    npy::write_f32(&z, &[1, 8], &[0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    let (code, err) = complete(&dir.join("out2"), &["--z-init", s(&z)]);
    assert!(code == 1 && err.contains("holds NaN") && err.contains("z.npy"), "{err}");

    let gpu = common::gpu();
    let t = dcgan_inpaint::Tensor::from_slice(gpu, &[5], &[f32::NAN, 2.0, -3.0, 0.5, f32::INFINITY]);
    dcgan_inpaint::engine::ops::elementwise::clamp(gpu, &t, -1.0, 1.0);
    let v = t.to_vec(gpu);
    assert!(v[0].is_nan() && v[1..] == [1.0, -1.0, 0.5, 1.0], "{v:?}");
}

/// Item 6: sizes from files and flags are checked before anything is sized from them.
#[test]
fn sizes_from_files_and_flags_are_checked() {
    let dir = scratch("sizes-from-files");
    let file = weights::read(&tiny()).unwrap();
    let tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), d.clone())).collect();
    let huge = Architecture { image_size: 16, channels: 3, z_dim: 8, gf: 1 << 40, df: 4, kernel: 5 };
    let bad = dir.join("huge.safetensors");
    weights::write(&bad, &tensors, dcgan_inpaint::model::weights::base_metadata(&huge, "weights"), false).unwrap();
    let (code, err) = run(&["sample", "--weights", s(&bad), "--out", s(&dir.join("g.png"))]);
    assert!(code == 1 && err.contains("must be at most"), "{err}");

    // Iteration counts past the limit are refused, naming it; the largest allowed is not
    // preallocated: it starts at once (and stops on a signal).
    let input = fixtures().join("model/input0.png");
    let (code, err) = run(&["complete", s(&input), "--weights", s(&tiny()), "--iters", "100000000000", "--out", s(&dir.join("out"))]);
    assert!(code == 1 && err.contains("--iters must be from 1 to 1000000"), "{err}");
    let (code, err) = complete(&dir.join("out"), &["--ilo-iters", "18446744073709551615"]);
    assert!(code == 1 && err.contains("--ilo-iters at most"), "{err}");
    let mut child = cli()
        .args(["complete", s(&fixtures().join("model/input0.png")), "--weights", s(&tiny()), "--iters", "1000000"])
        .args(["--frames-every", "0", "--out", s(&dir.join("out"))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(child.stderr.take().unwrap(), "completing 1 image(s)");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

/// Read `stream` until a line contains `text` (a state the process reached), then keep
/// draining it in the background so the process never blocks on a full pipe.
fn wait_for_line(stream: impl std::io::Read + Send + 'static, text: &str) {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stream).lines();
    for line in lines.by_ref() {
        let line = line.expect("a line of output");
        if line.contains(text) {
            std::thread::spawn(move || lines.for_each(drop));
            return;
        }
    }
    panic!("the process ended without printing '{text}'");
}

/// Item 7: no hang on a huge window or a symlink loop.
#[test]
fn no_hang_on_windows_or_symlink_loops() {
    let dir = scratch("hangs");
    let (code, err) = complete(&dir.join("out"), &["--weighted-window", "100000"]);
    assert!(code == 1 && err.contains("--weighted-window") && !err.contains("completing"), "refused before any work: {err}");

    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    for name in ["shape0.png", "shape1.jpg", "shape2.bmp"] {
        std::fs::copy(fixtures().join("images").join(name), data.join("sub").join(name)).unwrap();
    }
    std::os::unix::fs::symlink(&data, data.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(&data, data.join("again")).unwrap();
    let found = dcgan_inpaint::io::data::list_images(&data, &[]).unwrap().files;
    assert_eq!(found.len(), 3, "{found:?}");
}

/// Item 8: a decompression bomb is refused before it is decoded; a device is not read as
/// weights.
#[test]
fn huge_images_and_devices_are_refused_before_reading() {
    let dir = scratch("bombs");
    let big = dir.join("big.png");
    image::GrayImage::new(10000, 10000).save(&big).unwrap();
    let (code, err) = complete(&dir.join("out"), &[]);
    assert_eq!(code, 0, "{err}");
    // Refused from the header: the message gives the size the header claims.
    let (code, err) = run(&["complete", s(&big), "--weights", s(&tiny()), "--iters", "1", "--out", s(&dir.join("out2"))]);
    assert!(code == 1 && err.contains("10000x10000") && err.contains("downscale"), "{err}");
    let (code, err) = run(&["sample", "--weights", "/dev/zero", "--out", s(&dir.join("g.png"))]);
    assert!(code == 1 && err.contains("not a regular file"), "{err}");
}

/// Item 10: messages point the right way.
#[test]
fn messages_point_the_right_way() {
    let dir = scratch("messages");
    let inputs = dir.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::copy(fixtures().join("model/input0.png"), inputs.join("a.png")).unwrap();
    std::fs::write(inputs.join("broken.png"), b"not a png").unwrap();
    let (code, text) = run(&["complete", s(&inputs), "--weights", s(&tiny()), "--iters", "1", "--out", s(&dir.join("out"))]);
    // The rest are completed; the exit status (2) says that some input was not.
    assert!(code == 2 && text.contains("skipped") && text.contains("broken.png") && !text.contains("--exclude"), "{text}");
    assert!(dir.join("out/a/result.png").is_file(), "a.png is completed all the same");

    let (code, err) = run(&["--backend", "metal", "info"]);
    if !cfg!(target_os = "macos") {
        assert!(code == 1 && err.contains("only on macOS") && !err.contains("mesa-vulkan-drivers"), "{err}");
    }

    let train_out = dir.join("train");
    std::fs::create_dir_all(&train_out).unwrap();
    std::fs::copy(tiny(), train_out.join("checkpoint.safetensors")).unwrap();
    let (code, err) = run(&[
        "train", "--data", s(&fixtures().join("images")), "--out", s(&train_out), "--resume",
        "--image-size", "16", "--z-dim", "8", "--gf", "4", "--df", "4", "--batch", "4", "--steps", "1",
    ]);
    assert!(code == 1 && err.contains("not a training checkpoint"), "{err}");

    let black = dir.join("black.png");
    image::GrayImage::new(16, 16).save(&black).unwrap();
    let (code, err) = complete(&dir.join("out2"), &["--mask", s(&black)]);
    assert!(code == 1 && err.contains("black.png") && err.contains("no known pixel"), "{err}");

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, err) = run(&["complete", s(&empty), "--weights", s(&tiny()), "--out", s(&dir.join("out3"))]);
    assert!(code == 1 && err.contains(s(&empty)), "{err}");

    let (code, text) = run(&[
        "train", "--data", s(&fixtures().join("images")), "--out", s(&dir.join("t0")),
        "--image-size", "16", "--z-dim", "8", "--gf", "4", "--df", "4", "--batch", "4", "--steps", "0",
    ]);
    assert!(code == 0 && !text.contains("loss.png"), "{text}");

    let (code, err) = run(&["quality", "--weights", s(&tiny()), "--data", s(&fixtures().join("images")), "--out", "/no/such/folder/table.md"]);
    assert!(code == 1 && err.contains("/no/such/folder"), "{err}");
    assert!(!err.contains("window"), "the table was computed before --out was checked: {err}");
}

/// Item 11: what is accepted with an assumption is said.
#[test]
fn assumptions_are_warned_about() {
    let dir = scratch("warnings");
    let mask = dir.join("mask.png");
    let mut m = image::GrayImage::from_pixel(32, 32, image::Luma([255]));
    for y in 8..24 {
        for x in 8..24 {
            m.put_pixel(x, y, image::Luma([if x < 16 { 0 } else { 100 }]));
        }
    }
    m.save(&mask).unwrap();
    let (code, text) = complete(&dir.join("out"), &["--mask", s(&mask)]);
    assert!(code == 0 && text.contains("resized") && text.contains("grey pixels"), "{text}");

    let alpha = dir.join("alpha.png");
    let a = image::RgbaImage::from_fn(16, 16, |x, y| image::Rgba([0, 0, 0, if (4..12).contains(&x) && (4..12).contains(&y) { 0 } else { 255 }]));
    a.save(&alpha).unwrap();
    let (code, text) = complete(&dir.join("out2"), &["--mask", s(&alpha)]);
    assert!(code == 0 && text.contains("alpha channel"), "{text}");

    let (code, text) = complete(&dir.join("out3"), &["--missing", "0.5"]);
    assert!(code == 0 && text.contains("--missing only applies to --mask random"), "{text}");

    let z = dir.join("z.npy");
    npy::write_f32(&z, &[1, 8], &[3.0; 8]).unwrap();
    let (code, text) = complete(&dir.join("out4"), &["--z-init", s(&z)]);
    assert!(code == 0 && text.contains("outside [-1, 1]"), "{text}");

    let wide = dir.join("wide.png");
    image::RgbImage::new(90, 16).save(&wide).unwrap();
    let (code, text) = run(&["complete", s(&wide), "--weights", s(&tiny()), "--iters", "1", "--out", s(&dir.join("out5"))]);
    assert!(code == 0 && text.contains("drops more than half"), "{text}");
}
