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

/// A harmonic fill on a `w` x `h` plane at a photo's own resolution, whose cost follows the
/// hole, not the picture: the unknowns are indexed, each with its 4-neighbours, and only
/// they are stored and iterated over.
///
/// `values` holds the boundary values at the pixels that are not `unknown` (those of them
/// that neighbour the hole are the Dirichlet boundary) and receives the solution at the
/// unknowns. Pixels that are neither unknown nor `active` (outside the part being solved)
/// are left out: an edge to them is no constraint (a free boundary). Each unknown p solves
/// deg(p) x_p - sum over unknown neighbours q of x_q = sum over known neighbours of values_q.
///
/// Cascadic multigrid: the same problem on a grid half as fine is solved first (down to a
/// few thousand unknowns), its solution is the start here, and conjugate gradients (the
/// degree as preconditioner) only correct what the coarse grid could not resolve: a hole
/// 1000 pixels across converges in tens of iterations a level, not thousands. Stops at
/// `REDUCTION` or `FLOOR`, or `max_iterations` at this level. Returns the iterations run at this level.
pub fn harmonic_sparse(values: &mut [f32], unknown: &[bool], active: &[bool], w: usize, h: usize, max_iterations: usize) -> usize {
    let n = w * h;
    debug_assert!(values.len() == n && unknown.len() == n && active.len() == n);
    let index: Vec<usize> = (0..n).filter(|&p| unknown[p]).collect();
    if index.is_empty() {
        return 0;
    }
    let coarse = index.len() > COARSEST && w > 1 && h > 1;
    let start = if coarse { coarse_start(values, unknown, active, w, h, max_iterations) } else { vec![0.0; n] };
    let mut slot = vec![usize::MAX; n];
    for (k, &p) in index.iter().enumerate() {
        slot[p] = k;
    }
    // Per unknown: its degree, its unknown neighbours (by slot) and the sum of its known ones.
    let mut degree = vec![0.0f64; index.len()];
    let mut rhs = vec![0.0f64; index.len()];
    let mut neighbours: Vec<[usize; 4]> = vec![[usize::MAX; 4]; index.len()];
    for (k, &p) in index.iter().enumerate() {
        let (y, x) = (p / w, p % w);
        let candidates = [(y > 0).then(|| p - w), (y + 1 < h).then(|| p + w), (x > 0).then(|| p - 1), (x + 1 < w).then(|| p + 1)];
        for (j, q) in candidates.into_iter().enumerate() {
            let Some(q) = q else { continue };
            if unknown[q] {
                degree[k] += 1.0;
                neighbours[k][j] = slot[q];
            } else if active[q] {
                degree[k] += 1.0;
                rhs[k] += values[q] as f64;
            }
        }
    }
    let mut x: Vec<f64> = index.iter().map(|&p| start[p] as f64).collect();
    let apply = |v: &[f64], out: &mut [f64]| {
        for k in 0..v.len() {
            let mut acc = degree[k] * v[k];
            for &q in &neighbours[k] {
                if q != usize::MAX {
                    acc -= v[q];
                }
            }
            out[k] = acc;
        }
    };
    // An unknown with no neighbour at all (a lone pixel in an inactive area) keeps its start.
    let inverse: Vec<f64> = degree.iter().map(|&d| if d > 0.0 { 1.0 / d } else { 0.0 }).collect();
    let mut r = vec![0.0; x.len()];
    apply(&x, &mut r);
    for k in 0..r.len() {
        r[k] = rhs[k] - r[k];
    }
    let mut z: Vec<f64> = r.iter().zip(&inverse).map(|(a, b)| a * b).collect();
    let mut d = z.clone();
    let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
    let mut ad = vec![0.0; x.len()];
    let mut iterations = 0;
    let norm = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (start_norm, rhs_norm) = (norm(&r), norm(&rhs));
    while iterations < max_iterations {
        let r_norm = norm(&r);
        if (coarse && r_norm <= REDUCTION * start_norm) || r_norm <= FLOOR * rhs_norm || rz <= 0.0 {
            break;
        }
        apply(&d, &mut ad);
        let dad: f64 = d.iter().zip(&ad).map(|(a, b)| a * b).sum();
        if dad <= 0.0 {
            break;
        }
        let alpha = rz / dad;
        for k in 0..x.len() {
            x[k] += alpha * d[k];
            r[k] -= alpha * ad[k];
            z[k] = r[k] * inverse[k];
        }
        let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
        let beta = rz_new / rz;
        for k in 0..d.len() {
            d[k] = z[k] + beta * d[k];
        }
        rz = rz_new;
        iterations += 1;
    }
    for (k, &p) in index.iter().enumerate() {
        values[p] = x[k] as f32;
    }
    iterations
}

/// Below this many unknowns a level is solved from zero, without a coarser one.
const COARSEST: usize = 4096;
/// A level started from a coarser one stops once its residual fell by this factor from its
/// start (the coarser solution already holds the smooth part); the coarsest, started from
/// zero, at `FLOOR` of its right side.
const REDUCTION: f64 = 3e-4;
const FLOOR: f64 = 1e-7;

/// The start of a level: the problem solved on a grid half as fine, read back at every fine
/// pixel from its coarse parent. A coarse pixel is known when any of its 2x2 fine pixels is
/// known and active (it takes their mean), so the hole's border survives coarsening; it is
/// unknown when only unknown ones remain, and active when any is.
fn coarse_start(values: &[f32], unknown: &[bool], active: &[bool], w: usize, h: usize, max_iterations: usize) -> Vec<f32> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut c_unknown = vec![false; cw * ch];
    let mut c_active = vec![false; cw * ch];
    let (mut sum, mut count) = (vec![0.0f64; cw * ch], vec![0u32; cw * ch]);
    for y in 0..h {
        for x in 0..w {
            let (p, c) = (y * w + x, (y / 2) * cw + x / 2);
            c_unknown[c] |= unknown[p];
            c_active[c] |= active[p] || unknown[p];
            if !unknown[p] && active[p] {
                sum[c] += values[p] as f64;
                count[c] += 1;
            }
        }
    }
    for c in 0..cw * ch {
        c_unknown[c] &= count[c] == 0;
    }
    let mut coarse: Vec<f32> = sum.iter().zip(&count).map(|(s, &k)| if k > 0 { (s / k as f64) as f32 } else { 0.0 }).collect();
    harmonic_sparse(&mut coarse, &c_unknown, &c_active, cw, ch, max_iterations);
    (0..w * h).map(|p| coarse[(p / w / 2) * cw + (p % w) / 2]).collect()
}

#[cfg(test)]
mod tests {
    use super::{Order, blend, harmonic_sparse, solve};

    /// The sparse solver agrees with the dense one on a harmonic fill, converges on a large
    /// hole of a photo-sized plane from its push-pull start, and leaves inactive pixels out.
    #[test]
    fn the_sparse_harmonic_fill_agrees_and_scales() {
        let s = 12;
        let known = hole(s);
        let ramp: Vec<f32> = (0..s * s).map(|i| 0.1 * (i / s) as f32 - 0.05 * (i % s) as f32 + 0.3).collect();
        let target: Vec<f32> = ramp.iter().zip(&known).map(|(v, k)| if *k { *v } else { 9.0 }).collect();
        let dense = solve(&target, &vec![0.0; s * s], &known, s, Order::Harmonic).unwrap();
        let mut sparse = target.clone();
        let unknown: Vec<bool> = known.iter().map(|k| !k).collect();
        harmonic_sparse(&mut sparse, &unknown, &vec![true; s * s], s, s, 1000);
        check("sparse vs dense", &sparse, &dense, &known, &target, 1e-4);

        // A 1000 x 800 plane with a 300 x 300 hole in a ramp: recovered in tens of iterations
        // at the finest level (the coarser levels do the long-range work).
        let (w, h) = (1000, 800);
        let ramp = |p: usize| 0.001 * (p / w) as f32 - 0.0005 * (p % w) as f32;
        let unknown: Vec<bool> = (0..w * h).map(|p| (200..500).contains(&(p / w)) && (300..600).contains(&(p % w))).collect();
        let mut v: Vec<f32> = (0..w * h).map(|p| if unknown[p] { 0.0 } else { ramp(p) }).collect();
        let iterations = harmonic_sparse(&mut v, &unknown, &vec![true; w * h], w, h, 2000);
        let worst = (0..w * h).map(|p| (v[p] - ramp(p)).abs()).fold(0.0f32, f32::max);
        // Well under half an 8-bit step (1/512).
        assert!(worst < 1e-3 && iterations < 200, "worst error {worst} after {iterations} iterations");

        // An inactive neighbour is no constraint: a hole next to it follows the active side.
        let (w, h) = (6, 1);
        let mut v = vec![1.0, 1.0, 0.0, 0.0, 5.0, 5.0];
        let unknown = [false, false, true, true, false, false];
        let active = [true, true, true, true, false, false];
        harmonic_sparse(&mut v, &unknown, &active, w, h, 100);
        assert!((v[2] - 1.0).abs() < 1e-5 && (v[3] - 1.0).abs() < 1e-5, "{v:?}");
    }

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
