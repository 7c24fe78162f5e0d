//! docs/tutorial.md cannot rot: every `dcgan-inpaint` command in its shell blocks runs, in
//! order, at a tiny size (2 training steps, 1 update of z, 4 samples), with its outputs under
//! a scratch folder instead of `runs/tutorial`; every function it links to (``[`name`](../src/…)``)
//! exists in the file it names; every picture it shows exists.

mod common;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tutorial() -> String {
    std::fs::read_to_string(root().join("docs/tutorial.md")).expect("docs/tutorial.md")
}

/// A command line split as a shell would (single quotes keep spaces).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The lines of the ```sh blocks, in order: `dcgan-inpaint` commands (without the program
/// name) and `mkdir -p` lines (kept whole, to tell them apart).
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut in_block = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_block = t == "```sh";
            continue;
        }
        if in_block {
            let w = words(t);
            match w.first().map(String::as_str) {
                Some("dcgan-inpaint") => out.push(w[1..].to_vec()),
                Some("mkdir") if w.get(1).map(String::as_str) == Some("-p") => out.push(w),
                _ => panic!("a shell line of the tutorial that is neither a dcgan-inpaint command nor mkdir -p: {t}"),
            }
        }
    }
    out
}

/// The tiny-size form of a command: fewer steps, updates and samples, outputs in `scratch`.
fn tiny(args: &[String], scratch: &Path) -> Vec<String> {
    let small = |flag: &str| match flag {
        "--steps" => Some("2"),
        "--iters" => Some("1"),
        "--n" => Some("4"),
        "--sample-every" => Some("1"),
        "--frames-every" => Some("1"),
        _ => None,
    };
    let mut out: Vec<String> = Vec::new();
    for a in args {
        let value = match out.last().and_then(|flag| small(flag)) {
            Some(v) => v.to_string(),
            None => match a.strip_prefix("runs/tutorial") {
                Some(rest) => format!("{}{rest}", scratch.display()),
                None => a.clone(),
            },
        };
        out.push(value);
    }
    out
}

#[test]
fn every_command_of_the_tutorial_runs_at_a_tiny_size() {
    let text = tutorial();
    // Not created: the commands must make what they need, as in a fresh clone.
    let scratch = common::scratch("tutorial").join("runs-tutorial");
    let all = commands(&text);
    let names: Vec<&str> = all.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(names, ["mkdir", "sample", "train", "plot", "export", "complete", "complete"], "the tutorial's commands changed: update this list and tools/tutorial_pictures.sh");
    for args in &all {
        let args = tiny(args, &scratch);
        if args[0] == "mkdir" {
            for dir in &args[2..] {
                std::fs::create_dir_all(dir).unwrap();
            }
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(&args).current_dir(root()).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "dcgan-inpaint {}:\n{said}", args.join(" "));
    }
    // What the pictures are made from exists.
    for file in ["samples.png", "train/log.csv", "train/samples/step_000002.png", "loss.png", "faces-32.safetensors", "complete/summary.png", "complete-poisson/summary.png"] {
        assert!(scratch.join(file).is_file(), "the tutorial's commands wrote no {file}");
    }
}

#[test]
fn every_function_and_picture_the_tutorial_names_exists() {
    let text = tutorial();
    let mut checked = 0;
    // [`name`](../src/path.rs)
    for piece in text.split("[`").skip(1) {
        let Some((name, rest)) = piece.split_once("`](") else { continue };
        let Some((target, _)) = rest.split_once(')') else { continue };
        let Some(path) = target.strip_prefix("../") else { continue };
        if !path.starts_with("src/") {
            continue;
        }
        let source = std::fs::read_to_string(root().join(path)).unwrap_or_else(|_| panic!("the tutorial links {path}, which does not exist"));
        let defined = ["fn", "struct", "enum"].iter().any(|kind| source.contains(&format!("{kind} {name}(")) || source.contains(&format!("{kind} {name} ")) || source.contains(&format!("{kind} {name}<")));
        assert!(defined, "the tutorial links `{name}` to {path}, which defines no fn, struct or enum of that name");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} code links found");
    // ![...](tutorial/x.png)
    let mut pictures = 0;
    for piece in text.split("](tutorial/").skip(1) {
        let file = piece.split(')').next().unwrap();
        assert!(root().join("docs/tutorial").join(file).is_file(), "the tutorial shows docs/tutorial/{file}, which does not exist (tools/tutorial_pictures.sh makes it)");
        pictures += 1;
    }
    assert!(pictures >= 7, "only {pictures} pictures found");
}
