//! Adapter discovery and device creation.
//!
//! We look at every native backend (Vulkan, Metal, DX12, GL), keep the adapters that can
//! run compute shaders, and take the most capable one: discrete GPU first, then integrated,
//! virtual, and last a CPU rasteriser such as Mesa's lavapipe ("llvmpipe"). The user can
//! narrow the choice with `--backend` / `--adapter`, or `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`.

use crate::error::{Error, Result};

/// What the user asked for; `None` falls back to the environment, then to "best".
#[derive(Debug, Clone, Default)]
pub struct AdapterChoice {
    /// Comma-separated backend names as wgpu spells them: vulkan, metal, dx12, gl.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name, e.g. "llvmpipe" or "nvidia".
    pub adapter: Option<String>,
    /// Kernel set: "auto" (measured per product and shape on this adapter) or a name from
    /// `variants::KERNEL_SETS`.
    pub kernels: Option<String>,
    /// Where `auto` keeps its measurements; `None` falls back to `DCGAN_TUNE_CACHE`, then
    /// the user's cache directory.
    pub tune_cache: Option<crate::engine::tune::TuneCache>,
    /// Measure again, ignoring what the cache holds for this adapter.
    pub retune: bool,
}

impl AdapterChoice {
    /// Flags win over the environment variables.
    pub fn resolved(&self) -> AdapterChoice {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        AdapterChoice {
            backend: self.backend.clone().or_else(|| env("WGPU_BACKEND")),
            adapter: self.adapter.clone().or_else(|| env("WGPU_ADAPTER_NAME")),
            kernels: self.kernels.clone().or_else(|| env("DCGAN_KERNELS")),
            tune_cache: Some(self.tune_cache.clone().unwrap_or_else(crate::engine::tune::TuneCache::from_env)),
            retune: self.retune,
        }
    }
}

/// The backends that run natively (no browser WebGPU, no no-op backend).
pub const NATIVE_BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12)
    .union(wgpu::Backends::GL);

fn parse_backends(list: &str) -> Result<wgpu::Backends> {
    let mut backends = wgpu::Backends::empty();
    for name in list.split(',').map(|s| s.trim().to_lowercase()) {
        backends |= match name.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            other => {
                return Err(Error::new(format!(
                    "unknown backend '{other}' (from --backend or WGPU_BACKEND); \
                     use one or more of: vulkan, metal, dx12, gl"
                )));
            }
        };
    }
    Ok(backends)
}

/// Lower is better: the order in which adapter types are preferred.
fn device_type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// GL exposes less (no timestamps, smaller limits), so on the same hardware prefer the others.
fn backend_rank(b: wgpu::Backend) -> u32 {
    if b == wgpu::Backend::Gl { 1 } else { 0 }
}

/// One adapter as seen during discovery, with the reason it cannot be used (if any).
pub struct AdapterReport {
    pub info: wgpu::AdapterInfo,
    pub unusable: Option<&'static str>,
}

/// Every adapter on the requested backends (all native ones by default), best first,
/// plus the instance that owns them.
pub fn enumerate(choice: &AdapterChoice) -> Result<(wgpu::Instance, Vec<(wgpu::Adapter, AdapterReport)>)> {
    let backends = match &choice.resolved().backend {
        Some(list) => parse_backends(list)?,
        None => NATIVE_BACKENDS,
    };
    Ok(enumerate_backends(backends))
}

fn enumerate_backends(backends: wgpu::Backends) -> (wgpu::Instance, Vec<(wgpu::Adapter, AdapterReport)>) {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters: Vec<(wgpu::Adapter, AdapterReport)> = pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let caps = adapter.get_downlevel_capabilities();
            let unusable = if !caps.flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS) {
                Some("no compute shaders")
            } else {
                None
            };
            (adapter, AdapterReport { info, unusable })
        })
        .collect();
    adapters.sort_by_key(|(_, r)| (r.unusable.is_some(), device_type_rank(r.info.device_type), backend_rank(r.info.backend)));
    (instance, adapters)
}

/// The fix for "no adapter" depends on the platform and on what was asked for; Linux users
/// usually lack a Vulkan driver.
fn no_adapter_hint(requested: Option<&str>) -> String {
    let requested = requested.map(str::to_lowercase).unwrap_or_default();
    let native = if cfg!(target_os = "macos") { "metal" } else if cfg!(target_os = "windows") { "dx12" } else { "vulkan" };
    for (name, platform) in [("metal", "macOS"), ("dx12", "Windows")] {
        if requested.contains(name) && native != name {
            return format!("The {name} backend exists only on {platform}; on this machine use --backend {native} (or leave --backend out).");
        }
    }
    if cfg!(target_os = "linux") {
        "On Linux without a GPU driver, install Mesa's software Vulkan driver (lavapipe): \
         `apt-get install mesa-vulkan-drivers` (Debian/Ubuntu)."
            .into()
    } else {
        "Install or update the GPU driver (Vulkan, Metal or DX12).".into()
    }
}

/// Mesa's OpenGL software renderer runs the kernels 5-50x slower than its Vulkan one; it is
/// used only when `--backend gl` asks for it.
fn slow_gl_refusal(info: &wgpu::AdapterInfo) -> Error {
    Error::new(format!(
        "the only adapter found is '{}', OpenGL on the CPU, which runs these kernels 5-50x slower than Mesa's \
         Vulkan driver (a 1-minute job takes 15 or more). Install that driver (Debian/Ubuntu: \
         apt-get install mesa-vulkan-drivers), or pass --backend gl to use OpenGL anyway",
        info.name
    ))
}

/// Pick the adapter to use according to `choice`, or explain why none fits.
pub fn select(choice: &AdapterChoice) -> Result<(wgpu::Instance, wgpu::Adapter)> {
    let resolved = choice.resolved();
    // Without an explicit backend, GL is only probed when nothing else is found: it is
    // the weakest backend, and probing it prints display-server noise on headless Linux.
    let (instance, adapters) = match &resolved.backend {
        Some(_) => enumerate(choice)?,
        None => {
            let (instance, adapters) = enumerate_backends(NATIVE_BACKENDS.difference(wgpu::Backends::GL));
            if adapters.iter().any(|(_, r)| r.unusable.is_none()) {
                (instance, adapters)
            } else {
                enumerate_backends(NATIVE_BACKENDS)
            }
        }
    };
    let seen = |adapters: &[(wgpu::Adapter, AdapterReport)]| -> String {
        adapters
            .iter()
            .map(|(_, r)| format!("  {} ({:?}, {:?}){}", r.info.name, r.info.backend, r.info.device_type,
                r.unusable.map(|u| format!(" - unusable: {u}")).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if adapters.iter().all(|(_, r)| r.unusable.is_some()) {
        let backends = resolved.backend.as_deref().unwrap_or("vulkan, metal, dx12, gl");
        let list = if adapters.is_empty() { "  (none)".to_string() } else { seen(&adapters) };
        return Err(Error::new(format!(
            "no usable GPU adapter found on backends [{backends}].\nAdapters seen:\n{list}\n{}",
            no_adapter_hint(resolved.backend.as_deref())
        )));
    }
    let wanted = resolved.adapter.as_ref().map(|s| s.to_lowercase());
    let pick = adapters.iter().position(|(_, r)| {
        r.unusable.is_none() && wanted.as_ref().is_none_or(|w| r.info.name.to_lowercase().contains(w))
    });
    match pick {
        Some(i) => {
            let Some((adapter, report)) = adapters.into_iter().nth(i) else { unreachable!("position() found it") };
            let gl_asked = resolved.backend.as_deref().is_some_and(|b| b.to_lowercase().contains("gl"));
            if report.info.backend == wgpu::Backend::Gl && report.info.device_type == wgpu::DeviceType::Cpu && !gl_asked {
                return Err(slow_gl_refusal(&report.info));
            }
            Ok((instance, adapter))
        }
        None => Err(Error::new(format!(
            "no adapter name contains '{}' (from --adapter or WGPU_ADAPTER_NAME).\nAdapters seen:\n{}",
            resolved.adapter.unwrap_or_default(),
            seen(&adapters)
        ))),
    }
}

/// Optional features we use when the adapter has them.
pub fn wanted_features(adapter: &wgpu::Adapter) -> wgpu::Features {
    let useful = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
    adapter.features() & useful
}

/// Create the device with the adapter's own limits: wgpu's defaults would cap storage
/// buffers at 128 MiB and workgroup storage at 16 KiB even on GPUs that have far more.
pub fn open_device(adapter: &wgpu::Adapter) -> Result<(wgpu::Device, wgpu::Queue)> {
    let desc = wgpu::DeviceDescriptor {
        label: Some("dcgan-inpaint"),
        required_features: wanted_features(adapter),
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    };
    pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
        Error::new(format!("could not open the device on adapter '{}': {e}", adapter.get_info().name))
    })
}
