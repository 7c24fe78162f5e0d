//! Hostile input and faults, round two (shared/reports/hostile-inputs-round2.md, the item
//! numbers in the comments): nothing lost, no panic, no hang, no exit 0 with garbage. Runs
//! the binary on the tiny fixture model, so each case takes a fraction of a second. The
//! server's cases are in tests/serve_api.rs.

mod common;

use common::scratch;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcgan_inpaint::io::weights;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tiny() -> PathBuf {
    fixtures().join("model/tiny.safetensors")
}

fn face(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces").join(name)
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Wait for `child` to end, failing (and killing it) if it is still running after `limit`:
/// a guard against a hang, far above what the case needs.
fn finish(mut child: Child, limit: Duration) -> (i32, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut text = String::new();
            for stream in [child.stdout.take().map(|o| Box::new(o) as Box<dyn std::io::Read>), child.stderr.take().map(|e| Box::new(e) as Box<dyn std::io::Read>)].into_iter().flatten() {
                let mut stream = stream;
                let _ = stream.read_to_string(&mut text);
            }
            assert!(!text.contains("panicked"), "a panic: {text}");
            return (status.code().unwrap_or(-1), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

use std::io::Read;

/// Run the binary to the end (with a guard against hangs); returns (exit code, stdout + stderr).
fn run(args: &[&str]) -> (i32, String) {
    let child = cli().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).spawn().expect("run dcgan-inpaint");
    finish(child, Duration::from_secs(300))
}

/// Every file under `dir` with its bytes, to prove a failed command touched nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success(), "mkfifo {}", path.display());
}

/// Items 1-2: `complete --overwrite` removes only what an earlier run recorded, after the
/// inputs are read, and never an input or a file of the user's.
#[test]
fn overwrite_removes_only_an_earlier_run_s_results() {
    let dir = scratch("overwrite");
    let photos = dir.join("photos");
    std::fs::create_dir_all(photos.join("trip")).unwrap();
    std::fs::copy(face("s37_01.png"), photos.join("a.png")).unwrap();
    std::fs::copy(face("s38_04.png"), photos.join("summary.png")).unwrap();
    std::fs::copy(face("s39_07.png"), photos.join("trip/x.png")).unwrap();
    std::fs::write(photos.join("trip/loss.csv"), "x\n").unwrap();
    std::fs::write(photos.join("metrics.json"), "{}").unwrap();
    let before = snapshot(&photos);
    // #1: --out is the folder of photos.
    let (code, text) = run(&["complete", s(&photos), "--weights", s(&tiny()), "--out", s(&photos), "--overwrite", "--iters", "1"]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(snapshot(&photos), before, "the user's files are all there, unchanged");
    // #2: the input is a file --overwrite would replace.
    let prev = dir.join("prev");
    std::fs::create_dir_all(&prev).unwrap();
    std::fs::copy(face("s37_01.png"), prev.join("summary.png")).unwrap();
    let (code, text) = run(&["complete", s(&prev.join("summary.png")), "--weights", s(&tiny()), "--out", s(&prev), "--overwrite", "--iters", "1"]);
    assert!(code == 1 && text.contains("no earlier dcgan-inpaint run wrote it"), "{text}");
    assert_eq!(std::fs::read(prev.join("summary.png")).unwrap(), std::fs::read(face("s37_01.png")).unwrap());

    // An earlier run's results are replaced; a file of the user's beside them stays.
    let out = dir.join("out");
    let (code, text) = run(&["complete", s(&face("s37_01.png")), s(&face("s38_04.png")), "--weights", s(&tiny()), "--out", s(&out), "--iters", "1"]);
    assert_eq!(code, 0, "{text}");
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let (code, text) = run(&["complete", s(&face("s39_07.png")), "--weights", s(&tiny()), "--out", s(&out), "--overwrite", "--iters", "1"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    assert!(out.join("s39_07/completed.png").is_file() && !out.join("s37_01").exists() && !out.join("s38_04").exists(), "the earlier results went");
    // An earlier result given as an input is never deleted.
    let result = out.join("s39_07/completed.png");
    let kept = std::fs::read(&result).unwrap();
    let (code, text) = run(&["complete", s(&result), "--weights", s(&tiny()), "--out", s(&out), "--overwrite", "--iters", "1"]);
    assert!(code == 1 && text.contains("an input of this run"), "{text}");
    assert_eq!(std::fs::read(&result).unwrap(), kept);
}

/// Item 23: an earlier run's results inside an input folder are not read back as inputs.
#[test]
fn results_are_never_read_back_as_inputs() {
    let dir = scratch("read-back");
    let cc = dir.join("cc");
    std::fs::create_dir_all(&cc).unwrap();
    for f in ["s37_01.png", "s38_04.png"] {
        std::fs::copy(face(f), cc.join(f)).unwrap();
    }
    for out in ["r1", "r2"] {
        let (code, text) = run(&["complete", s(&cc), "--weights", s(&tiny()), "--iters", "1", "--out", s(&cc.join(out))]);
        assert!(code == 0 && text.contains("completed 2 image(s)"), "{out}: {text}");
    }
    let (_, text) = run(&["complete", s(&cc), "--weights", s(&tiny()), "--iters", "1", "--out", s(&cc.join("r3"))]);
    assert!(text.contains("holds the results of an earlier dcgan-inpaint run"), "the skipped folders are named: {text}");
}

/// Items 3-4, and the weak errors of `bench --json`: the report is checked like every other
/// output before the benchmark runs, and written atomically.
#[test]
fn bench_json_never_replaces_a_checkpoint_or_weights() {
    let dir = scratch("bench-json");
    let w = dir.join("w.safetensors");
    std::fs::copy(tiny(), &w).unwrap();
    let before = std::fs::read(&w).unwrap();
    let bench = |json: &Path| run(&["bench", "--no-kernels", "--image-size", "16", "--width", "8", "--kernel", "4", "--batch", "4", "--reps", "1", "--json", s(json)]);
    let (code, text) = bench(&w);
    assert!(code == 1 && text.contains("is a .json file"), "{text}");
    assert!(!text.contains("timing"), "refused before the benchmark: {text}");
    assert_eq!(std::fs::read(&w).unwrap(), before);
    let (code, text) = bench(&dir);
    assert!(code == 1 && text.contains("has another extension") || text.contains("is a folder"), "{text}");
    let (code, text) = bench(Path::new("/proc/b.json"));
    assert!(code == 1 && text.contains("cannot write /proc/b.json") && !text.contains("timing"), "{text}");
    let ok = dir.join("ok.json");
    let (code, text) = bench(&ok);
    assert_eq!(code, 0, "{text}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&ok).unwrap()).unwrap();
    assert!(report["train_step"]["images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left behind");
}

/// Items 13-17: models whose weights exceed the adapter's largest buffer are refused before
/// anything is allocated, naming the flag (or the file); never a panic.
#[test]
fn models_too_large_for_the_adapter_are_refused() {
    let dir = scratch("too-large");
    let data = fixtures().join("images");
    let max = common::gpu().max_binding_bytes();
    // 256 with the default widths: G's first deconv weight is 200 MiB.
    if max < 200 << 20 {
        let (code, text) = run(&["train", "--data", s(&data), "--image-size", "256", "--channels", "1", "--batch", "2", "--steps", "1", "--out", s(&dir.join("t"))]);
        assert!(code == 1 && text.contains("too large for this adapter") && text.contains("--gf"), "{text}");
        let (code, text) = run(&["bench", "--no-kernels", "--image-size", "256", "--channels", "1", "--batch", "2", "--reps", "1"]);
        assert!(code == 1 && text.contains("--width"), "{text}");
    }
    // Weights whose metadata says a width the adapter cannot hold.
    let file = weights::read(&tiny()).unwrap();
    let tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), d.clone())).collect();
    let mut arch = dcgan_inpaint::model::weights::architecture(&file).unwrap();
    arch.gf = 65536;
    let wide = dir.join("wide.safetensors");
    weights::write(&wide, &tensors, dcgan_inpaint::model::weights::base_metadata(&arch, "weights"), false).unwrap();
    let (code, text) = run(&["sample", "--weights", s(&wide), "--out", s(&dir.join("s.png"))]);
    assert!(code == 1 && text.contains("wide.safetensors") && text.contains("too large for this adapter"), "{text}");
    let (code, text) = common::server::Server::refused(&["--weights", s(&wide)]);
    assert!(code == 1 && text.contains("too large for this adapter"), "serve: {text}");
}

/// Items 18-22: settings that make garbage are refused, by `quality` as by `complete`.
#[test]
fn settings_that_make_garbage_are_refused() {
    let dir = scratch("garbage");
    let data = fixtures().join("images");
    let (tiny, out) = (tiny(), dir.join("c"));
    let quality = |extra: &[&str]| {
        let mut args = vec!["quality", "--weights", s(&tiny), "--data", s(&data), "--limit", "1", "--iters", "1"];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, want) in [
        (vec!["--lr", "nan"], "--lr"),
        (vec!["--hybrid-weight", "nan"], "--hybrid-weight"),
        (vec!["--ilo-layers", "99"], "--ilo-layers 99"),
        (vec!["--window", "1000"], "--weighted-window 1000"),
        (vec!["--mask", "bogus"], "--mask bogus"),
        (vec!["--lam", "3e38"], "--lam"),
    ] {
        let (code, text) = quality(&extra);
        assert!(code == 1 && text.contains(want), "quality {extra:?}: {text}");
    }
    let input = fixtures().join("model/input0.png");
    for (extra, want) in [(vec!["--lr", "3e38"], "--lr must be a number in (0, 1]"), (vec!["--lam", "3e38"], "--lam must be a number from 0 to 10"), (vec!["--iters", "-1"], "invalid value '-1'")] {
        let mut args = vec!["complete", s(&input), "--weights", s(&tiny), "--out", s(&out)];
        args.extend_from_slice(&extra);
        let (code, text) = run(&args);
        assert!(code != 0 && text.contains(want), "complete {extra:?}: {text}");
    }
    let (code, text) = run(&["train", "--data", s(&data), "--image-size", "16", "--channels", "1", "--gf", "8", "--df", "8", "--kernel", "4", "--batch", "2", "--steps", "1", "--g-steps", "1000000000", "--out", s(&dir.join("g"))]);
    assert!(code == 1 && text.contains("--g-steps must be at most"), "{text}");

    // #19: a negative batchnorm variance.
    let file = weights::read(&tiny).unwrap();
    let tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), if n == "g.bn1.running_var" { vec![-1.0; d.len()] } else { d.clone() })).collect();
    let negative = dir.join("negvar.safetensors");
    weights::write(&negative, &tensors, file.metadata.clone(), false).unwrap();
    let (code, text) = run(&["sample", "--weights", s(&negative), "--out", s(&dir.join("s.png"))]);
    assert!(code == 1 && text.contains("g.bn1.running_var") && text.contains("never negative"), "{text}");
    assert!(!dir.join("s.png").exists());

    // #20: export --f16 of a value past f16's range.
    let tensors: Vec<_> = file.tensors.iter().map(|(n, (sh, d))| (n.clone(), sh.clone(), if n == "g.fc.weight" { vec![70000.0; d.len()] } else { d.clone() })).collect();
    let mut meta = file.metadata.clone();
    meta.insert("kind".into(), "checkpoint".into());
    let big = dir.join("big.safetensors");
    weights::write(&big, &tensors, meta, false).unwrap();
    let (code, text) = run(&["export", "--checkpoint", s(&big), "--out", s(&dir.join("w16.safetensors")), "--f16"]);
    assert!(code == 1 && text.contains("g.fc.weight") && text.contains("without --f16"), "{text}");
    assert!(!dir.join("w16.safetensors").exists());
    let (code, text) = run(&["export", "--checkpoint", s(&big), "--out", s(&dir.join("w32.safetensors"))]);
    assert_eq!(code, 0, "without --f16 it is exported: {text}");
}

fn train_args<'a>(data: &'a str, out: &'a str, batch: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec!["train", "--data", data, "--image-size", "16", "--channels", "1", "--gf", "8", "--df", "8", "--kernel", "4", "--batch", batch, "--steps", steps, "--sample-every", "1", "--out", out]
}

/// Items 24-26: a training run's output inside its data folder is never trained on, and
/// `--resume` refuses data other than the checkpoint's.
#[test]
fn training_data_never_includes_a_run_s_output_and_resume_keeps_its_data() {
    let dir = scratch("train-data");
    let d = dir.join("d");
    std::fs::create_dir_all(&d).unwrap();
    for f in ["s37_01.png", "s38_04.png", "s39_07.png", "s40_10.png"] {
        std::fs::copy(face(f), d.join(f)).unwrap();
    }
    let run1 = d.join("run");
    let (code, text) = run(&train_args(s(&d), s(&run1), "2", "2"));
    assert_eq!(code, 0, "{text}");
    // The grids and loss.png of the first run are not training images of the second: a
    // batch of 5 needs 5 images, and the data holds 4.
    let (code, text) = run(&train_args(s(&d), s(&d.join("run2")), "5", "1"));
    assert!(code == 1 && text.contains("holds 4 images"), "{text}");
    // --out that holds the data is refused.
    let (code, text) = run(&train_args(s(&d), s(&dir), "2", "1"));
    assert!(code == 1 && text.contains("is the data folder"), "{text}");
    // #25/#26: resume on other data.
    std::fs::write(d.join("extra.png"), std::fs::read(face("s38_04.png")).unwrap()).unwrap();
    let mut args = train_args(s(&d), s(&run1), "2", "4");
    args.push("--resume");
    let (code, text) = run(&args);
    assert!(code == 1 && text.contains("the training data changed"), "{text}");
    std::fs::remove_file(d.join("extra.png")).unwrap();
    let (code, text) = run(&args);
    assert_eq!(code, 0, "the same data resumes: {text}");
    let mut other = train_args(s(&d), s(&run1), "2", "5");
    other.extend(["--resume", "--flip"]);
    let (code, text) = run(&other);
    assert!(code == 0 && text.contains("warning: --resume with flip true"), "a changed setting is said: {text}");
}

/// Items 29-32: pipes in folders, or named as a mask or a log, never block a run.
#[test]
fn pipes_never_block_a_run() {
    let dir = scratch("fifos");
    let fd = dir.join("fd");
    std::fs::create_dir_all(&fd).unwrap();
    std::fs::copy(face("s37_01.png"), fd.join("a.png")).unwrap();
    mkfifo(&fd.join("f.png"));
    let (code, text) = run(&["complete", s(&fd), "--weights", s(&tiny()), "--iters", "1", "--out", s(&dir.join("o1"))]);
    assert!(code == 0 && text.contains("not a regular file") && text.contains("completed 1 image(s)"), "{text}");
    let (code, text) = run(&["complete", s(&fd.join("f.png")), "--weights", s(&tiny()), "--iters", "1", "--out", s(&dir.join("o2"))]);
    assert!(code == 1 && text.contains("not a regular file"), "{text}");
    let mask = dir.join("m.png");
    mkfifo(&mask);
    let (code, text) = run(&["complete", s(&face("s37_01.png")), "--weights", s(&tiny()), "--mask", s(&mask), "--iters", "1", "--out", s(&dir.join("o3"))]);
    assert!(code == 1 && text.contains("not a regular file"), "{text}");
    let log = dir.join("l.csv");
    mkfifo(&log);
    let (code, text) = run(&["plot", "--log", s(&log), "--out", s(&dir.join("p.png"))]);
    assert!(code == 1 && text.contains("not a regular file"), "{text}");
    let (code, text) = run(&["plot", "--log", "/dev/zero", "--out", s(&dir.join("p.png"))]);
    assert!(code == 1 && text.contains("not a regular file"), "{text}");
    // Training data with a pipe among the images: the pipe is passed over, with a warning.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["s37_01.png", "s38_04.png"] {
        std::fs::copy(face(f), data.join(f)).unwrap();
    }
    mkfifo(&data.join("f.png"));
    let (code, text) = run(&train_args(s(&data), s(&dir.join("t")), "2", "1"));
    assert!(code == 0 && text.contains("not a regular file"), "{text}");
}

/// Weak errors of the report: each now names the problem and the fix.
#[test]
fn weak_errors_name_the_problem_and_the_fix() {
    let dir = scratch("weak");
    let input = face("s37_01.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["complete".into(), s(&input).into(), "--out".into(), s(&input).into()], "is a file; --out names a folder"),
        (vec!["complete".into(), s(&input).into(), "--mask-dir".into(), s(&dir.join("nonexist")).into(), "--out".into(), s(&dir.join("o")).into()], "--mask-dir"),
        (vec!["complete".into(), s(&input).into(), "--mask-dir".into(), s(&input).into(), "--out".into(), s(&dir.join("o")).into()], "is not a folder"),
        (vec!["plot".into(), "--log".into(), s(&fixtures().join("model/input0.png")).into(), "--out".into(), s(&dir.join("nonexist/p.png")).into()], "the folder"),
        (vec!["train".into(), "--data".into(), s(&fixtures().join("images")).into(), "--out".into(), s(&input).into()], "is a file; --out names a folder"),
    ];
    for (args, want) in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = run(&refs);
        assert!(code == 1 && text.contains(want), "{args:?}: {text}");
    }
    let csv = dir.join("other.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    let (code, text) = run(&["plot", "--log", s(&csv), "--out", s(&dir.join("p.png"))]);
    assert!(code == 1 && text.contains("step,epoch,d_loss,g_loss,images_per_s"), "{text}");
    let grey = dir.join("grey.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([127])).save(&grey).unwrap();
    let (code, text) = run(&["complete", s(&input), "--mask", s(&grey), "--out", s(&dir.join("o"))]);
    assert!(code == 1 && text.contains("128"), "the threshold is named: {text}");
    let (_, text) = run(&["complete", s(&input), "--hybrid-weight", "0.5", "--iters", "1", "--weights", s(&tiny()), "--out", s(&dir.join("o4"))]);
    assert!(text.contains("--hybrid-weight only applies to --blend hybrid"), "{text}");
}

/// Start `args`, wait until a line of its stderr contains `said` (it is at work), send
/// SIGTERM; returns its exit code.
fn terminate_at_work(args: &[&str], said: &str) -> i32 {
    let mut child = cli().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains(said)), "{args:?} never said '{said}'");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    finish(child, Duration::from_secs(300)).0
}

/// Signals: short commands stop on SIGTERM too, and never leave a failure code next to a
/// complete file (either the work finished and exits 0, or it stopped and wrote nothing).
#[test]
fn sample_and_bench_stop_on_a_signal() {
    let dir = scratch("signals");
    let out = dir.join("s.png");
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/olivetti-64.safetensors");
    let code = terminate_at_work(&["sample", "--weights", s(&weights), "--n", "10000", "--out", s(&out)], "generating 10000 image(s)");
    assert!((code == 143 && !out.exists()) || (code == 0 && out.is_file()), "exit {code}, file written: {}", out.exists());
    let json = dir.join("b.json");
    let code = terminate_at_work(&["bench", "--image-size", "16", "--width", "8", "--kernel", "4", "--batch", "4", "--reps", "1000", "--json", s(&json)], "timing");
    assert!((code == 143 && !json.exists()) || (code == 0 && json.is_file()), "exit {code}, report written: {}", json.exists());
}
