//! Every shader in shaders/ parses and validates with naga, for every element type the
//! pipeline cache compiles it with, before any GPU is touched; and every file is a family
//! some op runs.

use dcgan_inpaint::engine::gpu::Element;
use dcgan_inpaint::engine::gpu::pipelines::validate_wgsl;
use dcgan_inpaint::engine::ops::conv::tiled;

/// The Rust sources under src/, concatenated (to find `family!("...")` declarations).
fn sources(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).expect("src/ folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).expect("a source file"));
        }
    }
}

#[test]
fn every_shader_file_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut src = String::new();
    sources(&root.join("src"), &mut src);
    let mut failures = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("shaders")).expect("shaders/ folder") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).unwrap();
            // The tiled sets' shader takes its tile shape as appended constants.
            let constant_sets: &[&str] = if file == "conv_tiled.wgsl" { tiled::constants() } else { &[""] };
            for constants in constant_sets {
                for element in Element::ALL {
                    let compiled = format!("{source}\n{constants}{}", element.prelude());
                    if let Err(e) = validate_wgsl(&compiled, &format!("shaders/{file} ({element:?})")) {
                        failures.push(e);
                    }
                }
            }
            assert!(src.contains(&format!("family!(\"{file}\")")), "shaders/{file} is not declared by any op (family!(\"{file}\"))");
            seen += 1;
        }
    }
    assert!(seen >= 11, "only {seen} shader files found");
    assert!(failures.is_empty(), "invalid shaders:\n{}", failures.join("\n"));
}

#[test]
fn a_broken_shader_is_reported_with_file_and_line() {
    let source = "struct P { n: u32 }\n@compute @workgroup_size(64)\nfn main() { let x: f32 = 1u; }\n";
    let err = validate_wgsl(source, "shaders/broken.wgsl").unwrap_err();
    assert!(err.contains("shaders/broken.wgsl:3"), "error should name file and line:\n{err}");
}
