//! Large image sets: `complete --shard K/N` splits the inputs with no coordinator and the
//! shards' `report` merges them into what one process gives; a killed run finishes with
//! `--resume`, every image done once; an unreadable file fails alone. (The same on a real
//! Slurm cluster: tools/slurm/test.sh, which .ci/run runs.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::scratch;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/tiny.safetensors")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(args).stdin(Stdio::null()).output().expect("dcgan-inpaint runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "a panic: {text}");
    (out.status.code().unwrap_or(-1), text)
}

/// `n` faces of the bundled set (s01..) in two subfolders, as a user's tree of inputs.
fn faces(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("inputs");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/olivetti");
    let mut all: Vec<PathBuf> = walk(&data).into_iter().filter(|p| p.extension().is_some_and(|e| e == "png")).collect();
    all.sort();
    for (k, file) in all.iter().take(n).enumerate() {
        let sub = root.join(if k % 2 == 0 { "even" } else { "odd" });
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(file, sub.join(file.file_name().unwrap())).unwrap();
    }
    root
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// The finished results under a run folder, by image name.
fn results(out: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| {
            let r = p.join("result.png");
            r.is_file().then(|| (p.file_name().unwrap().to_string_lossy().into_owned(), r))
        })
        .collect();
    found.sort();
    found
}

fn pixels(p: &Path) -> Vec<u8> {
    image::open(p).unwrap().to_luma8().into_raw()
}

const FAST: [&str; 6] = ["--iters", "3", "--ilo-layers", "0", "--frames-every", "0"];

#[test]
fn shards_split_the_inputs_and_report_merges_what_one_process_gives() {
    let dir = scratch("shards");
    let inputs = faces(&dir, 12);
    let single = dir.join("single");
    let (code, text) = run(&[&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&single), "--eval"][..], &FAST].concat());
    assert_eq!(code, 0, "{text}");
    let whole = results(&single);
    assert_eq!(whole.len(), 12);

    let mut seen = Vec::new();
    let mut runs = Vec::new();
    for k in 0..3 {
        let out = dir.join(format!("shard-{k}"));
        let shard = format!("{k}/3");
        let (code, text) = run(&[&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out), "--shard", &shard, "--eval"][..], &FAST].concat());
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(&format!("shard {k} of 3 (--shard)")), "says which shard: {text}");
        seen.extend(results(&out));
        runs.push(out);
    }
    // Every input in exactly one shard, and its result what the single process made.
    let mut names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, whole.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
    for (name, path) in &seen {
        let (_, alone) = whole.iter().find(|(n, _)| n == name).unwrap();
        let worst = pixels(path).iter().zip(pixels(alone)).map(|(a, b)| a.abs_diff(b)).max().unwrap();
        assert!(worst <= 2, "{name}: a shard's result differs from the single run's by {worst}/255");
    }
    // The same shard from the environment of a Slurm array task.
    let env_out = dir.join("from-env");
    let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args([&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&env_out)][..], &FAST].concat())
        .envs([("SLURM_ARRAY_TASK_ID", "11"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "3")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("shard 1 of 3 (Slurm: SLURM_ARRAY_TASK_ID=11"), "{text}");
    assert_eq!(results(&env_out).iter().map(|(n, _)| n).collect::<Vec<_>>(), results(&runs[1]).iter().map(|(n, _)| n).collect::<Vec<_>>());

    // report: all 12, nothing missing or doubled, one contact sheet, the mean.
    let merged = dir.join("report");
    let mut args = vec!["report".to_string()];
    args.extend(runs.iter().map(|r| s(r).to_string()));
    args.extend(["--out".into(), s(&merged).into(), "--against".into(), s(&single).into()]);
    let (code, text) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{text}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(merged.join("report.json")).unwrap()).unwrap();
    assert_eq!((report["images"].as_array().unwrap().len(), report["inputs"].as_u64()), (12, Some(12)), "{report}");
    assert!(report["missing"].as_array().unwrap().is_empty() && report["duplicates"].as_array().unwrap().is_empty(), "{report}");
    assert!(report["mean"]["psnr"].as_f64().is_some_and(|p| p > 5.0), "{report}");
    assert_eq!(report["compared"], 12, "{report}");
    assert!(report["worst_difference"].as_u64().is_some_and(|w| w <= 2) && text.contains("12 image(s) compared"), "{report} {text}");
    assert!(merged.join("contact-001.png").is_file() && std::fs::read_to_string(merged.join("report.md")).unwrap().contains("| **mean** |"));

    // A shard's folder left out: report names the shard, and says so in its exit status.
    let (code, text) = run(&["report", s(&runs[0]), s(&runs[1]), "--out", s(&dir.join("report-2"))]);
    let partial: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report-2/report.json")).unwrap()).unwrap();
    assert_eq!(partial["inputs"].as_u64(), Some(12 - results(&runs[2]).len() as u64), "{partial}");
    assert_eq!(partial["missing_shards"], serde_json::json!(["2/3"]), "{partial}");
    assert!(code == 2 && text.contains("shard(s) 2/3"), "{text}");
}

/// Kill `complete` after its first result, then `--resume`: the results written before the
/// kill stay as they are, the rest are completed, each image once.
#[test]
fn a_killed_run_resumes_with_every_image_done_once() {
    let dir = scratch("resume");
    let inputs = faces(&dir, 10);
    let out = dir.join("out");
    // Two images per batch, so results appear one batch at a time.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args(["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out), "--batch", "2", "--iters", "300", "--ilo-layers", "0", "--frames-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while out.is_dir().then(|| results(&out).len()).unwrap_or(0) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "complete ended before its first result was seen");
        assert!(Instant::now() < deadline, "no result within 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = results(&out);
    let kept: Vec<(String, std::time::SystemTime, Vec<u8>)> = before.iter().map(|(n, p)| (n.clone(), std::fs::metadata(p).unwrap().modified().unwrap(), std::fs::read(p).unwrap())).collect();
    eprintln!("killed with {} of 10 results", before.len());
    // No half result: every image folder with files but no result is redone.
    let (code, text) = run(&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out), "--batch", "2", "--iters", "300", "--ilo-layers", "0", "--frames-every", "0", "--resume"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("resume: {} of 10 inputs already have a result", before.len())), "{text}");
    let after = results(&out);
    assert_eq!(after.len(), 10, "every image is done: {after:?}");
    for (name, modified, bytes) in &kept {
        let path = out.join(name).join("result.png");
        assert_eq!((std::fs::metadata(&path).unwrap().modified().unwrap(), std::fs::read(&path).unwrap()), (*modified, bytes.clone()), "{name} was redone");
    }
    let account: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!((account["completed"].as_array().unwrap().len(), account["resumed"].as_array().unwrap().len()), (10 - before.len(), before.len()), "{account}");
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["images"].as_array().unwrap().len(), 10, "metrics.json covers every image");
    // Resuming a finished run does nothing.
    let (code, text) = run(&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out), "--resume", "--iters", "3"]);
    assert!(code == 0 && text.contains("resume: 10 of 10"), "{text}");
    // --resume and --overwrite contradict each other.
    let (code, text) = run(&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out), "--resume", "--overwrite"]);
    assert!(code == 1 && text.contains("pass one of them"), "{text}");
}

/// A file that cannot be read fails alone: the others are completed, the exit status is 2,
/// run.json and `report` name it.
#[test]
fn an_unreadable_input_fails_alone() {
    let dir = scratch("unreadable");
    let inputs = faces(&dir, 3);
    std::fs::write(inputs.join("even/broken.png"), b"not a picture").unwrap();
    let out = dir.join("out");
    let (code, text) = run(&[&["complete", s(&inputs), "--weights", s(&tiny()), "--out", s(&out)][..], &FAST].concat());
    assert!(code == 2 && text.contains("broken.png"), "{code}: {text}");
    assert_eq!(results(&out).len(), 3);
    let (code, _) = run(&["report", s(&out), "--out", s(&dir.join("report"))]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report/report.json")).unwrap()).unwrap();
    assert_eq!(code, 2);
    assert_eq!(report["failed"][0][0], "even/broken.png", "{report}");
}
