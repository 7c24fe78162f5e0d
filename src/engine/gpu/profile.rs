//! What ran and how long it took: [`Gpu::trace`] (entry points and kernel sets, in
//! order), [`Gpu::profile`] (wall time per entry point), [`Gpu::profile_dispatches`] (each
//! dispatch with its [`Scope`] and product) and [`Gpu::time`] (timestamps).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Gpu, Kernel};
use super::recorder::TIMED_PASSES_MAX;
use crate::engine::variants::{self, ProductRun};

/// Traces under way: scopes build their labels only then, so a training step or a
/// completion iteration that nobody profiles allocates nothing for them.
static TRACING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The scope path each dispatch of this thread is labelled with ("G step / g.deconv1");
    /// `None` for scopes entered while no trace ran.
    static SCOPE: RefCell<Vec<Option<Arc<str>>>> = const { RefCell::new(Vec::new()) };
    static BACKWARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A label for the dispatches recorded while it lives (on this thread): a network layer, a
/// loss, an optimiser step. Scopes nest into a path. The tape keeps the path an op was
/// recorded under and restores it in `backward`, so a layer's gradient kernels carry its
/// label too. The label is formatted only while a trace runs (pass `format_args!`).
pub struct Scope(());

impl Scope {
    /// Enter `label` inside the current scope.
    pub fn enter(label: impl std::fmt::Display) -> Scope {
        SCOPE.with(|s| {
            let mut s = s.borrow_mut();
            let path = (TRACING.load(Ordering::Relaxed) > 0).then(|| -> Arc<str> {
                match s.last().cloned().flatten() {
                    Some(outer) => format!("{outer} / {label}").into(),
                    None => label.to_string().into(),
                }
            });
            s.push(path);
        });
        Scope(())
    }

    /// Enter a whole path (from [`Scope::current`]) again; `None` leaves the scope as it is.
    pub fn restore(path: Option<Arc<str>>) -> Scope {
        SCOPE.with(|s| {
            let mut s = s.borrow_mut();
            let path = path.or_else(|| s.last().cloned().flatten());
            s.push(path);
        });
        Scope(())
    }

    /// The path dispatches are labelled with now.
    pub fn current() -> Option<Arc<str>> {
        SCOPE.with(|s| s.borrow().last().cloned().flatten())
    }

    /// Mark the dispatches of `f` as a backward pass.
    pub fn backward<R>(f: impl FnOnce() -> R) -> R {
        let outer = BACKWARD.with(|b| b.replace(true));
        let r = f();
        BACKWARD.with(|b| b.set(outer));
        r
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        SCOPE.with(|s| s.borrow_mut().pop());
    }
}

/// One dispatch of [`Gpu::profile_dispatches`].
#[derive(Debug, Clone)]
pub struct DispatchProfile {
    pub entry: &'static str,
    /// The [`Scope`] path it was recorded under.
    pub scope: Option<Arc<str>>,
    /// Recorded by a tape's backward pass.
    pub backward: bool,
    /// The conv or linear product it is part of, with the kernel set that ran it.
    pub product: Option<ProductRun>,
    /// Wall time with the dispatch run alone.
    pub seconds: f64,
}

/// Where a traced dispatch came from.
struct Origin {
    scope: Option<Arc<str>>,
    backward: bool,
    product: Option<ProductRun>,
}

/// The dispatches of one thread while [`Gpu::trace`] or [`Gpu::profile`] runs.
pub(super) struct Trace {
    thread: std::thread::ThreadId,
    kernels: Vec<Kernel>,
    origins: Vec<Origin>,
    /// (product, kernel set) for each product an op family ran, in order.
    variants: Vec<(&'static str, &'static str)>,
    /// Profiling: each dispatch runs alone and its wall time is kept here.
    seconds: Option<Vec<f64>>,
}

/// Time per entry point, from [`Gpu::profile`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KernelProfile {
    pub entry: &'static str,
    pub dispatches: usize,
    #[serde(rename = "ms", serialize_with = "seconds_as_ms")]
    pub seconds: f64,
}

fn seconds_as_ms<S: serde::Serializer>(s: &f64, ser: S) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_f64(s * 1e3)
}

impl Gpu {
    /// While tracing on this thread: note the dispatch; returns whether it is to be timed.
    pub(super) fn trace_dispatch(&self, kernel: Kernel) -> bool {
        match self.trace.lock().unwrap().as_mut() {
            Some(trace) if trace.thread == std::thread::current().id() => {
                trace.kernels.push(kernel);
                let backward = BACKWARD.with(|b| b.get());
                trace.origins.push(Origin { scope: Scope::current(), backward, product: variants::current_product() });
                trace.seconds.is_some()
            }
            _ => false,
        }
    }

    pub(super) fn trace_seconds(&self, elapsed: f64) {
        if let Some(Trace { seconds: Some(seconds), .. }) = self.trace.lock().unwrap().as_mut() {
            seconds.push(elapsed);
        }
    }

    /// Whether a trace, profile or timestamp timing is under way (tuning then waits).
    pub(super) fn is_tracing_or_timing(&self) -> bool {
        self.trace.lock().unwrap().is_some() || self.recorder.lock().unwrap().timing.is_some()
    }

    /// Called by `variants::run` (through `Runs::note_variant`): `product` ran on `set`.
    pub(super) fn record_variant(&self, product: &'static str, set: &'static str) {
        if let Some(trace) = self.trace.lock().unwrap().as_mut() {
            if trace.thread == std::thread::current().id() {
                trace.variants.push((product, set));
            }
        }
    }

    fn traced<R>(&self, timed: bool, f: impl FnOnce() -> R) -> (R, Trace) {
        let thread = std::thread::current().id();
        let seconds = timed.then(Vec::new);
        *self.trace.lock().unwrap() = Some(Trace { thread, kernels: Vec::new(), origins: Vec::new(), variants: Vec::new(), seconds });
        struct Tracing;
        impl Drop for Tracing {
            fn drop(&mut self) {
                TRACING.fetch_sub(1, Ordering::Relaxed);
            }
        }
        TRACING.fetch_add(1, Ordering::Relaxed);
        let tracing = Tracing;
        let r = f();
        drop(tracing);
        let trace = self.trace.lock().unwrap().take();
        (r, trace.unwrap_or(Trace { thread, kernels: Vec::new(), origins: Vec::new(), variants: Vec::new(), seconds: None }))
    }

    /// Run `f` and return which kernel set ran each product it computed, in order:
    /// `[("conv2d_forward", "simd8"), ...]`.
    pub fn trace_variants<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<(&'static str, &'static str)>) {
        let (r, trace) = self.traced(false, f);
        (r, trace.variants)
    }

    /// Whether [`Gpu::time`] measures with timestamp queries. Not on CPU adapters: there
    /// the device is the host, and lavapipe's timestamps stop following compute work once
    /// a storage texture has been written (a 22 ms matmul then reads 0.07 ms).
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY) && self.info.device_type != wgpu::DeviceType::Cpu
    }

    /// Seconds the GPU spent in the compute passes that `record` records, measured with
    /// timestamp queries; `None` where there are none to trust (see [`Gpu::has_timestamps`];
    /// time on the host instead). Work recorded before is submitted first and not counted.
    pub fn time(&self, record: impl FnOnce()) -> Option<f64> {
        if !self.has_timestamps() {
            return None;
        }
        self.flush();
        let query_set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timing"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * TIMED_PASSES_MAX,
        });
        self.recorder.lock().unwrap().timing = Some((query_set, 0));
        record();
        let bytes = 16 * TIMED_PASSES_MAX as u64;
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let passes = {
            let mut rec = self.recorder.lock().unwrap();
            let (query_set, passes) = rec.timing.take().expect("the timing started above");
            if passes > 0 {
                let encoder = self.encoder(&mut rec);
                encoder.resolve_query_set(&query_set, 0..2 * passes, &resolved, 0);
                encoder.copy_buffer_to_buffer(&resolved, 0, &readback, 0, bytes);
            }
            self.submit(&mut rec);
            passes
        };
        if passes == 0 {
            return Some(0.0);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.finish();
        rx.recv().expect("map callback dropped").expect("could not map the timestamps");
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&readback.get_mapped_range(..).expect("mapped range"));
        let period_ns = self.queue.get_timestamp_period() as f64;
        let total: u64 = ticks.chunks(2).take(passes as usize).map(|t| t[1].saturating_sub(t[0])).sum();
        Some(total as f64 * period_ns * 1e-9)
    }

    /// Run `f` and return the entry points it dispatched on this thread, in order.
    pub fn trace<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<&'static str>) {
        let (r, trace) = self.traced(false, f);
        (r, trace.kernels.iter().map(|k| k.entry).collect())
    }

    /// Run `f` and return the kernels (entry point and element type) it dispatched on this
    /// thread, in order.
    pub fn trace_kernels<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<Kernel>) {
        let (r, trace) = self.traced(false, f);
        (r, trace.kernels)
    }

    /// Run `f` with every dispatch submitted on its own and waited for, and return the wall
    /// time per entry point, most first. Slower than running `f` as it is (one submission
    /// per dispatch), but it shows where a step's time goes on any adapter.
    pub fn profile<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<KernelProfile>) {
        let (r, kernels, _) = self.profile_variants(f);
        (r, kernels)
    }

    /// Run `f` as [`Gpu::profile`] does, and return every dispatch in order with its time,
    /// the [`Scope`] it was recorded in and the product and kernel set it served.
    pub fn profile_dispatches<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<DispatchProfile>) {
        self.finish();
        let (r, trace) = self.traced(true, || {
            let r = f();
            self.finish();
            r
        });
        let seconds = trace.seconds.unwrap_or_default();
        let dispatches = trace.kernels.iter().zip(trace.origins).zip(seconds)
            .map(|((k, o), seconds)| DispatchProfile { entry: k.entry, scope: o.scope, backward: o.backward, product: o.product, seconds })
            .collect();
        (r, dispatches)
    }

    /// [`Gpu::profile`], and which kernel set ran each product (as [`Gpu::trace_variants`]).
    pub fn profile_variants<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<KernelProfile>, Vec<(&'static str, &'static str)>) {
        self.finish();
        let (r, trace) = self.traced(true, || {
            let r = f();
            self.finish();
            r
        });
        let mut by_entry: Vec<KernelProfile> = Vec::new();
        for (entry, s) in trace.kernels.iter().map(|k| k.entry).zip(trace.seconds.unwrap_or_default()) {
            match by_entry.iter_mut().find(|k| k.entry == entry) {
                Some(k) => {
                    k.dispatches += 1;
                    k.seconds += s;
                }
                None => by_entry.push(KernelProfile { entry, dispatches: 1, seconds: s }),
            }
        }
        by_entry.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        (r, by_entry, trace.variants)
    }

}
