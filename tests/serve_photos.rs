//! `serve` with real photos and IOPaint's clients: results at the photo's own size and in
//! its format (only the hole's pixels change), IOPaint's exact web-app request and discovery
//! calls, CORS for one named origin, the mask conventions named by their fields.

mod common;

use std::path::Path;

use base64::Engine;
use common::server::Server;
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn data_url(kind: &str, bytes: &[u8]) -> String {
    format!("data:image/{kind};base64,{}", b64(bytes))
}

/// A 512 x 384 colour photo: a face example enlarged into the middle of a coloured scene, so
/// the model's region (the centre square) holds a face.
fn photo() -> image::RgbImage {
    let face = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces/s38_04.png")).unwrap().to_rgb8();
    let face = image::imageops::resize(&face, 384, 384, image::imageops::FilterType::Triangle);
    image::RgbImage::from_fn(512, 384, |x, y| {
        if (64..448).contains(&x) { *face.get_pixel(x - 64, y) } else { image::Rgb([(x / 2) as u8, 90, (y / 2) as u8 + 60]) }
    })
}

/// The painted hole: a stroke over the eyes.
fn hole(x: u32, y: u32) -> bool {
    (170..350).contains(&x) && (140..175).contains(&y)
}

fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A mask of the photo's size, `white_fills` choosing the convention.
fn mask(white_fills: bool) -> Vec<u8> {
    let m = image::GrayImage::from_fn(512, 384, |x, y| image::Luma([if hole(x, y) == white_fills { 255 } else { 0 }]));
    encoded(&image::DynamicImage::ImageLuma8(m), image::ImageFormat::Png)
}

fn small() -> serde_json::Value {
    json!({ "iters": 10, "ilo_layers": 0, "frames_every": 5 })
}

/// Every known pixel byte-identical, most hole pixels changed.
fn check_only_the_hole_changed(result: &image::RgbImage, what: &str) {
    let before = photo();
    assert_eq!(result.dimensions(), (512, 384), "{what}: the photo's size");
    let (mut changed, mut holes) = (0, 0);
    for (x, y, p) in before.enumerate_pixels() {
        if hole(x, y) {
            holes += 1;
            changed += (p != result.get_pixel(x, y)) as usize;
        } else {
            assert_eq!(p, result.get_pixel(x, y), "{what}: known pixel ({x}, {y}) changed");
        }
    }
    assert!(changed * 2 > holes, "{what}: only {changed} of {holes} hole pixels changed");
}

#[test]
fn a_photo_comes_back_at_its_size_in_its_format_with_only_the_hole_changed() {
    let server = Server::start(&[]);
    let png = encoded(&image::DynamicImage::ImageRgb8(photo()), image::ImageFormat::Png);
    let job = server.post_json("/api/v1/jobs", &json!({ "model": "faces", "image": b64(&png), "keep_mask": b64(&mask(false)), "options": small() }));
    assert_eq!(job.status, 202, "{}", job.text());
    let job = job.json();
    let events = server.events(job["events"].as_str().unwrap(), |_, _| true);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert_eq!((done["width"].as_u64(), done["height"].as_u64()), (Some(512), Some(384)));
    assert!(done["notes"].to_string().contains("colour comes from its surroundings"), "a grey model on a colour photo says so: {done}");
    assert!(events.iter().any(|(e, _)| e == "blending"), "the full-resolution step is announced");
    assert!(events.iter().filter(|(e, _)| e == "progress").all(|(_, v)| v["phase"] == "z"), "z only, named");
    let result = server.get(job["result"].as_str().unwrap());
    assert_eq!(result.headers.get("content-type").unwrap(), "image/png");
    let img = image::load_from_memory(&result.body).unwrap();
    assert!(img.color().has_color(), "colour stays colour");
    check_only_the_hole_changed(&img.to_rgb8(), "PNG");
    let preview = server.get(job["preview"].as_str().unwrap());
    assert_eq!(image::load_from_memory(&preview.body).unwrap().width(), 64, "the preview is the model's view");

    // A JPEG gives a JPEG of the same size.
    let jpeg = encoded(&image::DynamicImage::ImageRgb8(photo()), image::ImageFormat::Jpeg);
    let job = server.post_json("/api/v1/jobs", &json!({ "image": b64(&jpeg), "fill_mask": b64(&mask(true)), "options": small() })).json();
    assert_eq!(server.events(job["events"].as_str().unwrap(), |_, _| true).last().unwrap().0, "done");
    let result = server.get(job["result"].as_str().unwrap());
    assert_eq!(result.headers.get("content-type").unwrap(), "image/jpeg");
    assert_eq!(image::guess_format(&result.body).unwrap(), image::ImageFormat::Jpeg);
    assert_eq!(image::load_from_memory(&result.body).unwrap().width(), 512);
    // ... or a PNG when asked.
    let job = server.post_json("/api/v1/jobs", &json!({ "image": b64(&jpeg), "fill_mask": b64(&mask(true)), "format": "png", "options": small() })).json();
    server.events(job["events"].as_str().unwrap(), |_, _| true);
    assert_eq!(server.get(job["result"].as_str().unwrap()).headers.get("content-type").unwrap(), "image/png");
}

/// IOPaint's web app's request body (web_app/src/lib/api.ts), as it sends it: 200 with the
/// image at the input's size, the white area of its mask filled (white = fill), the rest
/// byte-identical; its other fields ignored and listed; `X-Seed` given.
#[test]
fn iopaint_s_web_app_request_is_answered_like_iopaint() {
    let server = Server::start(&[]);
    let png = encoded(&image::DynamicImage::ImageRgb8(photo()), image::ImageFormat::Png);
    let body = json!({
        "image": data_url("png", &png), "mask": data_url("png", &mask(true)),
        "ldm_steps": 20, "ldm_sampler": "plms", "zits_wireframe": true, "cv2_flag": "INPAINT_NS", "cv2_radius": 5,
        "hd_strategy": "Crop", "hd_strategy_crop_triger_size": 640, "hd_strategy_crop_margin": 128, "hd_trategy_resize_imit": 2048,
        "prompt": "", "negative_prompt": "", "use_croper": false, "croper_x": 0, "croper_y": 0, "croper_height": 512, "croper_width": 512,
        "use_extender": false, "extender_x": 0, "extender_y": 0, "extender_height": 512, "extender_width": 512,
        "sd_mask_blur": 12, "sd_strength": 1.0, "sd_steps": 50, "sd_guidance_scale": 7.5, "sd_sampler": "DPM++ 2M", "sd_seed": 42,
        "sd_match_histograms": false, "sd_lcm_lora": false, "paint_by_example_example_image": null, "p2p_image_guidance_scale": 1.5,
        "enable_controlnet": false, "controlnet_conditioning_scale": 0.4, "controlnet_method": "", "enable_brushnet": false,
        "brushnet_method": "", "brushnet_conditioning_scale": 1.0, "enable_powerpaint_v2": false, "powerpaint_task": "text-guided",
    });
    let r = server.post_json("/api/v1/inpaint", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers.get("content-type").unwrap(), "image/png");
    assert_eq!(r.headers.get("x-seed").unwrap(), "42", "IOPaint's seed is the seed");
    let ignored = r.headers.get("x-ignored-fields").expect("the ignored fields are listed").to_str().unwrap().to_string();
    assert!(ignored.contains("ldm_steps") && ignored.contains("hd_trategy_resize_imit") && !ignored.contains("sd_seed"), "{ignored}");
    check_only_the_hole_changed(&image::load_from_memory(&r.body).unwrap().to_rgb8(), "IOPaint");

    // Its discovery calls, in its shapes.
    let config = server.get("/api/v1/server-config").json();
    let names: Vec<&str> = config["modelInfos"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["faces", "emoji"]);
    assert_eq!(config["modelInfos"][0]["model_type"], "inpaint");
    assert_eq!(config["plugins"], json!([]));
    assert_eq!(server.get("/api/v1/model").json()["name"], "faces");
    assert_eq!(server.post_json("/api/v1/model", &json!({ "name": "emoji" })).json()["name"], "emoji");
    assert_eq!(server.get("/api/v1/model").json()["name"], "emoji", "the switch holds");
    assert_eq!(server.post_json("/api/v1/model", &json!({ "name": "cats" })).status, 404);
    // An IOPaint error answer carries `errors`, which its web app shows.
    let r = server.post_json("/api/v1/inpaint", &json!({ "image": data_url("png", &png) }));
    assert!(r.status == 422 && r.json()["errors"].as_str().is_some(), "{}", r.text());
}

/// A mask that fills most of the region gets a warning that names its convention; a mask
/// that is the other convention's (keeps only a sliver) says so.
#[test]
fn masks_name_their_convention_and_a_large_fill_is_questioned() {
    let server = Server::start(&[]);
    let png = encoded(&image::DynamicImage::ImageRgb8(photo()), image::ImageFormat::Png);
    // The keep convention's mask sent as a fill mask: everything but the stroke is filled.
    let r = server.post_json("/api/v1/jobs", &json!({ "image": b64(&png), "fill_mask": b64(&mask(false)), "options": small() }));
    assert_eq!(r.status, 202, "{}", r.text());
    let warnings = r.json()["warnings"].to_string();
    assert!(warnings.contains("fills") && warnings.contains("white = fill"), "{warnings}");
    assert_eq!(server.delete(r.json()["cancel"].as_str().unwrap()).status, 202);
    // IOPaint's one-shot says it in a header.
    let r = server.post_json("/api/v1/inpaint", &json!({ "image": b64(&png), "mask": b64(&mask(false)), "options": small() }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.headers.get("x-warnings").unwrap().to_str().unwrap().contains("white = fill"));
}

/// CORS is off by default; `--cors-origin O` answers O's preflight and tags O's answers,
/// and refuses every other origin.
#[test]
fn cors_is_for_the_one_named_origin() {
    let preflight = |server: &Server, origin: &str| {
        server.raw(
            format!(
                "OPTIONS /api/v1/inpaint HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n",
                server.host()
            )
            .as_bytes(),
        )
    };
    let plain = Server::start(&[]);
    let head = preflight(&plain, "http://localhost:5173");
    assert!(head.starts_with("HTTP/1.1 403") && !head.to_lowercase().contains("access-control-allow-origin"), "{head}");
    drop(plain);

    let server = Server::start(&["--cors-origin", "http://localhost:5173"]);
    let head = preflight(&server, "http://localhost:5173").to_lowercase();
    assert!(head.starts_with("http/1.1 204") && head.contains("access-control-allow-origin: http://localhost:5173") && head.contains("access-control-allow-headers"), "{head}");
    let head = preflight(&server, "http://evil.example");
    assert!(head.starts_with("HTTP/1.1 403") && !head.to_lowercase().contains("access-control-allow-origin"), "{head}");
    let r = server.get_with("/api/v1/server-config", &[("origin", "http://localhost:5173")]);
    assert_eq!(r.headers.get("access-control-allow-origin").unwrap(), "http://localhost:5173");
    assert!(r.headers.get("access-control-expose-headers").unwrap().to_str().unwrap().contains("x-seed"));
    let png = encoded(&image::DynamicImage::ImageRgb8(photo()), image::ImageFormat::Png);
    let body = json!({ "image": b64(&png), "mask": b64(&mask(true)), "options": small() }).to_string();
    let r = server.post_with("/api/v1/inpaint", "application/json", body.as_bytes(), &[("origin", "http://localhost:5173")]);
    assert_eq!(r.status, 200, "the named origin may call: {}", r.text());
    // Refused before the body is read (a small one, so the client is still listening).
    let r = server.post_with("/api/v1/inpaint", "application/json", b"{}", &[("origin", "http://evil.example")]);
    assert_eq!(r.status, 403, "any other origin may not");
}

/// The fit check reaches API clients: noise is said to look unlike what the face model
/// knows (`unlike` and a note), a held-out face is not.
#[test]
fn a_job_says_when_the_picture_looks_unlike_what_the_model_knows() {
    let server = Server::start(&[]);
    let mut rng = dcgan_inpaint::rng::Rng::new(3);
    let noise = image::GrayImage::from_fn(64, 64, |_, _| image::Luma([(rng.uniform() * 255.0) as u8]));
    let noise = encoded(&image::DynamicImage::ImageLuma8(noise), image::ImageFormat::Png);
    let face = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/examples/faces/s40_10.png")).unwrap();
    for (what, image, unlike) in [("noise", noise, true), ("a held-out face", face, false)] {
        let options = json!({ "iters": 200, "ilo_layers": 0, "frames_every": 100 });
        let job = server.post_json("/api/v1/jobs", &json!({ "model": "faces", "image": b64(&image), "preset": "center", "options": options }));
        assert_eq!(job.status, 202, "{}", job.text());
        let events = server.events(job.json()["events"].as_str().unwrap(), |_, _| true);
        let (last, done) = events.last().unwrap();
        assert_eq!(last, "done", "{what}: {events:?}");
        assert!(done["fit"].as_f64().is_some_and(|f| f > 0.0), "{what}: the fit is given: {done}");
        assert_eq!(done["unlike"].as_bool(), Some(unlike), "{what}: {done}");
        assert_eq!(done["notes"].to_string().contains("looks unlike the pictures this model knows"), unlike, "{what}: {done}");
    }
}
