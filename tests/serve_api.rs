//! `serve`'s HTTP API against a real server on an ephemeral port: results, events, cancel,
//! batching, a full queue, and a 4xx for every kind of bad input while the server keeps
//! serving. Small jobs (tens of iterations, no ILO) keep this quick on lavapipe.

mod common;

use std::path::{Path, PathBuf};

use common::server::{Server, base64_file, multipart};
use serde_json::json;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces").join(name)
}

/// The face as the model sees it, 8-bit grey (what a result's known pixels must equal).
fn prepared(path: &Path) -> Vec<u8> {
    let x = dcgan_inpaint::io::data::load_image(path, 1, 64).expect("the example loads");
    dcgan_inpaint::io::picture::to_rgb8(&x, 1, 64).pixels().map(|p| p.0[0]).collect()
}

fn grey_png(bytes: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("not a PNG: {e}"));
    img.to_luma8().into_raw()
}

/// The centre preset's hole (scale 0.25): rows and columns 16..48.
fn in_centre_hole(i: usize) -> bool {
    let (y, x) = (i / 64, i % 64);
    (16..48).contains(&y) && (16..48).contains(&x)
}

fn small(extra: serde_json::Value) -> serde_json::Value {
    let mut o = json!({ "iters": 20, "ilo_layers": 0, "frames_every": 5 });
    o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    o
}

/// Known pixels equal the input's, the hole is filled with something else than the input
/// had there, for the Poisson and overlay blends, in JSON and in multipart.
fn check_one_shot(reply: common::server::Reply, input: &[u8], what: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.text());
    assert_eq!(reply.headers.get("content-type").unwrap(), "image/png", "{what}");
    let out = grey_png(&reply.body);
    assert_eq!(out.len(), 64 * 64, "{what}: a 64x64 result");
    let mut changed = 0;
    for (i, (&o, &x)) in out.iter().zip(input).enumerate() {
        if in_centre_hole(i) {
            changed += (o as i32 - x as i32).abs().min(1) as usize;
        } else {
            assert!((o as i32 - x as i32).abs() <= 1, "{what}: known pixel ({}, {}) is {o}, the input's {x}", i % 64, i / 64);
        }
    }
    assert!(changed > 32 * 32 / 2, "{what}: only {changed} of the hole's 1024 pixels differ from the input");
}

#[test]
fn one_shot_inpaint_keeps_the_known_pixels() {
    let server = Server::start(&[]);
    let path = example("s37_01.png");
    let input = prepared(&path);
    for blend in ["poisson", "overlay"] {
        let body = json!({ "model": "faces", "image": base64_file(&path), "preset": "center", "options": small(json!({ "blend": blend })) });
        check_one_shot(server.post_json("/api/v1/inpaint", &body), &input, &format!("JSON, {blend} blend"));
    }
    // Multipart, with a mask PNG instead of a preset (white = keep).
    let mask = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([if in_centre_hole((y * 64 + x) as usize) { 0 } else { 255 }]));
    let mut mask_png = std::io::Cursor::new(Vec::new());
    mask.write_to(&mut mask_png, image::ImageFormat::Png).unwrap();
    let options = small(json!({})).to_string();
    let image = std::fs::read(&path).unwrap();
    let (kind, body) = multipart(&[("model", "", b"faces"), ("image", "face.png", &image), ("keep_mask", "mask.png", mask_png.get_ref()), ("options", "", options.as_bytes())]);
    check_one_shot(server.post("/api/v1/inpaint", &kind, &body), &input, "multipart with a mask PNG");
}

#[test]
fn events_arrive_in_order_and_end_with_done() {
    let server = Server::start(&[]);
    let body = json!({ "image": base64_file(&example("s38_04.png")), "preset": "center", "options": small(json!({ "ilo_layers": 1, "ilo_iters": 5 })) });
    let job = server.post_json("/api/v1/jobs", &body);
    assert_eq!(job.status, 202, "{}", job.text());
    let job = job.json();
    let events = server.events(job["events"].as_str().unwrap(), |_, _| true);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(&names[..2], ["queued", "start"], "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let iterations = events[1].1["iterations"].as_u64().unwrap() as usize;
    assert_eq!(iterations, 20 + 5 + 1, "z iterations + ILO iterations + the final evaluation");
    let progress: Vec<&serde_json::Value> = events.iter().filter(|(e, _)| e == "progress").map(|(_, v)| v).collect();
    assert_eq!(progress.len(), iterations, "one progress event per iteration");
    for (t, p) in progress.iter().enumerate() {
        assert_eq!(p["t"].as_u64(), Some(t as u64), "in order");
        assert!(p["contextual"].as_f64().unwrap().is_finite());
        let framed = t % 5 == 0 || t + 1 == iterations;
        assert_eq!(p.get("generated").is_some(), framed, "a frame every 5 iterations and at the end (t = {t})");
        if framed {
            assert!(p["generated"].as_str().unwrap().starts_with("data:image/png;base64,"));
            assert!(p["completed"].as_str().unwrap().starts_with("data:image/png;base64,"));
        }
    }
    let first = progress[0]["contextual"].as_f64().unwrap();
    let last = progress[iterations - 1]["contextual"].as_f64().unwrap();
    assert!(last < first, "the contextual loss falls: {first} -> {last}");
    let png = server.get(job["result"].as_str().unwrap());
    assert_eq!((png.status, &png.body[1..4]), (200, &b"PNG"[..]));
    let gif = server.get(job["gif"].as_str().unwrap());
    assert_eq!((gif.status, &gif.body[..3]), (200, &b"GIF"[..]));
    // A late subscriber gets the same story from the start.
    let again = server.events(job["events"].as_str().unwrap(), |_, _| true);
    assert_eq!(again.len(), events.len());
}

#[test]
fn only_delete_or_the_one_shot_client_hanging_up_cancels_a_job() {
    let server = Server::start(&[]);
    let long = json!({ "image": base64_file(&example("s39_07.png")), "preset": "center", "options": { "iters": 5000, "ilo_layers": 0 } });
    // Cancel through the API.
    let job = server.post_json("/api/v1/jobs", &long).json();
    let mut cancelled = false;
    let events = server.events(job["events"].as_str().unwrap(), |event, _| {
        if event == "progress" && !cancelled {
            assert_eq!(server.delete(job["cancel"].as_str().unwrap()).status, 202);
            cancelled = true;
        }
        true
    });
    assert_eq!(events.last().unwrap().0, "cancelled", "the stream ends with cancelled");
    assert!(events.iter().filter(|(e, _)| e == "progress").count() < 5000);
    assert_eq!(server.get(job["result"].as_str().unwrap()).status, 409, "no result for a cancelled job");
    server.wait_stats(60, "the worker is free again", |s| s["running"] == 0 && s["waiting"] == 0);

    // An event stream closed mid-job (any page can open one) changes nothing: the job goes on.
    let job = server.post_json("/api/v1/jobs", &long).json();
    let first = server.events(job["events"].as_str().unwrap(), |event, _| event != "progress");
    let seen = first.iter().filter(|(e, _)| e == "progress").map(|(_, v)| v["t"].as_u64().unwrap()).max().unwrap();
    let mut later = None;
    server.events(job["events"].as_str().unwrap(), |event, data| {
        if event == "progress" && data["t"].as_u64().unwrap() > seen + 2 {
            later = data["t"].as_u64();
            return false;
        }
        assert!(event != "cancelled", "closing an event stream cancelled the job");
        true
    });
    assert!(later.is_some(), "the job went on after its stream was closed");
    assert_eq!(server.delete(job["cancel"].as_str().unwrap()).status, 202);
    server.wait_stats(60, "DELETE cancels it", |s| s["running"] == 0 && s["waiting"] == 0);
    assert_eq!(server.events(job["events"].as_str().unwrap(), |_, _| true).last().unwrap().0, "cancelled");

    // A one-shot request whose client hangs up.
    let body = long.to_string();
    let request = format!("POST /api/v1/inpaint HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", server.host(), body.len());
    let mut socket = std::net::TcpStream::connect(server.addr()).unwrap();
    std::io::Write::write_all(&mut socket, request.as_bytes()).unwrap();
    server.wait_stats(60, "the one-shot job runs", |s| s["running"] == 1);
    drop(socket);
    server.wait_stats(60, "hanging up cancels the one-shot job", |s| s["running"] == 0 && s["waiting"] == 0);
}

/// The security model (README): another site's page can neither queue nor cancel work,
/// a rebinding host name is refused, job ids cannot be guessed.
#[test]
fn other_sites_cannot_drive_the_server() {
    let server = Server::start(&[]);
    let face = base64_file(&example("s37_01.png"));
    let small_job = json!({ "image": face, "preset": "center", "options": small(json!({})) }).to_string();
    let evil = [("origin", "http://evil.example")];
    let own_origin = format!("http://{}", server.host());
    let own = [("origin", own_origin.as_str())];
    // A cross-site POST (multipart needs no preflight; JSON neither once it is sent) is refused
    // before anything is parsed or queued.
    let image = std::fs::read(example("s37_01.png")).unwrap();
    let (kind, form) = multipart(&[("image", "face.png", &image), ("preset", "", b"center"), ("options", "", br#"{"iters":3,"ilo_layers":0}"#)]);
    for path in ["/api/v1/jobs", "/api/v1/inpaint", "/api/v1/prepare"] {
        let r = server.post_with(path, &kind, &form, &evil);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains("another site"), "{}", r.text());
    }
    let r = server.post_with("/api/v1/generate", "application/json", json!({ "z": vec![vec![0.1f32; 100]] }).to_string().as_bytes(), &evil);
    assert_eq!(r.status, 403);
    assert_eq!(server.get("/api/v1/stats").json()["batches"], 0, "nothing reached the queue");
    // The page's own origin, and clients without one, are served.
    let r = server.post_with("/api/v1/jobs", "application/json", small_job.as_bytes(), &own);
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json();
    let id = job["id"].as_str().unwrap();
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "an unguessable id: {id}");
    let other = server.post_json("/api/v1/jobs", &serde_json::from_str(&small_job).unwrap()).json();
    assert_ne!(other["id"], job["id"]);
    // Cancelling from another site is refused; guessing ids gets nothing.
    assert_eq!(server.delete_with(job["cancel"].as_str().unwrap(), &evil).status, 403);
    for guess in ["1", "2", "00000000000000000000000000000001"] {
        let status = server.get(&format!("/api/v1/jobs/{guess}/result")).status;
        assert!(status == 400 || status == 404, "{guess}: {status}");
        assert!(matches!(server.delete(&format!("/api/v1/jobs/{guess}")).status, 400 | 404));
    }
    assert_eq!(server.events(job["events"].as_str().unwrap(), |_, _| true).last().unwrap().0, "done", "the refused cancel changed nothing");
    // DNS rebinding: a request naming another host is refused, page and API alike.
    for path in ["/", "/api/v1/models", &format!("/api/v1/jobs/{id}/result")] {
        let head = server.raw(format!("GET {path} HTTP/1.1\r\nHost: attacker.example:{}\r\nConnection: close\r\n\r\n", server.addr().rsplit(':').next().unwrap()).as_bytes());
        assert!(head.starts_with("HTTP/1.1 403"), "{path}: {head}");
    }
    let head = server.raw(format!("GET /api/v1/models HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", server.addr().rsplit(':').next().unwrap()).as_bytes());
    assert!(head.starts_with("HTTP/1.1 200"), "localhost is this server: {head}");
    assert!(!server.get("/api/v1/models").headers.contains_key("access-control-allow-origin"), "no CORS");
}

/// Off loopback, every API request needs the token: printed in the URL when generated, kept
/// by the page in a SameSite cookie.
#[test]
fn a_token_guards_every_api_request_off_loopback() {
    let server = Server::start(&["--host", "0.0.0.0"]);
    let token = server.token.clone().expect("a generated token in the printed URL");
    assert!(token.len() == 32, "{token}");
    let port = server.addr().rsplit(':').next().unwrap().to_string();
    let get = |path: &str, extra: &str| server.raw(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n").as_bytes());
    assert!(get("/api/v1/models", "").starts_with("HTTP/1.1 401"), "no token");
    assert!(get("/api/v1/models", "Authorization: Bearer wrong-token-wrong-token\r\n").starts_with("HTTP/1.1 401"));
    assert!(get("/api/v1/models", &format!("Authorization: Bearer {token}\r\n")).starts_with("HTTP/1.1 200"));
    assert!(get("/", "").starts_with("HTTP/1.1 200"), "the page itself holds no data");
    assert!(get("/?token=nope", "").starts_with("HTTP/1.1 401"));
    let welcome = get(&format!("/?token={token}"), "");
    assert!(welcome.starts_with("HTTP/1.1 303"), "{welcome}");
    let cookie = welcome.lines().find_map(|l| l.strip_prefix("set-cookie: ")).expect("a cookie").to_string();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert!(get("/api/v1/stats", &format!("Cookie: {pair}\r\n")).starts_with("HTTP/1.1 200"), "the cookie carries the token");
    // The client helper sends the token: the API works as on loopback.
    let r = server.post_json("/api/v1/inpaint", &json!({ "image": base64_file(&example("s37_01.png")), "preset": "center", "options": small(json!({})) }));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Start-up settings that cannot serve are refused with the flag named, before listening.
#[test]
fn settings_that_cannot_serve_are_refused_at_start() {
    let faces = example("../../olivetti-64.safetensors");
    let emoji = example("../../twemoji-64.safetensors");
    let (a, b) = (format!("a={}", faces.display()), format!("a={}", emoji.display()));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--weights", &a, "--weights", &b], "two models are called 'a'"),
        (vec!["--max-body-mib", "17592186044416"], "--max-body-mib must be from 1 to 1024"),
        (vec!["--max-body-mib", "0"], "--max-body-mib must be from 1 to 1024"),
        (vec!["--max-rows", "1100"], "--max-rows 1100"),
        (vec!["--token", "short"], "--token must be at least 16"),
    ];
    for (args, want) in cases {
        let (code, err) = Server::refused(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want) && !err.contains("panicked"), "{args:?}: {err}");
    }
}

/// G(z) for the explore panel is answered while a long job runs (between two of its
/// iterations), not after it.
#[test]
fn generate_is_answered_while_a_job_runs() {
    let server = Server::start(&[]);
    let long = json!({ "image": base64_file(&example("s39_07.png")), "preset": "center", "options": { "iters": 5000, "ilo_layers": 0 } });
    let job = server.post_json("/api/v1/jobs", &long).json();
    server.wait_stats(60, "the long job runs", |s| s["running"] == 1);
    let z = vec![vec![0.5f32; 100]; 4];
    let r = server.post_json("/api/v1/generate", &json!({ "z": z }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["images"].as_array().unwrap().len(), 4);
    let stats = server.get("/api/v1/stats").json();
    assert_eq!((stats["running"].as_u64(), stats["generated"].as_u64()), (Some(1), Some(1)), "answered while the job still ran: {stats}");
    assert_eq!(server.delete(job["cancel"].as_str().unwrap()).status, 202);
}

#[test]
fn jobs_waiting_together_are_batched() {
    let server = Server::start(&[]);
    let face = base64_file(&example("s40_10.png"));
    // A long job holds the worker while three compatible jobs queue up behind it; cancelling
    // it frees the worker, which takes the three together.
    let blocker = server.post_json("/api/v1/jobs", &json!({ "image": face, "preset": "center", "options": { "iters": 5000, "ilo_layers": 0 } })).json();
    server.wait_stats(60, "the first job runs", |s| s["running"] == 1);
    let ids: Vec<serde_json::Value> = (0..3)
        .map(|k| server.post_json("/api/v1/jobs", &json!({ "image": face, "preset": "center", "options": small(json!({ "lam": 0.005, "seed": k })) })).json())
        .collect();
    server.wait_stats(60, "three jobs wait", |s| s["waiting"] == 3);
    assert_eq!(server.delete(blocker["cancel"].as_str().unwrap()).status, 202);
    let mut results = Vec::new();
    for job in &ids {
        let events = server.events(job["events"].as_str().unwrap(), |_, _| true);
        let start = &events.iter().find(|(e, _)| e == "start").expect("a start event").1;
        assert_eq!(start["batch_jobs"], 3, "the three waiting jobs ran as one batch: {start}");
        // Each job's row and, for auto on a wide hole, its validation copy's.
        assert_eq!(start["batch_rows"], 6);
        assert_eq!(events.last().unwrap().0, "done");
        results.push(grey_png(&server.get(job["result"].as_str().unwrap()).body));
    }
    let stats = server.get("/api/v1/stats").json();
    assert!(stats["largest_batch"].as_u64().unwrap() >= 3, "{stats}");
    // A job's result does not depend on its batch: the second job again, alone.
    let alone = server.post_json("/api/v1/inpaint", &json!({ "image": face, "preset": "center", "options": small(json!({ "lam": 0.005, "seed": 1 })) }));
    let alone = grey_png(&alone.body);
    let worst = alone.iter().zip(&results[1]).map(|(a, b)| (*a as i32 - *b as i32).abs()).max().unwrap();
    assert!(worst <= 2, "batched and alone differ by up to {worst}/255");
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let server = Server::start(&["--queue", "2"]);
    let long = json!({ "image": base64_file(&example("s37_01.png")), "preset": "center", "options": { "iters": 5000, "ilo_layers": 0 } });
    let a = server.post_json("/api/v1/jobs", &long);
    // The second job must wait, not join the first one's batch: it is sent once the first runs.
    server.wait_stats(60, "the first job runs", |s| s["running"] == 1);
    let b = server.post_json("/api/v1/jobs", &long);
    assert_eq!((a.status, b.status), (202, 202));
    let c = server.post_json("/api/v1/jobs", &long);
    assert_eq!(c.status, 503, "{}", c.text());
    let retry: u64 = c.headers.get("retry-after").expect("a Retry-After header").to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert!(c.json()["error"].as_str().unwrap().contains("queue is full"));
    // Cancelling the waiting job frees its place at once, while the first still runs.
    let (a, b) = (a.json(), b.json());
    assert_eq!(server.delete(b["cancel"].as_str().unwrap()).status, 202);
    server.wait_stats(60, "the cancelled job leaves the queue", |s| s["waiting"] == 0 && s["running"] == 1);
    assert_eq!(server.events(b["events"].as_str().unwrap(), |_, _| true).last().unwrap().0, "cancelled");
    let d = server.post_json("/api/v1/jobs", &json!({ "image": base64_file(&example("s37_01.png")), "preset": "center", "options": small(json!({})) }));
    assert_eq!(d.status, 202, "room again: {}", d.text());
    assert_eq!(server.delete(a["cancel"].as_str().unwrap()).status, 202);
    let d = d.json();
    assert_eq!(server.events(d["events"].as_str().unwrap(), |_, _| true).last().unwrap().0, "done", "the job behind the cancelled one runs");
    server.wait_stats(30, "both jobs end", |s| s["running"] == 0 && s["waiting"] == 0);
}

/// A PNG whose header claims `w` x `h` pixels (a decompression bomb's shape; the data is short).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
        out
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn png_of(img: image::GrayImage) -> String {
    use base64::Engine;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

#[test]
fn bad_input_gets_a_4xx_and_the_server_keeps_serving() {
    use base64::Engine;
    let server = Server::start(&["--max-body-mib", "2"]);
    let face = base64_file(&example("s37_01.png"));
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let with = |extra: serde_json::Value| {
        let mut body = json!({ "image": face, "preset": "center", "options": small(json!({})) });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() { body.as_object_mut().unwrap().remove(k); } else { body[k] = v.clone(); }
        }
        body
    };
    let cases: Vec<(&str, serde_json::Value, u16)> = vec![
        ("not an image", with(json!({ "image": b64(b"hello, this is text") })), 415),
        ("a decompression bomb (100000 x 100000 in the header)", with(json!({ "image": b64(&png_claiming(100_000, 100_000)) })), 413),
        ("a truncated PNG", with(json!({ "image": b64(&png_claiming(64, 64)) })), 422),
        ("not base64", with(json!({ "image": "%%%" })), 400),
        ("a mask of another size", with(json!({ "preset": null, "keep_mask": png_of(image::GrayImage::from_pixel(32, 32, image::Luma([0]))) })), 422),
        ("a mask that keeps everything", with(json!({ "preset": null, "keep_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([255]))) })), 422),
        ("a mask that keeps nothing", with(json!({ "preset": null, "keep_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([0]))) })), 422),
        ("a mask that does not say its convention", with(json!({ "preset": null, "mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([0]))) })), 422),
        ("two masks", with(json!({ "preset": null, "keep_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([0]))), "fill_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([0]))) })), 422),
        ("a region outside the image", with(json!({ "region": "40,40,32" })), 422),
        ("a region that is not x,y,size", with(json!({ "region": [1, 2] })), 422),
        ("no image", with(json!({ "image": null })), 422),
        ("no mask", with(json!({ "preset": null })), 422),
        ("a mask and a preset", with(json!({ "keep_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([0]))) })), 422),
        ("an unknown preset", with(json!({ "preset": "everything" })), 422),
        ("an unknown model", with(json!({ "model": "cats" })), 404),
        ("an unknown field", with(json!({ "colour": "red" })), 422),
        ("an unknown option", with(json!({ "options": { "iterations": 10 } })), 422),
        ("0 iterations", with(json!({ "options": { "iters": 0 } })), 422),
        ("a million iterations", with(json!({ "options": { "iters": 1_000_000 } })), 422),
        ("a negative λ", with(json!({ "options": { "lam": -1.0 } })), 422),
        ("too many restarts", with(json!({ "options": { "restarts": 1000 } })), 422),
        ("a window larger than the image", with(json!({ "options": { "window": 65 } })), 422),
        ("too many ILO layers", with(json!({ "options": { "ilo_layers": 9 } })), 422),
        ("an unknown blend", with(json!({ "options": { "blend": "magic" } })), 422),
        ("a learning rate of 0", with(json!({ "options": { "lr": 0.0 } })), 422),
        ("a string for a number", with(json!({ "options": { "iters": "many" } })), 422),
    ];
    // The project's own API: every field known (IOPaint's one-shot ignores unknown ones).
    for (what, body, want) in &cases {
        let r = server.post_json("/api/v1/jobs", body);
        assert_eq!(r.status, *want, "{what}: {}", r.text());
        let message = r.json()["error"].as_str().map(str::to_string);
        assert!(message.as_ref().is_some_and(|m| !m.is_empty()), "{what}: a JSON error message, got {}", r.text());
    }
    let status = |r: common::server::Reply| r.status;
    assert_eq!(status(server.post("/api/v1/inpaint", "application/json", b"{ not json")), 400, "malformed JSON");
    assert_eq!(status(server.post("/api/v1/inpaint", "text/plain", b"hello")), 415, "another content type");
    let (kind, body) = multipart(&[("image", "x.png", b"not a png"), ("preset", "", b"center")]);
    assert_eq!(status(server.post("/api/v1/inpaint", &kind, &body)), 415, "multipart: not an image");
    let (kind, body) = multipart(&[("picture", "x.png", b"..")]);
    assert_eq!(status(server.post("/api/v1/jobs", &kind, &body)), 422, "multipart: an unknown field");
    // A body over --max-body-mib, refused from its Content-Length before it is read.
    let head = format!("POST /api/v1/inpaint HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{", server.host(), 3 << 20);
    let line = server.raw(head.as_bytes());
    assert!(line.contains(" 413 "), "a body too large: {line}");
    assert_eq!(status(server.get("/api/v1/jobs/0123456789abcdef0123456789abcdef/events")), 404, "an unknown job");
    assert_eq!(status(server.get("/api/v1/jobs/abc/result")), 400, "not a job id");
    assert_eq!(status(server.get("/api/v1/models/faces/examples/../../Cargo.toml")), 404, "only listed examples");
    assert_eq!(status(server.get("/api/v1/models/faces/masks/lowres")), 422, "lowres has no pixel mask");
    assert_eq!(status(server.post_json("/api/v1/generate", &json!({ "z": [[0.0, 1.0]] }))), 422, "z of the wrong length");
    assert_eq!(status(server.post_json("/api/v1/generate", &json!({ "z": [] }))), 422, "no z");
    assert_eq!(status(server.get("/nothing/here")), 404);

    let (kind, body) = multipart(&[("image", "x.png", b".."), ("image", "y.png", b"..")]);
    let r = server.post("/api/v1/inpaint", &kind, &body);
    assert!(r.status == 422 && r.text().contains("sent twice"), "multipart: a field twice: {}", r.text());
    let grey = server.post_json("/api/v1/jobs", &with(json!({ "preset": null, "keep_mask": png_of(image::GrayImage::from_pixel(64, 64, image::Luma([127]))) })));
    assert!(grey.status == 422 && grey.text().contains("128"), "a 50% grey mask names the threshold: {}", grey.text());
    let utf16: Vec<u8> = "{\"preset\":\"center\"}".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let r = server.post("/api/v1/inpaint", "application/json", &[&[0xFF, 0xFE][..], &utf16].concat());
    assert!(r.status == 400 && r.text().contains("UTF-16"), "{}", r.text());
    for query in ["seed=-1", "seed=abc", "evil=1"] {
        let r = server.get(&format!("/api/v1/models/faces/masks/random?{query}"));
        assert_eq!(r.status, 400, "{query}");
        assert!(r.json()["error"].as_str().unwrap().contains("seed"), "{query}: {}", r.text());
    }
    let head = server.raw(format!("PUT /api/v1/models HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", server.host()).as_bytes());
    assert!(head.starts_with("HTTP/1.1 405") && head.contains("application/json"), "a wrong method gets a JSON 405: {head}");
    // What text encodings of an image and of JSON look like in the wild is accepted: a
    // byte-order mark, base64 wrapped at 76 columns (the `base64` command) or URL-safe.
    let raw_face = std::fs::read(example("s37_01.png")).unwrap();
    let wrapped: String = face.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n");
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw_face);
    for (what, image) in [("wrapped", wrapped), ("URL-safe", url_safe)] {
        let r = server.post_json("/api/v1/prepare", &json!({ "image": image }));
        assert_eq!(r.status, 200, "{what} base64: {}", r.text());
    }
    let with_bom = [&[0xEF, 0xBB, 0xBF][..], json!({ "image": face }).to_string().as_bytes()].concat();
    assert_eq!(status(server.post("/api/v1/prepare", "application/json", &with_bom)), 200, "JSON with a byte-order mark");

    // Odd but valid images are prepared like any other: a single pixel, a line, 16-bit RGBA.
    let encode = |img: image::DynamicImage| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        b64(out.get_ref())
    };
    let odd = [
        ("1x1", encode(image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 1, image::Luma([200]))))),
        ("1x3000", encode(image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 3000, image::Luma([9]))))),
        ("16-bit RGBA", encode(image::DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(70, 50, image::Rgba([65535, 0, 300, 30000]))))),
    ];
    for (what, image) in odd {
        let r = server.post_json("/api/v1/prepare", &json!({ "model": "emoji", "image": image }));
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        let img = image::load_from_memory(&r.body).unwrap();
        assert_eq!((img.width(), img.height()), (64, 64), "{what}");
    }

    // Still serving, and nothing is stuck.
    let ok = server.post_json("/api/v1/inpaint", &with(json!({})));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let stats = server.wait_stats(60, "nothing left running", |s| s["running"] == 0 && s["waiting"] == 0);
    assert_eq!(stats["batched_jobs"], 1, "only the good request reached the GPU");
    let models = server.get("/api/v1/models").json();
    assert_eq!(models["models"][0]["name"], "faces");
    let z = vec![vec![0.5f32; 100]; 2];
    let generated = server.post_json("/api/v1/generate", &json!({ "model": "faces", "z": z })).json();
    assert_eq!(generated["images"].as_array().unwrap().len(), 2);
}
