//! The tree's floors (src/lib.rs): imports only point down. engine and io are the ground
//! floor, side by side: engine (the GPU) knows nothing above it, io (file formats, pictures)
//! knows no GPU and no model. model uses engine and io, inpaint (the completion pipeline)
//! uses those below it, and no job imports another.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file under src/, a `crate::` path it names that its floor may not use)
fn violations() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let jobs = ["train", "sample", "complete", "bench", "serve", "calibrate"];
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        let forbidden: Vec<String> = match rel.split('/').next().unwrap() {
            "engine" => vec!["crate::model".into(), "crate::io".into(), "crate::inpaint".into(), "crate::jobs".into()],
            "model" => vec!["crate::inpaint".into(), "crate::jobs".into()],
            "io" => vec!["crate::engine".into(), "crate::model".into(), "crate::inpaint".into(), "crate::jobs".into()],
            "inpaint" => vec!["crate::jobs".into()],
            "jobs" => {
                let own = rel.split('/').nth(1).unwrap_or("").trim_end_matches(".rs").to_string();
                jobs.iter().filter(|j| **j != own).map(|j| format!("crate::jobs::{j}")).collect()
            }
            _ => vec![],
        };
        // Inside the engine, the kernel-set registry sits below the GPU layer, which uses it
        // to pick a device's kernels: no import circle between them.
        let forbidden = if rel == "engine/variants.rs" { [forbidden, vec!["super::gpu".into(), "crate::engine::gpu".into()]].concat() } else { forbidden };
        for path in forbidden {
            if text.contains(&path) {
                bad.push((rel.clone(), path));
            }
        }
    }
    bad
}

#[test]
fn imports_point_down_the_layers() {
    let bad = violations();
    assert!(bad.is_empty(), "imports against the layers (src/lib.rs):\n{bad:#?}");
}
