//! Every shader in shaders/ parses and validates with naga before any GPU is touched.

use dcgan_inpaint::gpu::Family;
use dcgan_inpaint::gpu::pipelines::validate_wgsl;

#[test]
fn every_shader_file_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("shaders/ folder") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let source = std::fs::read_to_string(&path).unwrap();
            let shown = format!("shaders/{}", path.file_name().unwrap().to_string_lossy());
            if let Err(e) = validate_wgsl(&source, &shown) {
                failures.push(e);
            }
            seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failures.is_empty(), "invalid shaders:\n{}", failures.join("\n"));
    // Every file is a registered family and every family has its file.
    for family in Family::ALL {
        assert!(seen.iter().any(|s| s == family.file_name()), "{} is missing", family.file_name());
    }
    for file in &seen {
        assert!(Family::ALL.iter().any(|f| f.file_name() == file), "shaders/{file} is not registered in gpu::Family");
    }
}

#[test]
fn a_broken_shader_is_reported_with_file_and_line() {
    let source = "struct P { n: u32 }\n@compute @workgroup_size(64)\nfn main() { let x: f32 = 1u; }\n";
    let err = validate_wgsl(source, "shaders/broken.wgsl").unwrap_err();
    assert!(err.contains("shaders/broken.wgsl:3"), "error should name file and line:\n{err}");
}
