//! Image quality: PSNR and SSIM on [0, 1] intensities, over the whole image or a region.

/// Peak signal-to-noise ratio in dB over the pixels where `region` is true (all channels);
/// images are [c, s, s] in [-1, 1]. `f64::INFINITY` for identical images.
pub fn psnr(a: &[f32], b: &[f32], region: &[bool], channels: usize) -> f64 {
    let plane = region.len();
    let (mut se, mut count) = (0.0f64, 0usize);
    for c in 0..channels {
        for i in (0..plane).filter(|&i| region[i]) {
            let d = (a[c * plane + i] - b[c * plane + i]) as f64 / 2.0; // [-1,1] -> [0,1] scale
            se += d * d;
            count += 1;
        }
    }
    if count == 0 {
        return f64::NAN;
    }
    let mse = se / count as f64;
    if mse == 0.0 { f64::INFINITY } else { -10.0 * mse.log10() }
}

/// Structural similarity (Wang et al. 2004): 11x11 Gaussian window (sigma 1.5),
/// C1 = 0.01^2, C2 = 0.03^2 on [0, 1]; the SSIM map averaged over `region` and channels.
pub fn ssim(a: &[f32], b: &[f32], region: &[bool], channels: usize, size: usize) -> f64 {
    let plane = size * size;
    let kernel: Vec<f64> = (-5i32..=5).map(|k| (-(k * k) as f64 / (2.0 * 1.5 * 1.5)).exp()).collect();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    // Separable Gaussian filter with the window renormalised at the borders.
    let blur = |img: &[f64]| -> Vec<f64> {
        let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
            let mut out = vec![0.0; plane];
            for y in 0..size {
                for x in 0..size {
                    let (mut acc, mut norm) = (0.0, 0.0);
                    for (k, w) in kernel.iter().enumerate() {
                        let o = k as isize - 5;
                        let (yy, xx) = if horizontal { (y as isize, x as isize + o) } else { (y as isize + o, x as isize) };
                        if yy >= 0 && xx >= 0 && (yy as usize) < size && (xx as usize) < size {
                            acc += w * src[yy as usize * size + xx as usize];
                            norm += w;
                        }
                    }
                    out[y * size + x] = acc / norm;
                }
            }
            out
        };
        pass(&pass(img, true), false)
    };
    let (mut total, mut count) = (0.0, 0usize);
    for c in 0..channels {
        let to01 = |v: &[f32]| -> Vec<f64> { v[c * plane..(c + 1) * plane].iter().map(|&x| (x as f64 + 1.0) / 2.0).collect() };
        let (x, y) = (to01(a), to01(b));
        let prod = |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
        let (mx, my) = (blur(&x), blur(&y));
        let (sxx, syy, sxy) = (blur(&prod(&x, &x)), blur(&prod(&y, &y)), blur(&prod(&x, &y)));
        for i in (0..plane).filter(|&i| region[i]) {
            let (vx, vy, cxy) = (sxx[i] - mx[i] * mx[i], syy[i] - my[i] * my[i], sxy[i] - mx[i] * my[i]);
            total += ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2)) / ((mx[i].powi(2) + my[i].powi(2) + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    if count == 0 { f64::NAN } else { total / count as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_and_ssim_behave() {
        let s = 16;
        let all = vec![true; s * s];
        let a: Vec<f32> = (0..s * s).map(|i| ((i % 7) as f32 / 3.0 - 1.0).clamp(-1.0, 1.0)).collect();
        assert_eq!(psnr(&a, &a, &all, 1), f64::INFINITY);
        assert!((ssim(&a, &a, &all, 1, s) - 1.0).abs() < 1e-9);
        // A uniform error of 0.1 on the [0, 1] scale is 20 dB.
        let b: Vec<f32> = a.iter().map(|v| v + 0.2).collect();
        assert!((psnr(&a, &b, &all, 1) - 20.0).abs() < 1e-4);
        // Structure is what SSIM measures: a brightness shift keeps it high, noise on a flat
        // image destroys it.
        let shifted = ssim(&a, &b, &all, 1, s);
        assert!(shifted > 0.8 && shifted < 1.0, "{shifted}");
        let flat = vec![0.0f32; s * s];
        let noise = crate::rng::Rng::new(1).uniform_vec(s * s, -0.5, 0.5);
        assert!(ssim(&flat, &noise, &all, 1, s) < 0.2);
        // Speckle raises the Laplacian activity; a smooth ramp has none inside.
        let ramp: Vec<f32> = (0..s * s).map(|i| (i % s) as f32 / s as f32 - 0.5).collect();
        let inner: Vec<bool> = (0..s * s).map(|i| (1..s - 1).contains(&(i % s)) && (1..s - 1).contains(&(i / s))).collect();
        assert!(laplacian_activity(&ramp, &inner, 1, s) < 1e-6);
        let speckled: Vec<f32> = ramp.iter().zip(&noise).map(|(r, n)| r + 0.2 * n).collect();
        assert!(laplacian_activity(&speckled, &inner, 1, s) > 0.05);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub psnr: f64,
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub ssim: f64,
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub psnr_hole: f64,
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub ssim_hole: f64,
    /// The hole's texture against the original's: mean |Laplacian| over the hole of the
    /// completion / of the original (1: as busy as the original; above: speckle or noise
    /// that PSNR may hide; below: smoother than the original).
    #[serde(serialize_with = "finite_or_null", deserialize_with = "null_as_nan")]
    pub noise_hole: f64,
}

/// JSON has no NaN: a metric that is undefined (no hole) is written as null.
fn finite_or_null<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() { s.serialize_f64(*x) } else { s.serialize_none() }
}

/// ... and null read back as NaN (a record `report` reads).
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// PSNR and SSIM of `completed` against the item's image, whole and over the hole.
pub fn evaluate(item: &super::Item, completed: &[f32], c: usize, s: usize) -> Metrics {
    let all = vec![true; s * s];
    let hole: Vec<bool> = item.mask.iter().map(|&m| m < 0.5).collect();
    Metrics {
        psnr: psnr(completed, &item.image, &all, c),
        ssim: ssim(completed, &item.image, &all, c, s),
        psnr_hole: psnr(completed, &item.image, &hole, c),
        ssim_hole: ssim(completed, &item.image, &hole, c, s),
        // One grey level added to both, so that a flat original gives a finite ratio.
        noise_hole: (laplacian_activity(completed, &hole, c, s) + GREY_LEVEL) / (laplacian_activity(&item.image, &hole, c, s) + GREY_LEVEL),
    }
}

/// Mean |4-neighbour Laplacian| over `region` (all channels; borders replicated): how busy
/// the image is there, on the [0, 1] scale.
pub fn laplacian_activity(a: &[f32], region: &[bool], channels: usize, size: usize) -> f64 {
    let plane = size * size;
    let (mut total, mut count) = (0.0f64, 0usize);
    for ch in 0..channels {
        let v = |y: usize, x: usize| a[ch * plane + y * size + x] as f64 / 2.0;
        for i in (0..plane).filter(|&i| region[i]) {
            let (y, x) = (i / size, i % size);
            let (up, down) = (v(y.saturating_sub(1), x), v((y + 1).min(size - 1), x));
            let (left, right) = (v(y, x.saturating_sub(1)), v(y, (x + 1).min(size - 1)));
            total += (up + down + left + right - 4.0 * v(y, x)).abs();
            count += 1;
        }
    }
    if count == 0 { f64::NAN } else { total / count as f64 }
}

/// One 8-bit grey level on the [0, 1] scale.
const GREY_LEVEL: f64 = 1.0 / 255.0;

/// Mean of the defined values (a hole metric is NaN when an image has no hole; a perfect
/// fill's PSNR is infinite, and so is the mean then).
pub fn mean_metrics(m: &[Metrics]) -> Metrics {
    let mean = |f: &dyn Fn(&Metrics) -> f64| {
        let v: Vec<f64> = m.iter().map(f).filter(|x| !x.is_nan()).collect();
        if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
    };
    Metrics {
        psnr: mean(&|x| x.psnr),
        ssim: mean(&|x| x.ssim),
        psnr_hole: mean(&|x| x.psnr_hole),
        ssim_hole: mean(&|x| x.ssim_hole),
        noise_hole: mean(&|x| x.noise_hole),
    }
}
