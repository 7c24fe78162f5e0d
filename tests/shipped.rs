//! The shipped weights load through the documented format, and the README's main job runs
//! on the shipped examples (with few iterations here; the README's run uses --quick).

use std::path::Path;
use std::process::Command;

use dcgan_inpaint::model::Architecture;
use dcgan_inpaint::io::weights;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_weights_have_the_documented_architecture_and_tensors() {
    for (file, channels) in [("olivetti-64.safetensors", 1), ("twemoji-64.safetensors", 3)] {
        let w = weights::read(&root().join("weights").join(file)).unwrap();
        let want = Architecture { image_size: 64, channels, z_dim: 100, gf: 32, df: 32, kernel: 4 };
        dcgan_inpaint::model::weights::expect_architecture(&w, &want).unwrap();
        assert_eq!(w.meta("kind").unwrap(), "weights");
        for name in ["g.fc.weight", "g.bn0.running_var", "g.deconv4.weight", "g.bn3.weight", "d.conv0.weight", "d.bn3.running_mean", "d.fc.bias"] {
            assert!(w.tensors.contains_key(name), "{file}: {name} missing");
        }
        assert_eq!(w.tensors["g.deconv4.weight"].0, [32, channels, 4, 4]); // [gf, c, k, k]
        assert_eq!(w.tensors["d.fc.weight"].0, [1, 256 * 16]);
        // The encoder that starts each completion: it reads the known pixels and the mask.
        assert_eq!(w.tensors["e.conv0.weight"].0, [32, channels + 1, 4, 4]);
        assert_eq!(w.tensors["e.fc.weight"].0, [100, 256 * 16]);
        let about: serde_json::Value = serde_json::from_str(w.meta("encoder").unwrap()).unwrap();
        assert!(about["steps"].as_u64().unwrap() >= 1000 && about["interrupted"] == false, "{file}: {about}");
        assert!(w.tensors.values().all(|(_, v)| v.iter().all(|x| x.is_finite())), "{file}: non-finite values");
    }
}

#[test]
fn the_main_job_completes_the_shipped_examples() {
    let out = std::env::temp_dir().join(format!("dcgan-inpaint-main-job-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Run from another folder: the default weights must still be found.
    let o = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .current_dir(std::env::temp_dir())
        .args(["complete", root().join("weights/examples/faces").to_str().unwrap(), "--iters", "3", "--frames-every", "0"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("summary.png"), "the job must say where the results are: {stdout}");
    assert!(out.join("summary.png").exists() && out.join("s37_01/completed.png").exists());
}
