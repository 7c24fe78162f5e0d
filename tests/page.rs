//! The page in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! opens `serve`'s page, opens a wide image through the file picker (centre-cropped by the
//! server), reads a mask PNG, paints with a finger and clears, loads an example again,
//! paints a stroke with the mouse (undo and redo it
//! with Ctrl+Z / Ctrl+Shift+Z), clicks Complete, waits for the result and checks that it
//! changed inside the stroke and nowhere else; holding Tab shows the original; the explore
//! panel shows samples and an interpolation.
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

#[test]
fn paint_a_stroke_complete_and_only_the_stroke_changes() {
    let server = Server::start(&[]);
    let driver = Driver::start();
    let browser = find_program(&["chromium", "chromium-browser", "google-chrome"], "CHROME");
    let profile = common::scratch("chrome-profile");
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
        let result = drive(&client, &server, &common::scratch("page")).await;
        let _ = client.close().await;
        result
    });
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

async fn drive(client: &fantoccini::Client, server: &Server, out: &std::path::Path) {
    client.goto(&format!("{}/", server.url)).await.expect("the page loads");
    // The first example of the first model (faces) is loaded on start.
    let first = wait_until(client, 60, "the page loads an example", |s| !s["image"].is_null()).await;
    assert_eq!(first["size"], 64);
    assert!(first["mask"].as_array().unwrap().iter().all(|v| v == 0), "nothing painted yet");
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

    // An image of another shape through the file picker: prepared by the server (centre
    // square, resized), then the example again.
    let wide = out.join("wide.png");
    image::RgbImage::from_fn(120, 40, |x, _| image::Rgb([if x < 40 || x >= 80 { 0 } else { 255 }; 3])).save(&wide).unwrap();
    client.find(Locator::Id("open")).await.unwrap().send_keys(&wide.to_string_lossy()).await.expect("a file is chosen");
    let opened = wait_until(client, 30, "the file opens", |s| s["image"] != first["image"] && !s["image"].is_null()).await;
    let centre = opened["image"].as_array().unwrap();
    assert!(centre.iter().step_by(4).all(|v| v.as_i64().unwrap() >= 250), "the centre square of the picture (all white) is what the model sees");
    let example = client.find(Locator::Css("#examples img")).await.unwrap();
    example.click().await.unwrap();
    wait_until(client, 30, "the example opens again", |s| s["image"] == first["image"]).await;

    // A mask PNG (white = keep), then a stroke with a finger; clear in between and after.
    let mask_png = out.join("mask.png");
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([if (16..48).contains(&x) && (16..48).contains(&y) { 0 } else { 255 }])).save(&mask_png).unwrap();
    client.find(Locator::Id("mask-file")).await.unwrap().send_keys(&mask_png.to_string_lossy()).await.expect("a mask file is chosen");
    let masked = wait_until(client, 30, "the mask PNG is read", |s| s["mask"].as_array().unwrap().iter().any(|v| v == 1)).await;
    assert_eq!(masked["mask"].as_array().unwrap().iter().filter(|v| *v == 1).count(), 32 * 32, "the mask PNG's 32x32 hole");
    let editor = client.find(Locator::Id("editor")).await.unwrap();
    let clear = client.find(Locator::Id("clear")).await.unwrap();
    clear.click().await.unwrap();
    let finger = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: None, x: -60.0, y: -100.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 60.0, y: -100.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(finger).await.expect("a touch stroke");
    let touched = snapshot(client).await;
    assert!(touched["mask"].as_array().unwrap().iter().filter(|v| *v == 1).count() > 20, "a finger paints too");
    clear.click().await.unwrap();
    assert!(snapshot(client).await["mask"].as_array().unwrap().iter().all(|v| v == 0), "clear empties the mask");

    // A stroke across the middle of the editor with the mouse (a real pointer sequence).
    let stroke = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: None, x: -120.0, y: 10.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 0.0, y: 30.0 })
        .then(PointerAction::MoveToElement { element: editor.clone(), duration: Some(Duration::from_millis(300)), x: 120.0, y: 10.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    client.perform_actions(stroke).await.expect("the stroke is painted");
    let painted = snapshot(client).await;
    let mask: Vec<u8> = painted["mask"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    let holes = mask.iter().filter(|&&m| m == 1).count();
    assert!(holes > 100 && holes < 64 * 64 / 2, "the stroke covers {holes} pixels");
    // The stroke sits in the middle band of the image, where the pointer went.
    for (i, &m) in mask.iter().enumerate() {
        if m == 1 {
            let (x, y) = (i % 64, i / 64);
            assert!((20..48).contains(&y) && (6..58).contains(&x), "a painted pixel at ({x}, {y}), away from the stroke");
        }
    }

    // Undo (Ctrl+Z) takes the stroke away, redo (Ctrl+Shift+Z) brings it back.
    keys(client, &[KEY_CONTROL, 'z'], &[KEY_CONTROL, 'z']).await;
    let undone = snapshot(client).await;
    assert!(undone["mask"].as_array().unwrap().iter().all(|v| v == 0), "Ctrl+Z undoes the stroke");
    keys(client, &[KEY_CONTROL, KEY_SHIFT, 'z'], &[KEY_CONTROL, KEY_SHIFT, 'z']).await;
    assert_eq!(snapshot(client).await["mask"], painted["mask"], "Ctrl+Shift+Z redoes it");

    client.find(Locator::Id("complete")).await.unwrap().click().await.expect("Complete is clicked");
    let done = wait_until(client, 300, "the completion finishes", |s| s["status"] == "done" || s["status"] == "error").await;
    assert_eq!(done["status"], "done", "the page reports an error");
    let image: Vec<i64> = done["image"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let result: Vec<i64> = done["result"].as_array().expect("a result").iter().map(|v| v.as_i64().unwrap()).collect();
    let mut changed_inside = 0;
    for i in 0..64 * 64 {
        let diff = (0..3).map(|c| (image[i * 4 + c] - result[i * 4 + c]).abs()).max().unwrap();
        if mask[i] == 1 {
            changed_inside += (diff > 0) as usize;
        } else {
            assert!(diff <= 1, "pixel ({}, {}) outside the stroke changed by {diff}", i % 64, i / 64);
        }
    }
    assert!(changed_inside * 2 > holes, "only {changed_inside} of the stroke's {holes} pixels changed");
    let timings = &done["timings"];
    eprintln!("page timings (ms after Complete): first live frame {}, result {}", timings["firstFrame"], timings["done"]);

    // Holding Tab shows the original where the result was; letting go shows the result again.
    let shown = |tab: bool| {
        let client = client.clone();
        async move {
            let script = "const c = document.getElementById('result'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, k = c.width / 64, out = [];\
                          for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) out.push(d[((y * k + (k >> 1)) * c.width + x * k + (k >> 1)) * 4]); return out;";
            if tab {
                keys(&client, &[KEY_TAB], &[]).await;
            }
            let v: Vec<i64> = client.execute(script, vec![]).await.unwrap().as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            if tab {
                keys(&client, &[], &[KEY_TAB]).await;
            }
            v
        }
    };
    let red = |v: &[i64]| (0..64 * 64).map(|i| v[i * 4]).collect::<Vec<i64>>();
    let (original, completed) = (red(&image), red(&result));
    let held = shown(true).await;
    let released = shown(false).await;
    assert_eq!(held, original, "holding Tab shows the original");
    assert_eq!(released, completed, "letting go of Tab shows the result");

    // The explore panel: samples of G(z), then the path between two of them.
    client.execute("document.getElementById('explore').open = true", vec![]).await.unwrap();
    let samples = wait_for_images(client, "#samples img", 16).await;
    samples[0].click().await.unwrap();
    samples[5].click().await.unwrap();
    wait_for_images(client, "#interpolation img", 10).await;

    // What a user sees at the end, for the README.
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
}
