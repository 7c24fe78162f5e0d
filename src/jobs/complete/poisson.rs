//! Poisson blending (Pérez et al.), the paper's last step: inside the hole, find the x whose
//! gradients best match the generated image's, min sum |grad x - grad g|^2, with x = y on
//! the known pixels. Per channel, that is the discrete Poisson equation
//!   for each missing p:  sum_{q ~ p} (x_p - x_q) = sum_{q ~ p} (g_p - g_q)
//! over 4-neighbours inside the image (known neighbours move to the right-hand side), a
//! symmetric positive definite system solved here by conjugate gradients on the CPU.

use crate::error::{Error, Result};

/// Blend one channel. `known[i]` marks pixels kept from `target`; the rest come from
/// `generated` with their gradients preserved. Returns the blended plane.
pub fn blend(target: &[f32], generated: &[f32], known: &[bool], size: usize) -> Result<Vec<f32>> {
    let n = size * size;
    let mut index = vec![usize::MAX; n]; // pixel -> unknown number
    let unknowns: Vec<usize> = (0..n).filter(|&i| !known[i]).collect();
    for (k, &p) in unknowns.iter().enumerate() {
        index[p] = k;
    }
    let mut out: Vec<f32> = target.to_vec();
    if unknowns.is_empty() {
        return Ok(out);
    }
    if unknowns.len() == n {
        return Err(Error::new("Poisson blending needs known pixels to anchor the solution"));
    }
    let neighbours = |p: usize| {
        let (y, x) = (p / size, p % size);
        let mut v = [usize::MAX; 4];
        if y > 0 { v[0] = p - size; }
        if y + 1 < size { v[1] = p + size; }
        if x > 0 { v[2] = p - 1; }
        if x + 1 < size { v[3] = p + 1; }
        v
    };
    // A x = b, with A = (degree on the diagonal, -1 for each unknown neighbour).
    let mut b = vec![0.0f64; unknowns.len()];
    for (k, &p) in unknowns.iter().enumerate() {
        for q in neighbours(p).into_iter().filter(|&q| q != usize::MAX) {
            b[k] += generated[p] as f64 - generated[q] as f64;
            if known[q] {
                b[k] += target[q] as f64;
            }
        }
    }
    let apply = |x: &[f64], y: &mut [f64]| {
        for (k, &p) in unknowns.iter().enumerate() {
            let mut acc = 0.0;
            for q in neighbours(p).into_iter().filter(|&q| q != usize::MAX) {
                acc += x[k];
                if !known[q] {
                    acc -= x[index[q]];
                }
            }
            y[k] = acc;
        }
    };
    // Conjugate gradients from the generated values.
    let mut x: Vec<f64> = unknowns.iter().map(|&p| generated[p] as f64).collect();
    let mut r = vec![0.0; x.len()];
    apply(&x, &mut r);
    for k in 0..r.len() {
        r[k] = b[k] - r[k];
    }
    let mut d = r.clone();
    let mut rr: f64 = r.iter().map(|v| v * v).sum();
    let b_norm = b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let mut ad = vec![0.0; x.len()];
    for _ in 0..10 * x.len() + 100 {
        if rr.sqrt() <= 1e-9 * b_norm {
            break;
        }
        apply(&d, &mut ad);
        let alpha = rr / d.iter().zip(&ad).map(|(a, b)| a * b).sum::<f64>();
        for k in 0..x.len() {
            x[k] += alpha * d[k];
            r[k] -= alpha * ad[k];
        }
        let rr_new: f64 = r.iter().map(|v| v * v).sum();
        for k in 0..d.len() {
            d[k] = r[k] + rr_new / rr * d[k];
        }
        rr = rr_new;
    }
    for (k, &p) in unknowns.iter().enumerate() {
        out[p] = x[k] as f32;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::blend;

    #[test]
    fn reproduces_known_pixels_and_solves_a_harmonic_case() {
        // With a flat generated image the solution is harmonic; a linear ramp is harmonic
        // under the discrete Laplacian, so it is recovered exactly inside the hole.
        let s = 12;
        let ramp: Vec<f32> = (0..s * s).map(|i| 0.1 * (i / s) as f32 - 0.05 * (i % s) as f32 + 0.3).collect();
        let known: Vec<bool> = (0..s * s).map(|i| { let (y, x) = (i / s, i % s); !((3..9).contains(&y) && (2..10).contains(&x)) }).collect();
        let target: Vec<f32> = ramp.iter().zip(&known).map(|(v, k)| if *k { *v } else { 9.0 }).collect();
        let flat = vec![0.5; s * s];
        let x = blend(&target, &flat, &known, s).unwrap();
        for i in 0..s * s {
            if known[i] {
                assert_eq!(x[i], target[i], "known pixel {i} changed");
            } else {
                assert!((x[i] - ramp[i]).abs() < 1e-5, "pixel {i}: {} vs {}", x[i], ramp[i]);
            }
        }
        // And a generated image that already agrees with the target is kept as it is.
        let x = blend(&target, &ramp, &known, s).unwrap();
        for i in 0..s * s {
            assert!((x[i] - ramp[i]).abs() < 1e-5);
        }
    }
}
