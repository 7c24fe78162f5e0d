//! Shader families, kernels and the pipeline cache.
//!
//! Every kernel follows one binding convention, so the Rust side never writes a layout by
//! hand: `@group(0) @binding(0)` is a small uniform struct of parameters (bound with a
//! dynamic offset into one arena per submission), and the resources an entry point uses
//! (storage buffers, and rgba32float storage textures in the SIMD-8 variant) take the
//! caller's buffers and textures in ascending binding order (the output first, by
//! convention at binding 1). A family file gives each global its own binding number; an
//! entry point may use any subset. The layout of each entry point is read off the WGSL
//! with naga: which bindings it uses, of which kind, whether each is writable, and the
//! parameter size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One `.wgsl` file in `shaders/`; the file's entry points are the family's kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Elementwise,
    Activation,
    Matmul,
    Reduce,
    Loss,
    Adam,
    Conv,
    /// The conv family's variant for 8-lane CPU SIMD (`KernelSet::Simd8`).
    ConvSimd8,
    BatchNorm,
    Pool,
    /// Tensors into textures for the SIMD-8 kernels.
    Pack,
}

impl Family {
    pub const ALL: [Family; 11] = [
        Family::Elementwise,
        Family::Activation,
        Family::Matmul,
        Family::Reduce,
        Family::Loss,
        Family::Adam,
        Family::Conv,
        Family::ConvSimd8,
        Family::BatchNorm,
        Family::Pool,
        Family::Pack,
    ];

    /// The file name under `shaders/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Family::Elementwise => "elementwise.wgsl",
            Family::Activation => "activation.wgsl",
            Family::Matmul => "matmul.wgsl",
            Family::Reduce => "reduce.wgsl",
            Family::Loss => "loss.wgsl",
            Family::Adam => "adam.wgsl",
            Family::Conv => "conv.wgsl",
            Family::ConvSimd8 => "conv_simd8.wgsl",
            Family::BatchNorm => "batchnorm.wgsl",
            Family::Pool => "pool.wgsl",
            Family::Pack => "pack.wgsl",
        }
    }

    /// The WGSL source, compiled into the binary so the program runs from anywhere.
    pub fn source(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Family::Activation => include_str!("../../shaders/activation.wgsl"),
            Family::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::Loss => include_str!("../../shaders/loss.wgsl"),
            Family::Adam => include_str!("../../shaders/adam.wgsl"),
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::ConvSimd8 => include_str!("../../shaders/conv_simd8.wgsl"),
            Family::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Family::Pool => include_str!("../../shaders/pool.wgsl"),
            Family::Pack => include_str!("../../shaders/pack.wgsl"),
        }
    }
}

/// One compute entry point of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub family: Family,
    pub entry: &'static str,
}

impl Kernel {
    pub const fn new(family: Family, entry: &'static str) -> Self {
        Kernel { family, entry }
    }
}

/// Parse and validate one WGSL source; the error text names the file, line and column.
pub fn validate_wgsl(source: &str, path: &str) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string_with_path(source, path))?;
    let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    let info = validator.validate(&module).map_err(|e| e.emit_to_string_with_path(source, path))?;
    Ok((module, info))
}

/// A resource binding after the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `var<storage, read>` or `var<storage, read_write>`.
    Buffer { writable: bool },
    /// `texture_storage_2d<rgba32float, read>` or `<rgba32float, write>`.
    Texture { writable: bool },
}

/// What the pipeline needs to know about one entry point's bindings.
#[derive(Debug, Clone)]
pub struct EntryLayout {
    /// Size in bytes of the parameter struct at binding 0 (0 when the kernel has none).
    pub params_size: u32,
    /// The resource bindings the entry point uses, ascending.
    pub resources: Vec<(u32, ResourceKind)>,
}

/// Read the binding layout of `entry` off the parsed module.
fn reflect_entry(module: &naga::Module, info: &naga::valid::ModuleInfo, family: Family, entry: &str) -> EntryLayout {
    let index = module
        .entry_points
        .iter()
        .position(|ep| ep.name == entry)
        .unwrap_or_else(|| panic!("shaders/{} has no entry point `{entry}`", family.file_name()));
    let uses = info.get_entry_point(index);
    let mut params_size = 0;
    let mut resources: Vec<(u32, ResourceKind)> = Vec::new();
    for (handle, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else { continue };
        if uses[handle].is_empty() {
            continue;
        }
        assert_eq!(binding.group, 0, "shaders/{}: only bind group 0 is used", family.file_name());
        match var.space {
            naga::AddressSpace::Uniform => {
                assert_eq!(binding.binding, 0, "shaders/{}: the uniform parameters live at binding 0", family.file_name());
                params_size = module.types[var.ty].inner.size(module.to_ctx());
            }
            naga::AddressSpace::Storage { access } => {
                resources.push((binding.binding, ResourceKind::Buffer { writable: access.contains(naga::StorageAccess::STORE) }));
            }
            naga::AddressSpace::Handle => match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class: naga::ImageClass::Storage { format: naga::StorageFormat::Rgba32Float, access },
                } => {
                    let writable = access.contains(naga::StorageAccess::STORE);
                    assert!(
                        writable != access.contains(naga::StorageAccess::LOAD),
                        "shaders/{}: storage texture `{:?}` must be read-only or write-only",
                        family.file_name(),
                        var.name
                    );
                    resources.push((binding.binding, ResourceKind::Texture { writable }));
                }
                _ => panic!("shaders/{}: only 2-D rgba32float storage textures are supported (`{:?}`)", family.file_name(), var.name),
            },
            _ => panic!("shaders/{}: unsupported resource `{:?}`", family.file_name(), var.name),
        }
    }
    resources.sort_by_key(|r| r.0);
    EntryLayout { params_size, resources }
}

/// A compiled kernel: pipeline plus the layout facts the dispatcher checks against.
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group_layout: wgpu::BindGroupLayout,
    pub layout: EntryLayout,
    /// Small dense number used as a cache key for bind groups.
    pub id: u32,
}

/// Compiles each family's module once and each entry point's pipeline once per process.
#[derive(Default)]
pub struct PipelineCache {
    modules: Mutex<HashMap<Family, (wgpu::ShaderModule, Arc<(naga::Module, naga::valid::ModuleInfo)>)>>,
    pipelines: Mutex<HashMap<Kernel, Arc<Pipeline>>>,
}

impl PipelineCache {
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel) -> Arc<Pipeline> {
        if let Some(p) = self.pipelines.lock().unwrap().get(&kernel) {
            return p.clone();
        }
        let (module, reflected) = self.module(device, kernel.family);
        let layout = reflect_entry(&reflected.0, &reflected.1, kernel.family, kernel.entry);
        let mut entries = Vec::new();
        if layout.params_size > 0 {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(layout.params_size as u64),
                },
                count: None,
            });
        }
        for &(binding, kind) in &layout.resources {
            let ty = match kind {
                ResourceKind::Buffer { writable } => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: !writable },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                ResourceKind::Texture { writable } => wgpu::BindingType::StorageTexture {
                    access: if writable { wgpu::StorageTextureAccess::WriteOnly } else { wgpu::StorageTextureAccess::ReadOnly },
                    format: super::pool::TEXTURE_FORMAT,
                    view_dimension: wgpu::TextureViewDimension::D2,
                },
            };
            entries.push(wgpu::BindGroupLayoutEntry { binding, visibility: wgpu::ShaderStages::COMPUTE, ty, count: None });
        }
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.entry),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let mut pipelines = self.pipelines.lock().unwrap();
        let id = pipelines.len() as u32;
        pipelines
            .entry(kernel)
            .or_insert_with(|| Arc::new(Pipeline { pipeline, bind_group_layout, layout, id }))
            .clone()
    }

    fn module(&self, device: &wgpu::Device, family: Family) -> (wgpu::ShaderModule, Arc<(naga::Module, naga::valid::ModuleInfo)>) {
        let mut modules = self.modules.lock().unwrap();
        let (m, r) = modules.entry(family).or_insert_with(|| {
            let path = format!("shaders/{}", family.file_name());
            let reflected = validate_wgsl(family.source(), &path).unwrap_or_else(|e| panic!("{e}"));
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(family.file_name()),
                source: wgpu::ShaderSource::Wgsl(family.source().into()),
            });
            (module, Arc::new(reflected))
        });
        (m.clone(), r.clone())
    }

    /// Number of pipelines compiled so far.
    pub fn len(&self) -> usize {
        self.pipelines.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
