//! The roofline of `bench --roofline`: the adapter's attainable FLOP/s (an FMA-bound kernel)
//! and bandwidth (a streaming copy), measured here (shaders/roofline.wgsl), and every timed
//! product of the training step and the completion iteration placed at its arithmetic
//! intensity (FLOPs over the fewest bytes it must move) and achieved FLOP/s. A kernel's
//! roof at intensity I is min(peak FLOP/s, I x bandwidth); its fraction of that roof says
//! how far it is from what the hardware allows.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::engine::gpu::{Family, Gpu, Kernel, arg};
use crate::engine::tensor::Tensor;
use crate::error::Result;
use super::KernelTiming;

const ROOFLINE: Family = crate::family!("roofline.wgsl");
/// Multiply-add rounds per invocation of `fma_peak` (lavapipe ends loops past 65535).
const FMA_ITERS: u32 = 1024;
/// Invocations of one `fma_peak` dispatch: 64 FLOPs x FMA_ITERS each, 4.3 GFLOP in all.
const FMA_INVOCATIONS: usize = 1 << 16;
/// Bytes per buffer of the streaming copy: far beyond any cache.
const STREAM_BYTES: u64 = 256 << 20;
/// vec4s each invocation of `stream_copy` copies.
const COPY_PER_INVOCATION: usize = 16;
/// A measurement repeats its dispatches until it lasts this long (seconds).
const MIN_SECONDS: f64 = 0.05;

crate::kernel_params! {
    /// shaders/roofline.wgsl `Params`.
    pub struct RooflineParams { n: u32, iters: u32, mul: f32, add: f32 }
}

/// The two roofs, measured on this adapter.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Roofs {
    pub gflops: f64,
    pub gbps: f64,
}

impl Roofs {
    /// The attainable GFLOP/s at `intensity` FLOP/byte.
    pub fn roof(&self, intensity: f64) -> f64 {
        self.gflops.min(intensity * self.gbps)
    }
    /// Where the two roofs meet (FLOP/byte).
    pub fn ridge(&self) -> f64 {
        self.gflops / self.gbps
    }
}

/// Seconds per call of `record`: repeated in one submission until the whole lasts
/// MIN_SECONDS, after a warm-up (GPU timestamps where trustworthy, else the host's clock).
fn seconds_per_call(gpu: &Gpu, record: &dyn Fn()) -> f64 {
    record();
    gpu.finish();
    let mut calls = 1usize;
    loop {
        let run = || {
            for _ in 0..calls {
                record();
            }
        };
        let t = gpu.time(run).unwrap_or_else(|| {
            let start = Instant::now();
            run();
            gpu.finish();
            start.elapsed().as_secs_f64()
        });
        if t >= MIN_SECONDS || calls >= 4096 {
            return t / calls as f64;
        }
        calls = (calls * 2).max((calls as f64 * MIN_SECONDS / t.max(1e-9)).ceil() as usize).min(4096);
    }
}

/// Measure the adapter's peak FLOP/s and streaming bandwidth.
pub fn measure(gpu: &Gpu) -> Roofs {
    let out = Tensor::empty(gpu, &[FMA_INVOCATIONS * 4]);
    let params = RooflineParams { n: FMA_INVOCATIONS as u32, iters: FMA_ITERS, mul: 0.999, add: 1e-3 };
    let peak = |entry: &'static str, flops_per_round: f64| {
        let fma = || gpu.dispatch(Kernel::new(ROOFLINE, entry), &params, &[arg("dst", &out)], gpu.grid_1d(FMA_INVOCATIONS));
        flops_per_round * FMA_ITERS as f64 * FMA_INVOCATIONS as f64 / seconds_per_call(gpu, &fma) / 1e9
    };
    let (wide, narrow) = (peak("fma_peak", 64.0), peak("fma_peak_narrow", 24.0));
    if std::env::var_os("DCGAN_ROOFLINE_DEBUG").is_some() {
        eprintln!("fma_peak {wide:.1} GFLOP/s, fma_peak_narrow {narrow:.1} GFLOP/s");
    }
    let gflops = wide.max(narrow);

    let bytes = STREAM_BYTES.min(gpu.max_binding_bytes() / 2) / 16 * 16;
    let vec4s = (bytes / 16) as usize;
    let (src, dst) = (Tensor::zeros(gpu, &[vec4s * 4]), Tensor::empty(gpu, &[vec4s * 4]));
    let params = RooflineParams { n: vec4s as u32, iters: COPY_PER_INVOCATION as u32, mul: 0.0, add: 0.0 };
    let grid = gpu.grid_1d(vec4s.div_ceil(COPY_PER_INVOCATION));
    let copy = || gpu.dispatch(Kernel::new(ROOFLINE, "stream_copy"), &params, &[arg("dst", &dst), arg("src", &src)], grid);
    let gbps = 2.0 * bytes as f64 / seconds_per_call(gpu, &copy) / 1e9;
    Roofs { gflops, gbps }
}

/// One kernel on the roofline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub name: String,
    /// FLOP per byte.
    pub intensity: f64,
    pub gflops: f64,
    /// Its roof at that intensity, and the fraction of it reached.
    pub roof_gflops: f64,
    pub fraction: f64,
    /// "memory" or "compute": which roof bounds it.
    pub bound: &'static str,
    pub in_completion: bool,
    pub set: Option<String>,
}

pub fn points(roofs: &Roofs, kernels: &[KernelTiming]) -> Vec<Point> {
    kernels
        .iter()
        .filter(|k| k.flops > 0.0 && k.bytes > 0.0 && k.ms > 0.0)
        .map(|k| {
            let intensity = k.flops / k.bytes;
            let gflops = k.flops / (k.ms * 1e-3) / 1e9;
            let roof_gflops = roofs.roof(intensity);
            Point {
                name: k.name.clone(),
                intensity,
                gflops,
                roof_gflops,
                fraction: gflops / roof_gflops,
                bound: if intensity < roofs.ridge() { "memory" } else { "compute" },
                in_completion: k.in_completion,
                set: k.set.clone(),
            }
        })
        .collect()
}

pub fn print(roofs: &Roofs, points: &[Point]) {
    println!(
        "\nroofline: peak {:.1} GFLOP/s (fma_peak), bandwidth {:.1} GB/s (stream_copy), ridge at {:.2} FLOP/byte",
        roofs.gflops,
        roofs.gbps,
        roofs.ridge()
    );
    println!("{:<28} {:>10} {:>10} {:>10} {:>8}  {:<8} {}", "kernel", "FLOP/byte", "GFLOP/s", "roof", "of roof", "bound", "step");
    for p in points {
        let step = if p.in_completion { "training + completion" } else { "training" };
        println!("{:<28} {:>10.2} {:>10.1} {:>10.1} {:>7.1}%  {:<8} {step}", p.name, p.intensity, p.gflops, p.roof_gflops, 100.0 * p.fraction, p.bound);
    }
}

/// The colour of a point: forward products blue, input gradients green, weight gradients
/// orange, the rest (batchnorm) purple.
fn colour(name: &str) -> [u8; 3] {
    if name.contains("grad_weight") {
        [230, 120, 20]
    } else if name.contains("grad_input") {
        [30, 150, 60]
    } else if name.contains("forward") && !name.contains("batchnorm") {
        [40, 90, 210]
    } else {
        [140, 60, 170]
    }
}

/// Log-log axes covering the points and both roofs: (x range, y range) in decades.
fn axes(roofs: &Roofs, points: &[Point]) -> ((f64, f64), (f64, f64)) {
    let xs = points.iter().map(|p| p.intensity).chain([roofs.ridge()]);
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let ys = points.iter().map(|p| p.gflops).chain([roofs.gflops]);
    let (y_lo, y_hi) = ys.fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    ((x_lo.log10().floor() - 0.5, x_hi.log10().ceil() + 0.5), (y_lo.log10().floor(), y_hi.log10().ceil() + 0.3))
}

/// The roofline as an SVG picture.
pub fn svg(roofs: &Roofs, points: &[Point], title: &str) -> String {
    let (w, h, left, right, top, bottom) = (960.0, 600.0, 80.0, 230.0, 50.0, 60.0);
    let ((x0, x1), (y0, y1)) = axes(roofs, points);
    let px = |x: f64| left + (x.log10() - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y.log10() - y0) / (y1 - y0) * (h - top - bottom);
    let mut s = String::new();
    let _ = writeln!(s, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#);
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{left}" y="24" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    // Grid and decade labels.
    for d in (x0.ceil() as i32)..=(x1.floor() as i32) {
        let x = px(10f64.powi(d));
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##, h - bottom, h - bottom + 18.0, decade(d));
    }
    for d in (y0.ceil() as i32)..=(y1.floor() as i32) {
        let y = py(10f64.powi(d));
        let _ = writeln!(s, r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##, w - right, left - 6.0, y + 4.0, decade(d));
    }
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">arithmetic intensity (FLOP / byte, the fewest bytes each kernel must move)</text>"#, (left + w - right) / 2.0, h - 18.0);
    let _ = writeln!(s, r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">GFLOP/s</text>"#, (top + h - bottom) / 2.0);
    // The roofs.
    let (xa, xb) = (10f64.powf(x0), 10f64.powf(x1));
    let ridge = roofs.ridge().clamp(xa, xb);
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#222" stroke-width="2.5" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}"/>"##,
        px(xa), py(roofs.roof(xa)), px(ridge), py(roofs.roof(ridge)), px(xb), py(roofs.roof(xb))
    );
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">peak {:.1} GFLOP/s (fma_peak)</text>"#, px(ridge) + 6.0, py(roofs.gflops) - 8.0, roofs.gflops);
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" transform="rotate(-20 {:.1} {:.1})">{:.1} GB/s (stream_copy)</text>"#, px(xa) + 8.0, py(roofs.roof(xa)) - 10.0, px(xa) + 8.0, py(roofs.roof(xa)) - 10.0, roofs.gbps);
    // The kernels: filled if a completion iteration runs them too. Labels of nearby points
    // are pushed down until they no longer overlap, with a leader line to their point.
    let mut placed: Vec<(f64, f64)> = Vec::new();
    let mut order: Vec<&Point> = points.iter().collect();
    order.sort_by(|a, b| b.gflops.total_cmp(&a.gflops));
    for p in order {
        let [r, g, b] = colour(&p.name);
        let (x, y) = (px(p.intensity), py(p.gflops));
        let mut label_y = y + 3.0;
        while placed.iter().any(|&(lx, ly)| (lx - x).abs() < 90.0 && (ly - label_y).abs() < 11.0) {
            label_y += 11.0;
        }
        placed.push((x, label_y));
        if label_y > y + 6.0 {
            let _ = writeln!(s, r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{:.1}" stroke="rgb({r},{g},{b})" stroke-width="0.5"/>"#, x + 7.0, label_y - 3.0);
        }
        let fill = if p.in_completion { format!("rgb({r},{g},{b})") } else { "white".into() };
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{fill}" stroke="rgb({r},{g},{b})" stroke-width="2"><title>{}: {:.2} FLOP/byte, {:.1} GFLOP/s, {:.0}% of its roof{}</title></circle>"#,
            escape(&p.name), p.intensity, p.gflops, 100.0 * p.fraction, p.set.as_ref().map(|s| format!(", {s} kernels")).unwrap_or_default()
        );
        let _ = writeln!(s, r#"<text x="{:.1}" y="{label_y:.1}" font-size="10" fill="rgb({r},{g},{b})">{}</text>"#, x + 7.0, escape(&short(&p.name)));
    }
    // Legend.
    let lx = w - right + 20.0;
    for (i, (label, name)) in [("forward", "forward"), ("input gradient", "grad_input"), ("weight gradient", "grad_weight"), ("batchnorm", "batchnorm")].iter().enumerate() {
        let [r, g, b] = colour(name);
        let y = top + 20.0 + 22.0 * i as f64;
        let _ = writeln!(s, r#"<circle cx="{lx}" cy="{y}" r="5" fill="rgb({r},{g},{b})"/><text x="{}" y="{}">{label}</text>"#, lx + 12.0, y + 4.0);
    }
    let y = top + 20.0 + 22.0 * 4.0;
    let _ = writeln!(s, r##"<circle cx="{lx}" cy="{y}" r="5" fill="white" stroke="#555" stroke-width="2"/><text x="{}" y="{}">training step only</text>"##, lx + 12.0, y + 4.0);
    let _ = writeln!(s, r##"<circle cx="{lx}" cy="{}" r="5" fill="#555"/><text x="{}" y="{}">also in a completion iteration</text>"##, y + 22.0, lx + 12.0, y + 26.0);
    s.push_str("</svg>\n");
    s
}

/// "conv1 grad_weight" -> "conv1 dW"; keeps labels short on the plot.
fn short(name: &str) -> String {
    name.replace(" grad_weight", " dW").replace(" grad_input", " dX").replace(" forward", " fwd").replace("batchnorm", "bn").replace(" (train)", "")
}

fn decade(d: i32) -> String {
    let v = 10f64.powi(d);
    if v >= 1.0 { format!("{v:.0}") } else { format!("{v}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The roofline as a PNG (the same plot with numeric labels only; the SVG names the points).
pub fn png(roofs: &Roofs, points: &[Point]) -> image::RgbImage {
    use crate::io::picture::{line, text};
    let (w, h, left, right, top, bottom) = (900.0, 560.0, 70.0, 20.0, 20.0, 40.0);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    let ((x0, x1), (y0, y1)) = axes(roofs, points);
    let px = |x: f64| left + (x.log10() - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y.log10() - y0) / (y1 - y0) * (h - top - bottom);
    let grey = image::Rgb([225, 225, 225]);
    let black = image::Rgb([0, 0, 0]);
    for d in (x0.ceil() as i32)..=(x1.floor() as i32) {
        let x = px(10f64.powi(d));
        line(&mut img, (x, top), (x, h - bottom), grey);
        text(&mut img, x as i64 - 8, (h - bottom) as i64 + 8, &decade(d), black, 2);
    }
    for d in (y0.ceil() as i32)..=(y1.floor() as i32) {
        let y = py(10f64.powi(d));
        line(&mut img, (left, y), (w - right, y), grey);
        text(&mut img, 4, y as i64 - 5, &decade(d), black, 2);
    }
    let (xa, xb) = (10f64.powf(x0), 10f64.powf(x1));
    let ridge = roofs.ridge().clamp(xa, xb);
    for dy in [-1.0, 0.0, 1.0] {
        line(&mut img, (px(xa), py(roofs.roof(xa)) + dy), (px(ridge), py(roofs.roof(ridge)) + dy), black);
        line(&mut img, (px(ridge), py(roofs.gflops) + dy), (px(xb), py(roofs.gflops) + dy), black);
    }
    for p in points {
        let c = image::Rgb(colour(&p.name));
        let (cx, cy) = (px(p.intensity), py(p.gflops));
        for yy in -5i32..=5 {
            for xx in -5i32..=5 {
                let r2 = xx * xx + yy * yy;
                let ring = (16..=25).contains(&r2);
                if r2 <= 25 && (ring || p.in_completion) {
                    let (x, y) = (cx as i32 + xx, cy as i32 + yy);
                    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
                        img.put_pixel(x as u32, y as u32, c);
                    }
                }
            }
        }
    }
    img
}

/// Write the roofline to `path`: .svg or .png by its extension (checked before the bench).
pub fn write(path: &Path, roofs: &Roofs, points: &[Point], title: &str) -> Result<()> {
    if has_extension(path, "png") {
        crate::io::picture::save_png(&png(roofs, points), path)
    } else {
        crate::io::output::write_atomic(path, svg(roofs, points, title).as_bytes())
    }
}

pub fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
}
