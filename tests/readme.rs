//! The README's commands keep working in a fresh clone: its training command (for two steps)
//! and its quality-table command (on one image, one iteration) run on the data that comes
//! with the project (`data/olivetti`), exactly as written otherwise.

mod common;

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README's line that runs `dcgan-inpaint <command> --data data/...`, split as a shell
/// would (single quotes kept together), from the command on.
fn readme_command(command: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let needle = format!(" {command} --");
    let line = readme
        .lines()
        .find(|l| l.contains(&needle) && l.contains("--data data/"))
        .unwrap_or_else(|| panic!("the README has no `{command} --data data/...` command"));
    let start = line.find(&needle).unwrap() + 1;
    let text = line[start..].trim_end_matches('`');
    let mut args = Vec::new();
    let (mut word, mut quoted) = (String::new(), false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    args.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        args.push(word);
    }
    args
}

/// Replace the value of `flag` (which the command must have).
fn set(args: &mut [String], flag: &str, value: &str) {
    let at = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("the README's command has no {flag}: {args:?}"));
    args[at + 1] = value.to_string();
}

fn run(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(args).current_dir(root()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

#[test]
fn the_readme_s_training_command_trains_on_the_bundled_faces() {
    let out = common::scratch("readme-train");
    let mut args = readme_command("train");
    set(&mut args, "--steps", "2");
    set(&mut args, "--out", out.to_str().unwrap());
    let text = run(&args);
    assert!(text.contains("2 steps"), "{text}");
    assert!(out.join("checkpoint.safetensors").is_file() && out.join("log.csv").is_file());
}

#[test]
fn the_readme_s_quality_command_runs_on_the_bundled_faces() {
    let mut args = readme_command("quality");
    set(&mut args, "--iters", "1");
    args.extend(["--limit", "2", "--mask", "center", "--ilo-layers", "0"].map(String::from));
    let text = run(&args);
    assert!(text.contains("| center | DCGAN z (paper)"), "{text}");
}
