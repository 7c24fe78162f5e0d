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
}
