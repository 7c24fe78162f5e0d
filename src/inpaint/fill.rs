//! Smooth fills of the hole by conjugate gradients on the CPU, per channel: the x that keeps
//! the known pixels and, inside the hole, best matches the guidance image g in
//!   order 1 (harmonic):    min sum over neighbour pairs ((x_p - x_q) - (g_p - g_q))^2
//!   order 2 (biharmonic):  min sum over pixels (L x - L g)_p^2
//! with L the graph Laplacian over 4-neighbours inside the image ((L v)_p = sum_{q ~ p}
//! (v_p - v_q)). With x = P u + K (u the unknowns, K the known values) both are the
//! symmetric positive definite system  P^T M P u = P^T M (g - K),  M = L or L^2.
//!
//! - g = 0: the classical fills a user compares with: harmonic (Laplace) and biharmonic
//!   (what scikit-image's `inpaint_biharmonic` computes in the interior) interpolation.
//! - g = G(z): blends of the generated image. Order 1 is Pérez et al.'s Poisson blending
//!   (the paper's last step); order 2 interpolates the residual y - G(z) between the known
//!   pixels more smoothly, which matters where they are many and scattered (random, grid).

use crate::error::{Error, Result};

/// The smoothness a fill imposes: order 1 (harmonic) or 2 (biharmonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Harmonic,
    Biharmonic,
}

/// (L v) over the 4-neighbours inside a `size` x `size` image.
fn laplacian(v: &[f64], size: usize, out: &mut [f64]) {
    for p in 0..size * size {
        let (y, x) = (p / size, p % size);
        let mut acc = 0.0;
        let mut add = |q: usize| acc += v[p] - v[q];
        if y > 0 {
            add(p - size);
        }
        if y + 1 < size {
            add(p + size);
        }
        if x > 0 {
            add(p - 1);
        }
        if x + 1 < size {
            add(p + 1);
        }
        out[p] = acc;
    }
}

/// M v for M = L (harmonic) or L^2 (biharmonic), using `tmp` as scratch.
fn apply_m(order: Order, v: &[f64], size: usize, tmp: &mut [f64], out: &mut [f64]) {
    match order {
        Order::Harmonic => laplacian(v, size, out),
        Order::Biharmonic => {
            laplacian(v, size, tmp);
            laplacian(tmp, size, out);
        }
    }
}

/// Fill one channel: `known[i]` marks pixels kept from `target`; the rest follow `guidance`
/// (zero for a plain fill) under the smoothness of `order`. Returns the whole plane.
pub fn solve(target: &[f32], guidance: &[f32], known: &[bool], size: usize, order: Order) -> Result<Vec<f32>> {
    let n = size * size;
    let unknowns: Vec<usize> = (0..n).filter(|&i| !known[i]).collect();
    let mut out: Vec<f32> = target.to_vec();
    if unknowns.is_empty() {
        return Ok(out);
    }
    if unknowns.len() == n {
        return Err(Error::new("a fill needs known pixels to anchor it"));
    }
    let (mut full, mut tmp, mut m_full) = (vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
    // A u = P^T M P u.
    let mut apply = |u: &[f64], y: &mut [f64]| {
        full.fill(0.0);
        for (k, &p) in unknowns.iter().enumerate() {
            full[p] = u[k];
        }
        apply_m(order, &full, size, &mut tmp, &mut m_full);
        for (k, &p) in unknowns.iter().enumerate() {
            y[k] = m_full[p];
        }
    };
    // b = P^T M (g - K).
    let g_minus_k: Vec<f64> = (0..n).map(|p| guidance[p] as f64 - if known[p] { target[p] as f64 } else { 0.0 }).collect();
    let (mut scratch, mut m_b) = (vec![0.0f64; n], vec![0.0f64; n]);
    apply_m(order, &g_minus_k, size, &mut scratch, &mut m_b);
    let b: Vec<f64> = unknowns.iter().map(|&p| m_b[p]).collect();

    // Conjugate gradients from the guidance values.
    let mut x: Vec<f64> = unknowns.iter().map(|&p| guidance[p] as f64).collect();
    let mut r = vec![0.0; x.len()];
    apply(&x, &mut r);
    for k in 0..r.len() {
        r[k] = b[k] - r[k];
    }
    let mut d = r.clone();
    let mut rr: f64 = r.iter().map(|v| v * v).sum();
    let b_norm = b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let mut ad = vec![0.0; x.len()];
    // Biharmonic systems are worse conditioned (kappa ~ size^4), hence the larger budget.
    let budget = match order {
        Order::Harmonic => 10 * x.len() + 100,
        Order::Biharmonic => 40 * x.len() + 400,
    };
    for _ in 0..budget {
        if rr.sqrt() <= 1e-10 * b_norm || rr == 0.0 {
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

/// Pérez et al.'s Poisson blend of `generated` into `target` (order 1, guided by it).
pub fn blend(target: &[f32], generated: &[f32], known: &[bool], size: usize) -> Result<Vec<f32>> {
    solve(target, generated, known, size, Order::Harmonic)
}

#[cfg(test)]
mod tests {
    use super::{Order, blend, solve};

    fn hole(s: usize) -> Vec<bool> {
        (0..s * s).map(|i| { let (y, x) = (i / s, i % s); !((3..9).contains(&y) && (2..10).contains(&x)) }).collect()
    }

    fn check(what: &str, x: &[f32], want: &[f32], known: &[bool], target: &[f32], tol: f32) {
        for i in 0..x.len() {
            if known[i] {
                assert_eq!(x[i], target[i], "{what}: known pixel {i} changed");
            } else {
                assert!((x[i] - want[i]).abs() < tol, "{what}: pixel {i} is {}, expected {}", x[i], want[i]);
            }
        }
    }

    #[test]
    fn poisson_blend_solves_a_harmonic_case_and_keeps_an_agreeing_image() {
        // With a flat generated image the solution is harmonic; a linear ramp is harmonic
        // under the discrete Laplacian, so it is recovered exactly inside the hole.
        let s = 12;
        let ramp: Vec<f32> = (0..s * s).map(|i| 0.1 * (i / s) as f32 - 0.05 * (i % s) as f32 + 0.3).collect();
        let known = hole(s);
        let target: Vec<f32> = ramp.iter().zip(&known).map(|(v, k)| if *k { *v } else { 9.0 }).collect();
        check("flat guidance", &blend(&target, &vec![0.5; s * s], &known, s).unwrap(), &ramp, &known, &target, 1e-5);
        check("agreeing guidance", &blend(&target, &ramp, &known, s).unwrap(), &ramp, &known, &target, 1e-5);
    }

    #[test]
    fn harmonic_fill_recovers_a_ramp_and_biharmonic_fill_a_quadratic() {
        let s = 12;
        let known = hole(s);
        let zero = vec![0.0; s * s];
        let ramp: Vec<f32> = (0..s * s).map(|i| 0.1 * (i / s) as f32 - 0.05 * (i % s) as f32 + 0.3).collect();
        let target: Vec<f32> = ramp.iter().zip(&known).map(|(v, k)| if *k { *v } else { 9.0 }).collect();
        check("harmonic fill of a ramp", &solve(&target, &zero, &known, s, Order::Harmonic).unwrap(), &ramp, &known, &target, 1e-5);
        // A quadratic has a constant Laplacian away from the border, so its biharmonic energy
        // is stationary there: the biharmonic fill recovers it; the harmonic fill cannot.
        let quad: Vec<f32> = (0..s * s)
            .map(|i| { let (y, x) = ((i / s) as f32 / s as f32, (i % s) as f32 / s as f32); 0.8 * y * y - 0.5 * x * x + 0.3 * x * y - 0.2 * y + 0.1 })
            .collect();
        let target: Vec<f32> = quad.iter().zip(&known).map(|(v, k)| if *k { *v } else { 9.0 }).collect();
        check("biharmonic fill of a quadratic", &solve(&target, &zero, &known, s, Order::Biharmonic).unwrap(), &quad, &known, &target, 1e-4);
        let harmonic = solve(&target, &zero, &known, s, Order::Harmonic).unwrap();
        let worst = (0..s * s).map(|i| (harmonic[i] - quad[i]).abs()).fold(0.0f32, f32::max);
        assert!(worst > 1e-3, "the harmonic fill should not reproduce a quadratic ({worst})");
    }
}
