//! `bench --roofline`: the picture has both roofs and one point per timed kernel, the
//! report lists each kernel's fraction of its roof, the JSON carries the same, and the flag
//! is refused with --no-kernels or a picture format it cannot write. No check reads a time.

mod common;

use std::process::Command;

use common::scratch;

fn bench(args: &[&str]) -> (bool, String, String) {
    let tiny = ["bench", "--image-size", "16", "--width", "8", "--kernel", "4", "--batch", "2", "--reps", "1"];
    let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(tiny).args(args).env("DCGAN_TUNE_CACHE", "off").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_roofline_places_every_timed_kernel_under_both_roofs() {
    let dir = scratch("roofline");
    let (svg, png, json) = (dir.join("roofline.svg"), dir.join("roofline.png"), dir.join("bench.json"));
    let (ok, stdout, stderr) = bench(&["--roofline", svg.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let kernels = report["kernels"].as_array().unwrap();
    let points = report["roofline"]["points"].as_array().unwrap();
    assert_eq!(points.len(), kernels.len(), "one point per timed kernel");
    let roofs = &report["roofline"]["roofs"];
    assert!(roofs["gflops"].as_f64().unwrap() > 0.0 && roofs["gbps"].as_f64().unwrap() > 0.0, "{roofs}");
    for p in points {
        let (intensity, roof) = (p["intensity"].as_f64().unwrap(), p["roof_gflops"].as_f64().unwrap());
        let want = roofs["gflops"].as_f64().unwrap().min(intensity * roofs["gbps"].as_f64().unwrap());
        assert!((roof - want).abs() <= 1e-9 * want, "{p}");
        assert!((p["fraction"].as_f64().unwrap() - p["gflops"].as_f64().unwrap() / roof).abs() < 1e-9, "{p}");
    }
    // Every product of the training step is there, the completion's marked.
    let names: Vec<&str> = points.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["conv0 forward", "conv0 grad_input", "conv0 grad_weight", "deconv1 forward", "g.fc grad_weight", "batchnorm backward (train)"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(points.iter().any(|p| p["in_completion"] == true) && points.iter().any(|p| p["in_completion"] == false));

    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    assert_eq!(picture.matches("<circle").count(), points.len() + 6, "a circle per kernel, six in the legend");
    assert!(picture.contains("fma_peak") && picture.contains("stream_copy"), "both roofs are named");
    assert!(stdout.contains("roofline: peak") && stdout.contains("of roof"), "{stdout}");
    for name in &names {
        assert!(stdout.lines().any(|l| l.starts_with(name) && l.contains('%')), "{name} has no fraction of its roof in:\n{stdout}");
    }

    // The PNG form.
    let (ok, _, stderr) = bench(&["--roofline", png.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let img = image::open(&png).unwrap();
    assert!(img.width() > 400 && img.height() > 300);
}

#[test]
fn the_roofline_needs_the_kernel_table_and_an_svg_or_png() {
    let dir = scratch("roofline-refused");
    let (ok, _, stderr) = bench(&["--no-kernels", "--roofline", dir.join("r.svg").to_str().unwrap()]);
    assert!(!ok && stderr.contains("leave out --no-kernels"), "{stderr}");
    let (ok, _, stderr) = bench(&["--roofline", dir.join("r.gif").to_str().unwrap()]);
    assert!(!ok && stderr.contains("r.gif") && stderr.contains(".svg"), "{stderr}");
    assert!(!dir.join("r.svg").exists() && !dir.join("r.gif").exists());
}
