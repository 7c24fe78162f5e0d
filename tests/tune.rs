//! `--kernels auto`: every runnable set is timed once per product and shape, the winner is
//! cached on disk and obeyed by the next process; a corrupt cache is ignored with a warning;
//! `--retune` measures again; a fixed set bypasses it. No check depends on which set wins:
//! the winners are read back from the cache, or written into it by hand.

mod common;

use std::process::Command;

use common::scratch;
use dcgan_inpaint::engine::gpu::AdapterChoice;
use dcgan_inpaint::engine::ops::conv::{self, ConvGeometry, Padding};
use dcgan_inpaint::engine::tune::{self, TuneCache};
use dcgan_inpaint::rng::Rng;
use dcgan_inpaint::{Gpu, Tensor};

fn tuned(cache: &std::path::Path, retune: bool) -> Gpu {
    let choice = AdapterChoice { tune_cache: Some(TuneCache::File(cache.to_path_buf())), retune, ..AdapterChoice::default() };
    Gpu::new(&choice).expect("the adapter")
}

/// A small conv forward, run once (measuring where it must: not inside a trace), then
/// traced; returns the set that ran it and the result.
fn forward(gpu: &Gpu) -> (&'static str, Vec<f32>) {
    let mut rng = Rng::new(5);
    let g = ConvGeometry::conv2d(&[2, 3, 12, 12], &[8, 3, 5, 5], 2, Padding::same(12, 12, 5, 2));
    let x = Tensor::from_slice(gpu, &g.img_shape(), &rng.uniform_vec(2 * 3 * 144, -1.0, 1.0));
    let w = Tensor::from_slice(gpu, &g.weight_shape(), &rng.uniform_vec(8 * 3 * 25, -1.0, 1.0));
    conv::conv2d_forward(gpu, &x, &w, None, &g);
    let (y, ran) = gpu.trace_variants(|| conv::conv2d_forward(gpu, &x, &w, None, &g));
    assert_eq!(ran.len(), 1, "{ran:?}");
    (ran[0].1, y.to_vec(gpu))
}

fn key() -> String {
    let g = ConvGeometry::conv2d(&[2, 3, 12, 12], &[8, 3, 5, 5], 2, Padding::same(12, 12, 5, 2));
    tune::product_key("conv2d_forward", &g.key())
}

fn cache_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the cache was written")).expect("the cache is JSON")
}

#[test]
fn auto_times_every_runnable_set_once_and_the_next_process_obeys_the_cache() {
    let dir = scratch("measure");
    let cache = dir.join("kernels.json");
    let gpu = tuned(&cache, false);
    let tuner = gpu.tuning().expect("--kernels auto tunes");
    let runnable: Vec<&str> = gpu.enabled_sets().iter().map(|s| s.name).collect();
    assert!(runnable.len() >= 2 && runnable.contains(&"portable"), "a tuning device chooses among the sets its adapter runs: {runnable:?}");

    // Measured now: every runnable set has a time, and the winner is what ran.
    gpu.finish();
    let (set, first) = forward(&gpu);
    let choice = tuner.get(&key()).expect("the shape was measured");
    assert_eq!(choice.ms.len(), runnable.len(), "{choice:?}");
    assert_eq!(choice.set, set);
    assert_eq!(tuner.stats().shapes_tuned, 1);
    // The same shape again: nothing measured, the same set.
    let (again, _) = forward(&gpu);
    assert_eq!((again, tuner.stats().shapes_tuned), (set, 1));

    // On disk, under this adapter's key.
    let json = cache_json(&cache);
    let device = json["devices"].as_object().expect("devices").keys().next().expect("one device").clone();
    assert!(device.contains(&gpu.info.name) && device.contains("portable"), "{device}");
    assert_eq!(json["devices"][&device][key()]["set"], set);

    // Name another set as the winner by hand: a new device runs that one, measuring nothing.
    let other = runnable.iter().copied().find(|s| *s != set).expect("two sets");
    let mut edited = json.clone();
    edited["devices"][&device][key()]["set"] = other.into();
    std::fs::write(&cache, serde_json::to_string(&edited).unwrap()).unwrap();
    let next = tuned(&cache, false);
    let (ran, second) = forward(&next);
    assert_eq!((ran, next.tuning().unwrap().stats().shapes_tuned), (other, 0));
    common::assert_close(&format!("{other} against {set}"), &second, &first, 1e-5, 1e-5);

    // --retune measures again and rewrites the entry.
    let retuned = tuned(&cache, true);
    assert!(retuned.tuning().unwrap().get(&key()).is_none(), "--retune starts from nothing");
    forward(&retuned);
    assert_eq!(retuned.tuning().unwrap().stats().shapes_tuned, 1);
}

#[test]
fn a_fixed_kernel_set_or_tuning_off_measures_nothing_and_a_trace_never_measures() {
    let fixed = Gpu::new(&AdapterChoice { kernels: Some("tiled32".into()), ..AdapterChoice::default() }).unwrap();
    assert!(fixed.tuning().is_none());
    assert_eq!(forward(&fixed).0, "tiled32");
    let off = Gpu::new(&AdapterChoice { tune_cache: Some(TuneCache::Off), ..AdapterChoice::default() }).unwrap();
    assert!(off.tuning().is_none());
    assert_eq!(forward(&off).0, off.kernels.name, "untuned auto runs the registry's first runnable set");
    // Inside a trace nothing is measured (it would be traced); the registry's order runs.
    let dir = scratch("traced");
    let gpu = tuned(&dir.join("kernels.json"), false);
    let g = ConvGeometry::conv2d(&[1, 2, 6, 6], &[4, 2, 3, 3], 1, Padding::uniform(1));
    let (x, w) = (Tensor::zeros(&gpu, &g.img_shape()), Tensor::zeros(&gpu, &g.weight_shape()));
    let (_, ran) = gpu.trace_variants(|| conv::conv2d_forward(&gpu, &x, &w, None, &g));
    assert_eq!((ran[0].1, gpu.tuning().unwrap().stats().shapes_tuned), (gpu.kernels.name, 0));
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored_with_one_warning_and_replaced() {
    let dir = scratch("corrupt");
    for (name, text) in [("garbage.json", "{ not json"), ("foreign.json", r#"{"format": "someone else's v9", "devices": {}}"#)] {
        let cache = dir.join(name);
        std::fs::write(&cache, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).arg("info").env("DCGAN_TUNE_CACHE", &cache).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stderr.matches("ignoring the kernel tuning cache").count(), 1, "{stderr}");
        assert!(stderr.contains(&cache.display().to_string()), "{stderr}");
        assert!(stdout.contains("Tuning cache:") && stdout.contains("0 product shapes measured"), "{stdout}");
        // .ci/run reads the sets the tests must run off this line.
        let runnable = stdout.lines().find_map(|l| l.trim().strip_prefix("runnable:")).expect("info names the runnable sets").trim();
        let tuned_device = tuned(&dir.join("other.json"), false);
        let enabled: Vec<&str> = tuned_device.enabled_sets().iter().map(|s| s.name).collect();
        assert_eq!(runnable, enabled.join(","), "info's runnable sets are the ones auto tunes among");
        // The first measurement replaces it with a valid cache.
        let gpu = tuned(&cache, false);
        forward(&gpu);
        assert_eq!(cache_json(&cache)["format"], "dcgan-inpaint kernel tuning v1");
    }
}
