//! Projection onto an L1 ball in the non-negative orthant, per row (shaders/project.wgsl):
//! what intermediate-layer optimisation does after each update of a freed activation.
//!
//!   L1Ball::project  x[B, n], x0[B, n] >= 0, budget[B]  ->  x in place:
//!       x0 + d,  d the point nearest x - x0 with |d|_1 <= budget and x0 + d >= 0
//!
//! An element-wise (L-infinity) box lets every activation jump by the full radius, and
//! lets post-ReLU activations go negative, values G never saw in training: the fill comes
//! out speckled. The L1 ball spends one budget on the few activations that matter
//! (Daras et al. 2021), and the orthant keeps them in ReLU's range.
//! No backward: a projection step of the optimiser, not part of the objective.

use super::launch_1d;
use crate::engine::gpu::{Family, Gpu, Kernel, arg, u32_of};
use crate::engine::tensor::Tensor;

const PROJECT: Family = crate::family!("project.wgsl");
const RESET: Kernel = Kernel::new(PROJECT, "l1_reset");
const PARTIALS: Kernel = Kernel::new(PROJECT, "l1_partials");
const BISECT: Kernel = Kernel::new(PROJECT, "l1_bisect");
const APPLY: Kernel = Kernel::new(PROJECT, "l1_apply");

/// Bisection steps: the threshold to within max |v| / 2^29, far below f32's resolution of
/// the sums it is chosen from.
pub const BISECTION_STEPS: usize = 30;

crate::kernel_params! {
    /// shaders/project.wgsl `Params`.
    pub struct ProjectParams { rows: u32, n: u32, chunk: u32, chunks: u32 }
}

/// The ball of one optimisation phase: its centre x0 [B, ...] and each row's L1 budget, with
/// the search state [B, 3] = (lo, hi, budget) and the partial sums [B, chunks, 2] allocated
/// once, not at every update.
pub struct L1Ball {
    x0: Tensor,
    state: Tensor,
    partials: Tensor,
    params: ProjectParams,
}

impl L1Ball {
    pub fn new(gpu: &Gpu, x0: Tensor, budgets: &[f32]) -> L1Ball {
        let rows = x0.shape()[0];
        assert_eq!(budgets.len(), rows, "one budget per row of {:?}", x0.shape());
        let n = x0.numel() / rows.max(1);
        // Chunks of about sqrt(n) items: both the chunk loop and the per-row loop stay short.
        let chunk = (n as f64).sqrt().ceil().max(1.0) as usize;
        let chunks = n.div_ceil(chunk).max(1);
        let params = ProjectParams { rows: u32_of(rows), n: u32_of(n), chunk: u32_of(chunk), chunks: u32_of(chunks) };
        let state: Vec<f32> = budgets.iter().flat_map(|&b| [0.0, -1.0, b]).collect();
        let state = Tensor::from_slice(gpu, &[rows, 3], &state);
        let partials = Tensor::empty(gpu, &[rows, chunks, 2]);
        L1Ball { x0, state, partials, params }
    }

    /// Project each row of `x` (the shape of x0) onto { x0 + d : |d|_1 <= budget,
    /// x0 + d >= 0 }, in place. Recorded, not submitted: 2 + 2 x BISECTION_STEPS dispatches.
    pub fn project(&self, gpu: &Gpu, x: &Tensor) {
        assert_eq!(x.shape(), self.x0.shape(), "projection of {:?} around {:?}", x.shape(), self.x0.shape());
        let (rows, chunks) = (self.params.rows as usize, self.params.chunks as usize);
        let (x0, state, partials) = (&self.x0, &self.state, &self.partials);
        launch_1d(gpu, RESET, &self.params, &[arg("state", state)], rows);
        for _ in 0..BISECTION_STEPS {
            launch_1d(gpu, PARTIALS, &self.params, &[arg("x", x), arg("x0", x0), arg("partials", partials), arg("state", state)], rows * chunks);
            launch_1d(gpu, BISECT, &self.params, &[arg("partials", partials), arg("state", state)], rows);
        }
        launch_1d(gpu, APPLY, &self.params, &[arg("x", x), arg("x0", x0), arg("state", state)], x.numel());
    }
}

/// CPU reference in f64: the same optimality condition solved by sorting the breakpoints
/// (where the row's |d|_1, piecewise linear in theta, changes slope) rather than bisection.
pub mod cpu {
    pub fn l1_ball_nonneg(x: &mut [f32], x0: &[f32], budgets: &[f32]) {
        let rows = budgets.len();
        if rows == 0 {
            return;
        }
        let n = x.len() / rows;
        for (r, &budget) in budgets.iter().enumerate() {
            let (xs, x0s) = (&mut x[r * n..(r + 1) * n], &x0[r * n..(r + 1) * n]);
            let v: Vec<f64> = xs.iter().zip(x0s).map(|(&a, &b)| a as f64 - b as f64).collect();
            let lower: Vec<f64> = x0s.iter().map(|&b| -(b as f64)).collect();
            let d = |theta: f64, i: usize| {
                let soft = v[i].signum() * (v[i].abs() - theta).max(0.0);
                soft.max(lower[i])
            };
            let l1 = |theta: f64| (0..n).map(|i| d(theta, i).abs()).sum::<f64>();
            let theta = if l1(0.0) <= budget as f64 {
                0.0
            } else {
                // |d_i| is linear in theta between the breakpoints |v_i| and, for a clamped
                // negative item, |v_i| - x0_i; find the segment where l1 crosses the budget.
                let mut points: Vec<f64> = (0..n).flat_map(|i| [v[i].abs(), (v[i].abs() - x0s[i] as f64).max(0.0)]).collect();
                points.push(0.0);
                points.sort_by(f64::total_cmp);
                points.dedup();
                let k = points.partition_point(|&t| l1(t) > budget as f64);
                let (a, b) = (points[k - 1], points[k]);
                let (fa, fb) = (l1(a), l1(b));
                a + (fa - budget as f64) * (b - a) / (fa - fb)
            };
            for i in 0..n {
                xs[i] = (x0s[i] as f64 + d(theta, i)) as f32;
            }
        }
    }
}
