//! The page in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! opens `serve`'s page, opens a wide image through the file picker (kept at its size, the
//! model seeing its centre square), reads a mask PNG, paints with a finger and clears, loads
//! an example again, paints a stroke with the mouse (undo and redo it with Ctrl+Z /
//! Ctrl+Shift+Z), clicks Complete, waits for the result and checks that it changed inside
//! the stroke and nowhere else at full resolution; holding O shows the original; the explore
//! panel shows samples and an interpolation. Then: no serious or critical accessibility
//! violation (axe-core), every control reached by Tab, a stale result cleared on a model
//! switch that keeps the photo, and a phone-sized window without horizontal overflow.
//! It saves a screenshot; with DCGAN_UPDATE_SCREENSHOT=1 it also replaces the README's
//! (docs/serve-page.png). Needs Debian's `chromium` and
//! `chromium-driver`: `./with-vulkan --browser ...` and `.ci/run` install them. A missing
//! browser is a failure, never a skip.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::Server;
use fantoccini::actions::{InputSource, KeyAction, KeyActions, MouseActions, PointerAction, TouchActions, MOUSE_BUTTON_LEFT};
use fantoccini::{ClientBuilder, Locator};

fn find_program(names: &[&str], env: &str) -> String {
    if let Ok(p) = std::env::var(env) {
        return p;
    }
    for name in names {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let path = std::path::Path::new(dir).join(name);
            if path.is_file() {
                return path.to_string_lossy().into_owned();
            }
        }
    }
    panic!(
        "the page test needs {} (or ${env}): install Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or run the tests as the README says \
         (./with-vulkan --browser cargo test --release), which installs them",
        names.join(" or ")
    );
}

/// chromedriver on a free port, killed when dropped.
struct Driver(Child, u16);

impl Driver {
    fn start() -> Driver {
        let program = find_program(&["chromedriver"], "CHROMEDRIVER");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&program).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "{program} did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver(child, port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `f` with a WebDriver session in headless Chromium (its own profile folder).
fn in_browser<Fut: std::future::Future<Output = ()>>(profile: &str, f: impl FnOnce(fantoccini::Client) -> Fut) {
    let driver = Driver::start();
    let browser = find_program(&["chromium", "chromium-browser", "google-chrome"], "CHROME");
    let profile = common::scratch(profile);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": browser,
                // This machine's network is closed: no background fetches, no GPU process.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1360,1000",
                         format!("--user-data-dir={}", profile.display())]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector).capabilities(caps).connect(&format!("http://127.0.0.1:{}", driver.1)).await.expect("a WebDriver session in headless Chromium");
        f(client.clone()).await;
        let _ = client.close().await;
    });
}

#[test]
fn paint_a_stroke_complete_and_only_the_stroke_changes() {
    let server = Server::start(&[]);
    let server = &server;
    in_browser("chrome-profile", |client| async move { drive(&client, server, &common::scratch("page")).await });
}

/// The Lab page: Start a tiny run, the step counter advances and the samples change; Pause
/// stops it within one chunk; Step adds exactly one step and one loss row; the layer view
/// draws as many maps per layer as the table has channels, the kernel view the step's
/// dispatches; an upload that is not images is refused; Save makes a model the completion
/// page completes with. Saves a screenshot (with DCGAN_UPDATE_SCREENSHOT=1 also
/// docs/lab-page.png, the README's).
#[test]
fn the_lab_page_trains_pauses_and_steps() {
    let saves = common::scratch("lab-page-saves");
    let server = Server::start(&["--lab-out", saves.to_str().unwrap()]);
    let server = &server;
    in_browser("chrome-profile-lab", |client| async move { drive_lab(&client, server, &common::scratch("lab-page")).await });
}

async fn lab_snapshot(client: &fantoccini::Client) -> serde_json::Value {
    client.execute("return window.lab ? window.lab.snapshot() : null", vec![]).await.expect("the Lab page's snapshot")
}

async fn lab_until(client: &fantoccini::Client, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = lab_snapshot(client).await;
        if !s.is_null() && ready(&s) {
            return s;
        }
        assert!(s.is_null() || s["error"].is_null(), "the run failed: {s}");
        if start.elapsed() > Duration::from_secs(300) {
            let status = client.find(Locator::Id("status")).await.ok();
            let text = match status { Some(e) => e.text().await.unwrap_or_default(), None => String::new() };
            panic!("{what}: not reached; the page says: {text}; last snapshot {s}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &fantoccini::Client, id: &str) {
    client.find(Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}")).click().await.unwrap_or_else(|e| panic!("click #{id}: {e}"));
}

async fn drive_lab(client: &fantoccini::Client, server: &Server, out: &std::path::Path) {
    // Linked from the completion page.
    client.goto(&format!("{}/", server.url)).await.expect("the page loads");
    client.find(Locator::Css("a[href='/lab']")).await.expect("a link to the Lab").click().await.unwrap();
    lab_until(client, "the Lab page loads", |s| s["step"] == 0).await;
    let chunk = server.get("/api/v1/lab").json()["chunk_steps"].as_u64().unwrap();

    click(client, "start").await; // the first preset: tiny
    let first = lab_until(client, "training shows a sample grid", |s| s["step"].as_u64().unwrap() >= 2 && !s["image"].is_null()).await;
    let changed = lab_until(client, "the samples change", |s| !s["image"].is_null() && s["image"] != first["image"] && s["samples"].as_u64().unwrap() >= 2).await;
    assert!(changed["step"].as_u64() > first["step"].as_u64(), "the step counter advances: {first} -> {changed}");

    // Pause, then a Step that waits behind the chunk under way: once it has run, nothing else does.
    click(client, "pause").await;
    let paused = lab_until(client, "paused", |s| s["running"] == false).await;
    let answered = paused["answered"].as_u64().unwrap();
    click(client, "step").await;
    lab_until(client, "the Step is accepted", |s| s["answered"].as_u64() > Some(answered)).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let settled = loop {
        let r = server.get("/api/v1/lab").json()["run"].clone();
        if r["pending_steps"] == 0 {
            break r;
        }
        assert!(Instant::now() < deadline, "the Step never ran: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settled_step = settled["step"].as_u64().unwrap();
    assert!(settled_step <= paused["step"].as_u64().unwrap() + chunk + 1, "Pause at step {}, training went on to {settled_step}", paused["step"]);
    let before = lab_until(client, "the page shows the paused run", |s| s["step"].as_u64() == Some(settled_step) && s["pending"] == 0).await;

    // Step: exactly one more step and one more loss row.
    click(client, "step").await;
    let after = lab_until(client, "one Step", |s| s["step"].as_u64() == Some(settled_step + 1) && s["pending"] == 0).await;
    assert_eq!(after["rows"].as_u64(), Some(before["rows"].as_u64().unwrap() + 1), "{before} -> {after}");
    assert_eq!(server.get("/api/v1/lab").json()["run"]["step"].as_u64(), Some(settled_step + 1), "nothing ran after the Step");

    // The Step's views: a map per channel of every layer, as the architecture table says.
    let stepped = settled_step + 1;
    let viewed = lab_until(client, "the layer and kernel views of the Step", |s| {
        s["layersStep"].as_u64() == Some(stepped) && s["kernelsStep"].as_u64() == Some(stepped) && s["kernelRows"].as_u64() > Some(0)
    })
    .await;
    let maps = &viewed["maps"];
    let mut checked = 0;
    for row in viewed["table"].as_array().unwrap() {
        let out: Vec<u64> = row["output"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        if out.len() != 3 {
            continue; // D's logit
        }
        let kinds: &[&str] = if row["net"] == "G" { &["generator"] } else { &["real", "fake"] };
        for kind in kinds {
            let key = format!("{kind} {}", row["layer"].as_str().unwrap());
            assert_eq!(maps[&key].as_u64(), Some(out[0]), "{key}: the page drew {} maps for {} channels ({maps})", maps[&key], out[0]);
            checked += 1;
        }
        if row["layer"] == "d.conv0" {
            assert_eq!(maps["filters d.conv0"].as_u64(), Some(out[0]), "one picture per first-layer filter");
        }
    }
    assert_eq!(checked, 3 + 2 * 2, "tiny: G's 3 stages, D's 2 convolutions twice ({maps})");
    assert_eq!(viewed["kernelDispatches"], server.get("/api/v1/lab/kernels").json()["dispatches"]);

    // An upload that is not a set of images: refused, said on the page; the run stays.
    let notes = out.join("notes.txt");
    std::fs::write(&notes, "a shopping list").unwrap();
    client.find(Locator::Id("upload")).await.unwrap().send_keys(&notes.to_string_lossy()).await.expect("a file is chosen");
    let refused = lab_until(client, "the upload is refused", |s| s["upload"].as_str().unwrap_or("").starts_with("Refused")).await;
    assert!(refused["upload"].as_str().unwrap().contains("not a set of images"), "{refused}");
    assert_eq!(refused["step"].as_u64(), Some(stepped));

    // Save: a checkpoint and weights, and a model of the completion page.
    client.execute("document.getElementById('save-name').value = 'lab-page-tiny'", vec![]).await.unwrap();
    click(client, "save").await;
    let saved = lab_until(client, "the model is saved", |s| s["saveText"].as_str().unwrap_or("").starts_with("Saved 'lab-page-tiny'") || s["saveText"].as_str().unwrap_or("").starts_with("Not saved")).await;
    assert!(saved["saveText"].as_str().unwrap().starts_with("Saved"), "{saved}");
    let written = server.get("/api/v1/lab").json()["run"]["save"].clone();
    for file in ["weights", "checkpoint"] {
        assert!(std::path::Path::new(written[file].as_str().unwrap()).is_file(), "{written}");
    }

    client.set_window_size(1360, 1900).await.expect("a tall window for the screenshot");
    client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let shot = client.screenshot().await.expect("a screenshot");
    let path = out.join("lab-page.png");
    std::fs::write(&path, &shot).unwrap();
    eprintln!("screenshot: {}", path.display());
    if std::env::var_os("DCGAN_UPDATE_SCREENSHOT").is_some() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lab-page.png");
        let tmp = readme.with_extension("png.tmp");
        std::fs::write(&tmp, &shot).and_then(|_| std::fs::rename(&tmp, &readme)).expect("docs/lab-page.png is written");
        eprintln!("updated {}", readme.display());
    }
    // And its lower half: the layer and kernel views (for a look, not the README).
    client.execute("document.getElementById('lab-layers').scrollIntoView()", vec![]).await.unwrap();
    std::fs::write(out.join("lab-page-views.png"), client.screenshot().await.expect("a screenshot")).unwrap();
    let violations = accessibility_violations(client).await;
    assert!(violations.is_empty(), "axe-core on the Lab page: {}", serde_json::to_string_pretty(&violations).unwrap());

    // The saved model on the completion page: pick it, a centre hole, Complete.
    client.set_window_size(1360, 1000).await.unwrap();
    client.goto(&format!("{}/", server.url)).await.expect("the page loads");
    wait_until(client, 60, "the page loads an example", |s| s["width"] == 64).await;
    let offered = client.execute("return [...document.getElementById('model').options].map(o => o.value)", vec![]).await.unwrap();
    assert!(offered.as_array().unwrap().contains(&serde_json::json!("lab-page-tiny")), "the completion page offers the saved model: {offered}");
    client
        .execute(
            "const m = document.getElementById('model'); m.value = 'lab-page-tiny'; m.dispatchEvent(new Event('change'));
             const p = document.getElementById('preset'); p.value = 'center'; p.dispatchEvent(new Event('change'));
             const f = document.getElementById('settings').elements; f.iters.value = 10; f.ilo_layers.value = 0;",
            vec![],
        )
        .await
        .unwrap();
    wait_until(client, 30, "the centre hole", |s| s["holes"].as_u64() > Some(0)).await;
    click(client, "complete").await;
    let done = wait_until(client, 300, "the completion with the saved model", |s| s["status"] == "done" || s["status"] == "error" || s["status"] == "warning").await;
    assert_ne!(done["status"], "error", "the page reports an error: {done}");
    assert_eq!(done["result"]["width"], 64, "{done}");
}

async fn snapshot(client: &fantoccini::Client) -> serde_json::Value {
    client.execute("return window.dcgan ? window.dcgan.snapshot() : null", vec![]).await.expect("the page's snapshot")
}

async fn wait_until(client: &fantoccini::Client, seconds: u64, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = snapshot(client).await;
        if ready(&s) {
            return s;
        }
        if start.elapsed() > Duration::from_secs(seconds) {
            let status = client.find(Locator::Id("status")).await.ok();
            let text = match status { Some(e) => e.text().await.unwrap_or_default(), None => String::new() };
            panic!("{what}: not within {seconds} s; the page says: {text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// WebDriver's codes for special keys.
const KEY_TAB: char = '\u{e004}';
const KEY_SHIFT: char = '\u{e008}';
const KEY_CONTROL: char = '\u{e009}';

/// Press the keys of `press` in order, then release those of `release` in reverse order
/// (a key pressed and not released stays held, as a finger on it).
async fn keys(client: &fantoccini::Client, press: &[char], release: &[char]) {
    let mut seq = KeyActions::new("keyboard".into());
    for &k in press {
        seq = seq.then(KeyAction::Down { value: k });
    }
    for &k in release.iter().rev() {
        seq = seq.then(KeyAction::Up { value: k });
    }
    client.perform_actions(seq).await.expect("keys are pressed");
}

/// Wait until `css` finds `n` loaded images.
async fn wait_for_images(client: &fantoccini::Client, css: &str, n: usize) -> Vec<fantoccini::elements::Element> {
    let start = Instant::now();
    loop {
        let found = client.find_all(Locator::Css(css)).await.unwrap_or_default();
        let script = format!("return [...document.querySelectorAll('{css}')].filter(i => i.complete && i.naturalWidth > 0).length");
        let loaded = client.execute(&script, vec![]).await.ok().and_then(|v| v.as_u64()).unwrap_or(0);
        if found.len() == n && loaded == n as u64 {
            return found;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{css}: {} of {n} images within 60 s", found.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run axe-core (tests/fixtures/axe-core) in the page; its serious and critical violations.
async fn accessibility_violations(client: &fantoccini::Client) -> Vec<serde_json::Value> {
    let axe = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axe-core/axe.min.js")).expect("axe-core");
    client.execute(&format!("{axe}\n;return true;"), vec![]).await.expect("axe-core loads");
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))).catch((e) => done([{ id: 'axe failed', impact: 'critical', help: String(e) }]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    found.as_array().unwrap().iter().filter(|v| v["impact"] == "serious" || v["impact"] == "critical").cloned().collect()
}

/// Tab from the top of the page up to `presses` times: the ids (or tags) that get the focus.
async fn tab_through(client: &fantoccini::Client, presses: usize) -> Vec<String> {
    client.execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);", vec![]).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..presses {
        keys(client, &[KEY_TAB], &[KEY_TAB]).await;
        let at = client.execute("const e = document.activeElement; return e.id || (e.tagName + (e.dataset.example ? ':' + e.dataset.example : ''));", vec![]).await.unwrap();
        seen.push(at.as_str().unwrap_or("").to_string());
    }
    seen
}

async fn drive(client: &fantoccini::Client, server: &Server, out: &std::path::Path) {
    client.goto(&format!("{}/", server.url)).await.expect("the page loads");
    // The first example of the first model (faces) is loaded on start.
    let first = wait_until(client, 60, "the page loads an example", |s| s["width"] == 64).await;
    assert_eq!(first["size"], 64);
    assert_eq!(first["holes"], 0, "nothing painted yet");
    // The preset menu is the server's preset table.
    let offered = client.execute("return [...document.getElementById('preset').options].map(o => o.value).filter(v => v)", vec![]).await.unwrap();
    let table: Vec<serde_json::Value> = server.get("/api/v1/models").json()["presets"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(offered, serde_json::Value::Array(table), "the page offers the presets of the API");

    // Few iterations, z only: a browser test, not a quality run.
    client
        .execute(
            "const f = document.getElementById('settings').elements; f.iters.value = 40; f.ilo_layers.value = 0; f.frames_every.value = 5; f.blend.value = 'poisson';",
            vec![],
        )
        .await
        .unwrap();

    // A picture of another shape through the file picker: kept at its size, the model seeing
    // its centre square (white here); then the example again.
    let wide = out.join("wide.png");
    image::RgbImage::from_fn(120, 40, |x, _| image::Rgb([if x < 40 || x >= 80 { 0 } else { 255 }; 3])).save(&wide).unwrap();
    client.find(Locator::Id("open")).await.unwrap().send_keys(&wide.to_string_lossy()).await.expect("a file is chosen");
    let opened = wait_until(client, 30, "the file opens", |s| s["width"] == 120).await;
    assert_eq!((opened["height"].as_u64(), &opened["region"]), (Some(40), &serde_json::json!({ "x": 40, "y": 0, "size": 40 })), "kept whole, the centre square chosen");
    let view = client.execute("return window.dcgan.modelViewMean()", vec![]).await.unwrap().as_f64().unwrap();
    assert!(view > 250.0, "the model sees the centre square (all white): {view}");
    client.find(Locator::Css("#examples button")).await.unwrap().click().await.unwrap();
    wait_until(client, 30, "the example opens again", |s| s["width"] == 64).await;

    // A mask PNG (white = keep), then a stroke with a finger; clear in between and after.
    let mask_png = out.join("mask.png");
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([if (16..48).contains(&x) && (16..48).contains(&y) { 0 } else { 255 }])).save(&mask_png).unwrap();
    client.find(Locator::Id("mask-file")).await.unwrap().send_keys(&mask_png.to_string_lossy()).await.expect("a mask file is chosen");
    let masked = wait_until(client, 30, "the mask PNG is read", |s| s["holes"] != 0).await;
    assert_eq!(masked["holes"], 32 * 32, "the mask PNG's 32x32 hole");
    let editor = client.find(Locator::Id("editor")).await.unwrap();
    let clear = client.find(Locator::Id("clear")).await.unwrap();
    clear.click().await.unwrap();
    let finger = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: None, x: -60.0, y: -100.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 60.0, y: -100.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(finger).await.expect("a touch stroke");
    assert!(snapshot(client).await["holes"].as_u64().unwrap() > 20, "a finger paints too");
    clear.click().await.unwrap();
    assert_eq!(snapshot(client).await["holes"], 0, "clear empties the mask");

    // A stroke across the middle of the editor with the mouse (a real pointer sequence).
    let stroke = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: None, x: -120.0, y: 10.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 0.0, y: 30.0 })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 120.0, y: 10.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(stroke).await.expect("the stroke is painted");
    let painted = snapshot(client).await;
    let holes = painted["holes"].as_u64().unwrap();
    assert!(holes > 100 && holes < 64 * 64 / 2, "the stroke covers {holes} pixels");
    // The stroke sits in the middle band of the image, where the pointer went.
    let b = client.execute("return window.dcgan.maskBox()", vec![]).await.unwrap();
    assert!(b["y0"].as_u64().unwrap() >= 20 && b["y1"].as_u64().unwrap() < 48 && b["x0"].as_u64().unwrap() >= 6 && b["x1"].as_u64().unwrap() < 58, "the stroke's box {b}");

    // Undo (Ctrl+Z) takes the stroke away, redo (Ctrl+Shift+Z) brings it back.
    keys(client, &[KEY_CONTROL, 'z'], &[KEY_CONTROL, 'z']).await;
    assert_eq!(snapshot(client).await["holes"], 0, "Ctrl+Z undoes the stroke");
    keys(client, &[KEY_CONTROL, KEY_SHIFT, 'z'], &[KEY_CONTROL, KEY_SHIFT, 'z']).await;
    assert_eq!(snapshot(client).await["holes"], holes, "Ctrl+Shift+Z redoes it");

    client.find(Locator::Id("complete")).await.unwrap().click().await.expect("Complete is clicked");
    let done = wait_until(client, 300, "the completion finishes", |s| s["status"] == "done" || s["status"] == "error" || s["status"] == "warning").await;
    assert_ne!(done["status"], "error", "the page reports an error");
    assert_eq!(done["result"]["width"], 64);
    assert_eq!(done["downloads"], serde_json::json!([true, true, true]));
    let c = client.execute("return window.dcgan.compare()", vec![]).await.unwrap();
    assert_eq!(c["outsideMax"], 0, "a known pixel changed: {c}");
    assert!(c["changedInside"].as_u64().unwrap() * 2 > c["inside"].as_u64().unwrap(), "too few of the stroke's pixels changed: {c}");
    let timings = &done["timings"];
    eprintln!("page timings (ms after Complete): first live frame {}, result {}", timings["firstFrame"], timings["done"]);

    // Holding O shows the original where the result was; letting go shows the result again.
    let shown = || async { client.execute("return window.dcgan.shownMean()", vec![]).await.unwrap().as_f64().unwrap() };
    let result_mean = shown().await;
    keys(client, &['o'], &[]).await;
    let original_mean = shown().await;
    keys(client, &[], &['o']).await;
    assert_ne!(result_mean, original_mean, "holding O shows the original");
    assert_eq!(shown().await, result_mean, "letting go of O shows the result");

    // The explore panel: samples of G(z), then the path between two of them.
    client.execute("document.getElementById('explore').open = true", vec![]).await.unwrap();
    let samples = wait_for_images(client, "#samples img", 16).await;
    samples[0].click().await.unwrap();
    samples[5].click().await.unwrap();
    wait_for_images(client, "#interpolation img", 10).await;

    // What a user sees at the end, for the README.
    client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let shot = client.screenshot().await.expect("a screenshot");
    let path = out.join("serve-page.png");
    std::fs::write(&path, &shot).unwrap();
    eprintln!("screenshot: {}", path.display());
    if std::env::var_os("DCGAN_UPDATE_SCREENSHOT").is_some() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve-page.png");
        let tmp = readme.with_extension("png.tmp");
        std::fs::write(&tmp, &shot).and_then(|_| std::fs::rename(&tmp, &readme)).expect("docs/serve-page.png is written");
        eprintln!("updated {}", readme.display());
    }

    // No serious or critical accessibility violation (axe-core), with a result on the page.
    let violations = accessibility_violations(client).await;
    assert!(violations.is_empty(), "axe-core: {}", serde_json::to_string_pretty(&violations).unwrap());

    // Every control is reached with Tab, the file pickers and Complete included, and the
    // focus moves on (no trap).
    let reached = tab_through(client, 90).await;
    for id in ["model", "open", "editor", "brush", "eraser", "region-tool", "size", "undo", "redo", "clear", "preset", "mask-file", "region-x", "complete", "try-another", "hold-original", "compare", "download-result", "use-result", "s-method", "advanced", "explore", "sample"] {
        let id = if id == "advanced" || id == "explore" { "SUMMARY" } else { id };
        assert!(reached.iter().any(|r| r == id), "Tab never reached {id}: {reached:?}");
    }
    assert!(reached.iter().any(|r| r.starts_with("BUTTON:")), "the examples are buttons reached by Tab: {reached:?}");

    // A stale result goes when the model changes, with its downloads; the photo stays.
    client.execute("const m = document.getElementById('model'); m.value = 'emoji'; m.dispatchEvent(new Event('change'));", vec![]).await.unwrap();
    let switched = wait_until(client, 30, "the model switches", |s| s["result"].is_null()).await;
    assert_eq!(switched["downloads"], serde_json::json!([false, false, false]), "the old result's downloads are disabled");
    assert_eq!((switched["width"].as_u64(), switched["holes"].as_u64()), (Some(64), Some(holes)), "the photo and its mask stay");

    // A phone: nothing wider than the screen, Complete before the settings.
    client.set_window_size(390, 844).await.expect("a phone-sized window");
    let layout = client
        .execute(
            "return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, complete: document.getElementById('complete').getBoundingClientRect().top + window.scrollY, settings: document.getElementById('settings-panel').getBoundingClientRect().top + window.scrollY };",
            vec![],
        )
        .await
        .unwrap();
    assert!(layout["scroll"].as_f64().unwrap() <= layout["inner"].as_f64().unwrap(), "horizontal overflow on a phone: {layout}");
    assert!(layout["complete"].as_f64().unwrap() < layout["settings"].as_f64().unwrap(), "Complete comes before the settings: {layout}");
}
