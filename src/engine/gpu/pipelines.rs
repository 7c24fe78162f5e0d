//! Shader families, kernels and the pipeline cache.
//!
//! Every kernel follows one binding convention, so the Rust side never writes a layout by
//! hand: `@group(0) @binding(0)` is a small uniform struct of parameters (bound with a
//! dynamic offset into one arena per submission), and the resources an entry point uses
//! (storage buffers, and rgba32float storage textures in the SIMD-8 set) are bound by the
//! names of their WGSL globals. The layout of each entry point is read off the WGSL with
//! naga: which bindings it uses, their names and kinds, and the parameter struct's members,
//! which the caller's `#[repr(C)]` params type must match member by member.
//!
//! One WGSL body serves several element types: the pipeline cache appends a prelude that
//! defines `T` (the element a kernel loads and stores: `f32` or `vec4<f32>`), `W` (items per
//! element), `splat(x)`, `hsum(v)` and `is_nan(v)` (by the bits: compilers may fold `v != v`),
//! and compiles each (family, element) once. Appending
//! (WGSL declarations may come in any order) keeps the file's line numbers in errors.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One `.wgsl` file in `shaders/`, compiled into the binary; its entry points are the
/// family's kernels. Each op module declares the families it runs.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub file: &'static str,
    pub source: &'static str,
    /// WGSL `const` declarations appended to the source (a tiled kernel set's tile shape):
    /// one file, compiled once per set of constants.
    pub constants: &'static str,
}

impl Family {
    /// The same file compiled with `constants` appended (e.g. "const BM: u32 = 64u; ...").
    pub const fn with_constants(self, constants: &'static str) -> Family {
        Family { constants, ..self }
    }
}

impl PartialEq for Family {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.constants == other.constants
    }
}
impl Eq for Family {}
impl std::hash::Hash for Family {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.file.hash(state);
        self.constants.hash(state)
    }
}

/// `family!("conv.wgsl")`: a shader family from `shaders/`.
#[macro_export]
macro_rules! family {
    ($file:literal) => {
        $crate::engine::gpu::Family { file: $file, source: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file)), constants: "" }
    };
}

/// The element type `T` a kernel is compiled for. Tensors are f32 today; an f16 element
/// enters here and in `Tensor::dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    F32,
    Vec4F32,
}

impl Element {
    pub const ALL: [Element; 2] = [Element::F32, Element::Vec4F32];

    /// Items of the tensor per element.
    pub fn width(self) -> usize {
        match self {
            Element::F32 => 1,
            Element::Vec4F32 => 4,
        }
    }

    /// The declarations appended to a family's source.
    pub fn prelude(self) -> &'static str {
        match self {
            Element::F32 => {
                "\n// element prelude (pipelines.rs)\nalias T = f32;\nconst W: u32 = 1u;\nfn splat(x: f32) -> T { return x; }\nfn hsum(v: T) -> f32 { return v; }\nfn is_nan(v: T) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }\n"
            }
            Element::Vec4F32 => {
                "\n// element prelude (pipelines.rs)\nalias T = vec4<f32>;\nconst W: u32 = 4u;\nfn splat(x: f32) -> T { return vec4<f32>(x); }\nfn hsum(v: T) -> f32 { return v.x + v.y + v.z + v.w; }\nfn is_nan(v: T) -> vec4<bool> { return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u); }\n"
            }
        }
    }

    /// The source the device compiles: the family's file plus this element's prelude.
    pub fn source(self, family: Family) -> String {
        format!("{}\n{}{}", family.source, family.constants, self.prelude())
    }
}

/// One compute entry point of one family, for one element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub family: Family,
    pub entry: &'static str,
    pub element: Element,
}

impl Kernel {
    /// A kernel on f32 elements (families that do not use `T` compile once this way).
    pub const fn new(family: Family, entry: &'static str) -> Self {
        Kernel { family, entry, element: Element::F32 }
    }

    pub const fn with_element(self, element: Element) -> Self {
        Kernel { element, ..self }
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

/// One resource binding of an entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceBinding {
    pub binding: u32,
    pub kind: ResourceKind,
    /// The WGSL global's name: what callers bind it by.
    pub name: String,
}

/// What the pipeline needs to know about one entry point's bindings.
#[derive(Debug, Clone)]
pub struct EntryLayout {
    /// Size in bytes of the parameter struct at binding 0 (0 when the kernel has none).
    pub params_size: u32,
    /// (name, byte offset, WGSL scalar type) of the parameter struct's members.
    pub params: Vec<(String, usize, String)>,
    /// The resource bindings the entry point uses, ascending.
    pub resources: Vec<ResourceBinding>,
}

/// The members of a uniform parameter struct: (name, offset, scalar type).
fn struct_members(module: &naga::Module, ty: naga::Handle<naga::Type>, file: &str) -> Vec<(String, usize, String)> {
    let naga::TypeInner::Struct { members, .. } = &module.types[ty].inner else {
        panic!("shaders/{file}: the parameters at binding 0 must be a struct");
    };
    members
        .iter()
        .map(|m| {
            let scalar = match module.types[m.ty].inner {
                naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Uint, width: 4 }) => "u32",
                naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Sint, width: 4 }) => "i32",
                naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Float, width: 4 }) => "f32",
                ref other => panic!("shaders/{file}: parameter `{:?}` has type {other:?}; use u32, i32 or f32", m.name),
            };
            (m.name.clone().unwrap_or_default(), m.offset as usize, scalar.to_string())
        })
        .collect()
}

/// Read the binding layout of `entry` off the parsed module.
fn reflect_entry(module: &naga::Module, info: &naga::valid::ModuleInfo, family: Family, entry: &str) -> EntryLayout {
    let file = family.file;
    let index = module
        .entry_points
        .iter()
        .position(|ep| ep.name == entry)
        .unwrap_or_else(|| panic!("shaders/{file} has no entry point `{entry}`"));
    let uses = info.get_entry_point(index);
    let mut layout = EntryLayout { params_size: 0, params: Vec::new(), resources: Vec::new() };
    for (handle, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else { continue };
        if uses[handle].is_empty() {
            continue;
        }
        assert_eq!(binding.group, 0, "shaders/{file}: only bind group 0 is used");
        let name = var.name.clone().unwrap_or_default();
        let kind = match var.space {
            naga::AddressSpace::Uniform => {
                assert_eq!(binding.binding, 0, "shaders/{file}: the uniform parameters live at binding 0");
                layout.params_size = module.types[var.ty].inner.size(module.to_ctx());
                layout.params = struct_members(module, var.ty, file);
                continue;
            }
            naga::AddressSpace::Storage { access } => ResourceKind::Buffer { writable: access.contains(naga::StorageAccess::STORE) },
            naga::AddressSpace::Handle => match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class: naga::ImageClass::Storage { format: naga::StorageFormat::Rgba32Float, access },
                } => {
                    let writable = access.contains(naga::StorageAccess::STORE);
                    assert!(
                        writable != access.contains(naga::StorageAccess::LOAD),
                        "shaders/{file}: storage texture `{name}` must be read-only or write-only"
                    );
                    ResourceKind::Texture { writable }
                }
                _ => panic!("shaders/{file}: only 2-D rgba32float storage textures are supported (`{name}`)"),
            },
            _ => panic!("shaders/{file}: unsupported resource `{name}`"),
        };
        layout.resources.push(ResourceBinding { binding: binding.binding, kind, name });
    }
    layout.resources.sort_by_key(|r| r.binding);
    layout
}

/// A compiled kernel: pipeline plus the layout facts the dispatcher checks against.
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub bind_group_layout: wgpu::BindGroupLayout,
    pub layout: EntryLayout,
    /// Small dense number used as a cache key for bind groups.
    pub id: u32,
    /// The Rust params type already checked against `layout.params`.
    checked_params: Mutex<Option<TypeId>>,
}

impl Pipeline {
    /// Check once per params type that `P`'s members are the WGSL struct's, by name, order,
    /// offset and type; a mismatch is a bug in the op's binding and names both sides.
    pub fn check_params<P: super::KernelParams>(&self, kernel: Kernel) {
        if *self.checked_params.lock().unwrap() == Some(TypeId::of::<P>()) {
            return;
        }
        let rust: Vec<(String, usize, String)> = P::MEMBERS.iter().map(|&(n, o, t)| (n.to_string(), o, t.to_string())).collect();
        assert!(
            rust == self.layout.params && std::mem::size_of::<P>() == self.layout.params_size as usize,
            "kernel `{}` (shaders/{}): the params type {} has members {rust:?} ({} bytes), the WGSL Params {:?} ({} bytes)",
            kernel.entry,
            kernel.family.file,
            std::any::type_name::<P>(),
            std::mem::size_of::<P>(),
            self.layout.params,
            self.layout.params_size
        );
        *self.checked_params.lock().unwrap() = Some(TypeId::of::<P>());
    }
}

/// Compiles each family's module once and each entry point's pipeline once per process.
#[derive(Default)]
pub struct PipelineCache {
    modules: Mutex<HashMap<(Family, Element), (wgpu::ShaderModule, Arc<(naga::Module, naga::valid::ModuleInfo)>)>>,
    pipelines: Mutex<HashMap<Kernel, Arc<Pipeline>>>,
}

impl PipelineCache {
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel) -> Arc<Pipeline> {
        if let Some(p) = self.pipelines.lock().unwrap().get(&kernel) {
            return p.clone();
        }
        let (module, reflected) = self.module(device, kernel.family, kernel.element);
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
        for r in &layout.resources {
            let (binding, kind) = (r.binding, r.kind);
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
            .or_insert_with(|| Arc::new(Pipeline { pipeline, bind_group_layout, layout, id, checked_params: Mutex::new(None) }))
            .clone()
    }

    fn module(&self, device: &wgpu::Device, family: Family, element: Element) -> (wgpu::ShaderModule, Arc<(naga::Module, naga::valid::ModuleInfo)>) {
        let mut modules = self.modules.lock().unwrap();
        let (m, r) = modules.entry((family, element)).or_insert_with(|| {
            let source = element.source(family);
            let path = format!("shaders/{}", family.file);
            let reflected = validate_wgsl(&source, &path).unwrap_or_else(|e| panic!("{e}"));
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(family.file),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            (module, Arc::new(reflected))
        });
        (m.clone(), r.clone())
    }
}
