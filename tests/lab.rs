//! The Lab's API (`/api/v1/lab`): a tiny training run starts, advances and draws samples
//! that change; Pause stops it within one chunk; Step runs exactly one step and adds exactly
//! one loss row; a completion submitted while it trains finishes; bad requests are 4xx and
//! the server keeps serving. Every wait is for a state, never a duration.

mod common;

use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::json;

/// Poll the run until `done` holds (a state the worker reaches; the deadline only turns a
/// hang into a failure).
fn wait_for(server: &Server, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = server.get("/api/v1/lab");
        assert_eq!(r.status, 200, "{}", r.text());
        let run = r.json()["run"].clone();
        assert!(run["error"].is_null(), "the run failed: {run}");
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "the Lab never reached: {what}; last state {run}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn command(server: &Server, body: serde_json::Value) -> serde_json::Value {
    let r = server.post_json("/api/v1/lab", &body);
    assert_eq!(r.status, 200, "{body}: {}", r.text());
    r.json()["run"].clone()
}

fn step(run: &serde_json::Value) -> u64 {
    run["step"].as_u64().unwrap()
}

#[test]
fn a_tiny_run_trains_pauses_and_steps_one_at_a_time() {
    let server = Server::start(&[]);
    let lab = server.get("/api/v1/lab").json();
    assert_eq!(lab["run"]["step"], 0);
    assert!(lab["presets"].as_array().unwrap().iter().any(|p| p["name"] == "tiny"), "{lab}");
    let chunk = lab["chunk_steps"].as_u64().unwrap();

    command(&server, json!({ "action": "start", "preset": "tiny" }));
    let run = wait_for(&server, "step 12 with two sample grids", |r| step(r) >= 12 && r["samples"].as_array().unwrap().len() >= 2);
    let rows = run["rows"].as_array().unwrap();
    assert_eq!(rows.len() as u64, step(&run), "one loss row per step");
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row["step"].as_u64(), Some(k as u64 + 1));
        assert!(row["d_loss"].as_f64().unwrap().is_finite() && row["g_loss"].as_f64().unwrap().is_finite(), "{row}");
        // D(x) and D(G(z)) are the probabilities behind this step's D loss: by Jensen,
        // mean(-ln p) >= -ln(mean p), so the loss bounds them.
        let (real, fake, d_loss) = (row["d_real"].as_f64().unwrap(), row["d_fake"].as_f64().unwrap(), row["d_loss"].as_f64().unwrap());
        assert!(real > 0.0 && real < 1.0 && fake > 0.0 && fake < 1.0, "{row}");
        assert!(d_loss >= -real.ln() - (1.0 - fake).ln() - 1e-4, "D(x) and D(G(z)) do not match the D loss: {row}");
    }
    // Per-layer norms at every sample step: a weight and a gradient norm per trained layer.
    let layers = run["norm_layers"].as_array().unwrap();
    assert!(layers.contains(&json!("g.deconv1")) && layers.contains(&json!("d.conv0")) && layers.contains(&json!("g.bn0")), "{layers:?}");
    let norms = run["norms"].as_array().unwrap();
    assert!(norms.len() >= 2 && norms[0]["step"] == 1, "{norms:?}");
    for n in norms {
        for what in ["weights", "grads"] {
            let v = n[what].as_array().unwrap();
            assert_eq!(v.len(), layers.len());
            assert!(v.iter().all(|x| x.as_f64().is_some_and(|x| x.is_finite() && x > 0.0)), "{what} at step {}: {v:?}", n["step"]);
        }
    }

    // The samples of the fixed z change as it learns.
    let samples: Vec<u64> = run["samples"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let first = server.get(&format!("/api/v1/lab/samples/{}.png", samples[0]));
    let later = server.get(&format!("/api/v1/lab/samples/{}.png", samples[samples.len() - 1]));
    assert_eq!((first.status, &first.body[1..4], later.status), (200, &b"PNG"[..], 200));
    assert_ne!(first.body, later.body, "the sample grid did not change between steps {} and {}", samples[0], samples[samples.len() - 1]);

    // Step is refused while it trains by itself.
    let r = server.post_json("/api/v1/lab", &json!({ "action": "step" }));
    assert!(r.status == 409 && r.text().contains("pause it first"), "{} {}", r.status, r.text());

    // Pause: the worker finishes at most the chunk it is in. A Step then waits behind that
    // chunk; once it has run, nothing else does.
    let paused = command(&server, json!({ "action": "pause" }));
    assert_eq!(paused["running"], false);
    command(&server, json!({ "action": "step" }));
    let stopped = wait_for(&server, "the first Step taken", |r| r["pending_steps"] == 0);
    assert!(step(&stopped) <= step(&paused) + chunk + 1, "paused at {}, still ran to {} (chunks of {chunk})", step(&paused), step(&stopped));

    // Step: exactly one more step, exactly one more row, a new sample grid.
    let before = server.get("/api/v1/lab").json()["run"].clone();
    assert_eq!(step(&before), step(&stopped), "nothing ran while paused");
    command(&server, json!({ "action": "step" }));
    let after = wait_for(&server, "the second Step taken", |r| r["pending_steps"] == 0 && step(r) > step(&before));
    assert_eq!(step(&after), step(&before) + 1);
    assert_eq!(after["rows"].as_array().unwrap().len(), before["rows"].as_array().unwrap().len() + 1);
    assert!(after["samples"].as_array().unwrap().contains(&json!(step(&after))), "a Step draws the samples: {after}");
    let since = server.get(&format!("/api/v1/lab?since={}", step(&before))).json()["run"].clone();
    assert_eq!(since["rows"].as_array().unwrap().len(), 1, "rows after `since` only");
    assert_eq!(step(&server.get("/api/v1/lab").json()["run"]), step(&after), "nothing more ran");

    // Reset forgets the run.
    let reset = command(&server, json!({ "action": "reset" }));
    assert_eq!((step(&reset), reset["samples"].as_array().unwrap().len(), reset["preset"].is_null()), (0, 0, true));
    assert_eq!(server.get(&format!("/api/v1/lab/samples/{}.png", samples[0])).status, 404);
}

#[test]
fn a_completion_submitted_while_the_lab_trains_finishes() {
    let server = Server::start(&[]);
    command(&server, json!({ "action": "start", "preset": "tiny" }));
    wait_for(&server, "training under way", |r| step(r) >= 1);
    let image = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces/s37_01.png");
    let body = json!({ "image": common::server::base64_file(&image), "preset": "center", "options": { "iters": 10, "ilo_layers": 0 } });
    let started = Instant::now();
    let job = server.post_json("/api/v1/jobs", &body);
    assert_eq!(job.status, 202, "{}", job.text());
    let events = server.events(job.json()["events"].as_str().unwrap(), |_, _| true);
    assert_eq!(events.last().map(|(e, _)| e.as_str()), Some("done"), "{events:?}");
    eprintln!("a 10-iteration completion while the Lab trained: {:.2} s", started.elapsed().as_secs_f64());
    // And the run goes on after it.
    let at_done = step(&server.get("/api/v1/lab").json()["run"]);
    wait_for(&server, "training after the completion", |r| step(r) > at_done);
}

#[test]
fn bad_lab_requests_are_refused_and_the_server_keeps_serving() {
    let server = Server::start(&[]);
    for (body, status, says) in [
        (json!({ "action": "fly" }), 400, "unknown action 'fly'"),
        (json!({ "action": "start", "preset": "huge" }), 400, "unknown preset 'huge'"),
        (json!({ "action": "pause", "preset": "tiny" }), 400, "only start takes a preset"),
        (json!({ "action": "step" }), 409, "start a run first"),
        (json!({ "action": "start", "extra": 1 }), 400, "unknown field"),
        (json!({ "action": "start", "lr": 0.0 }), 422, "lr must be"),
        (json!({ "action": "start", "g_steps": 0 }), 422, "g_steps must be"),
        (json!({ "action": "start", "data": "cats" }), 400, "unknown data 'cats'"),
        (json!({ "action": "pause", "z": 1 }), 400, "only inspect takes a z"),
        (json!({ "action": "save" }), 400, "save needs a name"),
        (json!({ "action": "save", "name": "x" }), 409, "start a run first"),
        (json!({ "action": "inspect", "z": 1 }), 409, "start a run first"),
    ] {
        let r = server.post_json("/api/v1/lab", &body);
        assert!(r.status == status && r.text().contains(says), "{body}: {} {}", r.status, r.text());
    }
    let r = server.post("/api/v1/lab", "application/json", b"{not json");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(server.get("/api/v1/lab/samples/7.png").status, 404);
    assert_eq!(server.get("/api/v1/lab/samples/seven.png").status, 400);
    assert_eq!(server.get("/api/v1/lab?since=x").status, 400);
    assert_eq!(server.get("/api/v1/stats").status, 200);
    assert_eq!(server.get("/api/v1/lab").json()["run"]["step"], 0, "nothing started");
    let (kind, body) = common::server::multipart(&[("files", "a.png", b"not a picture at all")]);
    let r = server.post("/api/v1/lab/data", &kind, &body);
    assert!(r.status == 415 && r.text().contains("a.png"), "{} {}", r.status, r.text());
    let r = server.post("/api/v1/lab/data", "application/json", b"{}");
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(server.get("/api/v1/lab/layers").status, 404);
    assert_eq!(server.get("/api/v1/stats").status, 200);
}

/// The emoji set is not shipped: a run on it without the files says how to fetch them.
#[test]
fn emoji_without_the_files_says_how_to_fetch_them() {
    let missing = common::scratch("no-emoji").join("twemoji64");
    let server = Server::start(&["--lab-emoji", missing.to_str().unwrap()]);
    command(&server, json!({ "action": "start", "data": "emoji" }));
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        let run = server.get("/api/v1/lab").json()["run"].clone();
        if !run["error"].is_null() {
            break run;
        }
        assert!(Instant::now() < deadline, "no error for a missing emoji folder: {run}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(run["error"].as_str().unwrap().contains("tools/fetch_twemoji.sh"), "{run}");
    // A start on the faces goes on from there.
    command(&server, json!({ "action": "start", "data": "faces" }));
    wait_for(&server, "a step on the faces", |r| step(r) >= 1);
}

/// The layer view draws as many maps per layer as the architecture table says the layer has
/// channels, and the table's shapes are the model's own (the maps come from its tensors);
/// the kernel view's dispatch count is `bench`'s for the same model and batch. Both run
/// without the autotuner so they pick the same kernel sets.
#[test]
fn the_layer_and_kernel_views_match_the_model_and_bench() {
    let no_tuning = [("DCGAN_TUNE_CACHE", "off")];
    let server = Server::start_env(&[], &no_tuning);
    let answer = server.get("/api/v1/lab").json();
    let tiny = answer["presets"].as_array().unwrap().iter().find(|p| p["name"] == "tiny").cloned().unwrap();
    assert_eq!(server.get("/api/v1/lab/kernels").status, 404, "no kernel view before a run");
    let run = command(&server, json!({ "action": "start", "preset": "tiny" }));
    let table = run["layers"].as_array().unwrap().clone();
    let run = wait_for(&server, "the first step's views", |r| r["kernels_step"].is_u64() && r["layers_step"].is_u64());
    command(&server, json!({ "action": "pause" }));

    // Layers: G's stages, then D's convolutions on the real and the generated image.
    let view = server.get("/api/v1/lab/layers").json();
    let channels = |layer: &str| table.iter().find(|r| r["layer"] == layer).map(|r| r["output"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect::<Vec<_>>()).unwrap();
    let generator = view["generator"].as_array().unwrap();
    let g_layers: Vec<&str> = table.iter().filter(|r| r["net"] == "G").map(|r| r["layer"].as_str().unwrap()).collect();
    assert_eq!(generator.len(), g_layers.len(), "{view}");
    for (maps, layer) in generator.iter().zip(&g_layers) {
        let shape = channels(layer);
        assert_eq!(maps["layer"], *layer);
        assert_eq!((maps["maps"].as_array().unwrap().len(), maps["height"].as_u64().unwrap() as usize, maps["width"].as_u64().unwrap() as usize), (shape[0], shape[1], shape[2]), "{layer}");
        assert!(maps["maps"].as_array().unwrap().iter().all(|m| m.as_array().unwrap().len() == shape[1] * shape[2]));
    }
    // tiny: z -> [16, 4, 4] -> [8, 8, 8] -> the [1, 16, 16] image; D: [8, 8, 8] -> [16, 4, 4].
    assert_eq!(g_layers.iter().map(|l| channels(l)).collect::<Vec<_>>(), [vec![16, 4, 4], vec![8, 8, 8], vec![1, 16, 16]]);
    for side in ["real", "fake"] {
        let d = view[side].as_array().unwrap();
        let d_convs: Vec<&str> = table.iter().filter(|r| r["net"] == "D" && r["output"].as_array().unwrap().len() == 3).map(|r| r["layer"].as_str().unwrap()).collect();
        assert_eq!(d.iter().map(|m| m["layer"].as_str().unwrap()).collect::<Vec<_>>(), d_convs);
        for maps in d {
            assert_eq!(maps["maps"].as_array().unwrap().len(), channels(maps["layer"].as_str().unwrap())[0]);
        }
    }
    assert_eq!(view["filters"]["maps"].as_array().unwrap().len(), channels("d.conv0")[0], "one picture per first-layer filter");

    // Kernels: the count bench reports for one training step of the same model and batch.
    let kernels = server.get("/api/v1/lab/kernels").json();
    assert_eq!(kernels["step"], run["kernels_step"]);
    let dir = common::scratch("lab-bench");
    let report = dir.join("bench.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
        .args(["bench", "--image-size", "16", "--channels", "1", "--width", "8", "--kernel", "4", "--g-steps", "1", "--reps", "1", "--no-kernels"])
        .args(["--batch", &tiny["batch"].to_string(), "--json", report.to_str().unwrap()])
        .envs(no_tuning)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bench: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let bench_dispatches = &bench["train_step"]["dispatches"];
    assert!(bench_dispatches.as_u64().unwrap() > 100, "{bench_dispatches}");
    assert_eq!(&kernels["dispatches"], bench_dispatches, "the kernel view and bench count one step's dispatches differently");
    let rows = kernels["rows"].as_array().unwrap();
    let summed: u64 = rows.iter().map(|r| r["dispatches"].as_u64().unwrap()).sum();
    assert_eq!(summed, kernels["dispatches"].as_u64().unwrap(), "every dispatch is in one group");
    // Grouped by layer and op: both passes of D's first conv, G's last deconv, Adam.
    let has = |scope: &str, pass: &str, op: &str| rows.iter().any(|r| r["scope"] == scope && r["pass"] == pass && r["op"] == op);
    assert!(has("D step / d.conv0", "forward", "conv2d_forward"), "{kernels}");
    assert!(has("D step / d.conv0", "backward", "conv2d_grad_weight"), "{kernels}");
    assert!(has("G step / g.deconv2", "backward", "conv_transpose2d_grad_input"), "{kernels}");
    assert!(rows.iter().any(|r| r["scope"] == "G step / adam" && r["pass"] == "update"), "{kernels}");
    let products = |r: &&serde_json::Value| ["_forward", "_grad_input", "_grad_weight"].iter().any(|p| r["op"].as_str().unwrap().ends_with(p)) && r["op"].as_str().unwrap().starts_with("conv");
    assert!(rows.iter().filter(products).count() >= 12, "{kernels}");
    assert!(rows.iter().filter(products).all(|r| r["gflops"].as_f64().is_some_and(|g| g > 0.0) && r["set"].is_string()), "{kernels}");

    // Another z: its layer view.
    command(&server, json!({ "action": "inspect", "z": 5 }));
    let seen = wait_for(&server, "the layer view of z 5", |r| r["inspect_z"] == 5 && r["layers_step"].is_u64());
    let _ = seen;
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.get("/api/v1/lab/layers").json()["z"] != 5 {
        assert!(Instant::now() < deadline, "no layer view of z 5");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = server.post_json("/api/v1/lab", &json!({ "action": "inspect", "z": 16 }));
    assert_eq!(r.status, 409, "{}", r.text());
}

/// Save writes a checkpoint and weights, never over an existing folder, and the model is at
/// once one the completion API lists and completes with.
#[test]
fn a_saved_lab_model_completes_an_image() {
    let out = common::scratch("lab-save");
    let server = Server::start(&["--lab-out", out.to_str().unwrap()]);
    command(&server, json!({ "action": "start", "preset": "tiny", "seed": 3, "lr": 0.0005 }));
    wait_for(&server, "a few steps", |r| step(r) >= 3);
    command(&server, json!({ "action": "pause" }));
    command(&server, json!({ "action": "save", "name": "tiny-faces" }));
    let run = wait_for(&server, "the save", |r| !r["save"].is_null());
    assert!(run["save"]["error"].is_null(), "{run}");
    assert!(out.join("tiny-faces/checkpoint.safetensors").is_file() && out.join("tiny-faces/tiny-faces.safetensors").is_file());
    // The architecture table counts the parameters the weights file holds (running
    // statistics are not trained).
    let file = std::fs::read(out.join("tiny-faces/tiny-faces.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&file[8..8 + header_len]).unwrap();
    let trained: u64 = header.as_object().unwrap().iter().filter(|(name, _)| *name != "__metadata__" && !name.contains("running_"))
        .map(|(_, t)| t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).product::<u64>()).sum();
    let table: u64 = run["layers"].as_array().unwrap().iter().map(|r| r["params"].as_u64().unwrap()).sum();
    assert_eq!(table, trained, "the table's parameters and the saved weights'");
    let models = server.get("/api/v1/models").json();
    let saved = models["models"].as_array().unwrap().iter().find(|m| m["name"] == "tiny-faces").cloned().unwrap_or_else(|| panic!("{models}"));
    assert_eq!((saved["size"].as_u64(), saved["channels"].as_u64()), (Some(16), Some(1)));

    // The same name again: refused, nothing overwritten.
    let r = server.post_json("/api/v1/lab", &json!({ "action": "save", "name": "tiny-faces" }));
    assert_eq!(r.status, 409, "{}", r.text());
    let r = server.post_json("/api/v1/lab", &json!({ "action": "save", "name": "../x" }));
    assert_eq!(r.status, 422, "{}", r.text());

    let image = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces/s37_01.png");
    let body = json!({ "image": common::server::base64_file(&image), "model": "tiny-faces", "preset": "center", "options": { "iters": 5, "ilo_layers": 0 } });
    let job = server.post_json("/api/v1/jobs", &body);
    assert_eq!(job.status, 202, "{}", job.text());
    let events = server.events(job.json()["events"].as_str().unwrap(), |_, _| true);
    assert_eq!(events.last().map(|(e, _)| e.as_str()), Some("done"), "{events:?}");
}

/// A set of images uploaded as a zip trains; what is not a set of images is refused with a
/// message and the server keeps serving.
#[test]
fn uploads_train_and_what_is_not_images_is_refused() {
    let server = Server::start(&[]);
    let (kind, body) = common::server::multipart(&[("files", "notes.txt", b"a shopping list, not a picture")]);
    let r = server.post("/api/v1/lab/data", &kind, &body);
    assert!(r.status == 415 && r.text().contains("not a set of images"), "{} {}", r.status, r.text());
    let r = server.post_json("/api/v1/lab", &json!({ "action": "start", "data": "upload" }));
    assert!(r.status == 409 && r.text().contains("upload a set"), "{} {}", r.status, r.text());
    assert_eq!(server.get("/api/v1/stats").status, 200, "the server keeps serving");

    // 40 emoji-like colour images in a zip.
    let mut zip = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        for i in 0..40u8 {
            let picture = image::RgbImage::from_fn(20, 20, |x, y| image::Rgb([i * 6, (x * 12) as u8, (y * 12) as u8]));
            let mut png = Vec::new();
            picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
            w.start_file(format!("set/{i}.png"), zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, &png).unwrap();
        }
        w.finish().unwrap();
    }
    let (kind, body) = common::server::multipart(&[("files", "set.zip", &zip)]);
    let r = server.post("/api/v1/lab/data", &kind, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["images"], 40);
    command(&server, json!({ "action": "start", "preset": "tiny", "data": "upload" }));
    let run = wait_for(&server, "training on the upload", |r| step(r) >= 2 && r["layers_step"].is_u64());
    assert_eq!(run["data"], "upload");
    let view = server.get("/api/v1/lab/layers").json();
    let image = view["generator"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(image["maps"].as_array().unwrap().len(), 3, "a colour model draws 3 channels");
}
