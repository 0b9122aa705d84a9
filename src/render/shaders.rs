//! The WGSL sources, embedded at compile time and assembled per stage (WGSL has no includes), plus
//! bind group layouts derived from each module's own binding declarations (via naga), so the Rust
//! side never repeats what a shader declares.

use std::collections::BTreeMap;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const GAUSSIAN_PARAMS: &str = include_str!("../../shaders/gaussian_params.wgsl");
const TILES: &str = include_str!("../../shaders/tiles.wgsl");
const PROJECT: &str = include_str!("../../shaders/project.wgsl");
const SCAN: &str = include_str!("../../shaders/scan.wgsl");
const RADIX_SORT: &str = include_str!("../../shaders/radix_sort.wgsl");
const COMPACT: &str = include_str!("../../shaders/compact.wgsl");
const EMIT: &str = include_str!("../../shaders/emit.wgsl");
const TILE_RANGES: &str = include_str!("../../shaders/tile_ranges.wgsl");
const RASTER_INPUTS: &str = include_str!("../../shaders/raster_inputs.wgsl");
const RASTERIZE: &str = include_str!("../../shaders/rasterize.wgsl");
const RASTERIZE_BACKWARD: &str = include_str!("../../shaders/rasterize_backward.wgsl");
const GRAD_STORE: &str = include_str!("../../shaders/grad_store.wgsl");
const ATOMIC_ADD_FLOAT: &str = include_str!("../../shaders/atomic_add_float.wgsl");
const ATOMIC_ADD_CAS: &str = include_str!("../../shaders/atomic_add_cas.wgsl");
const ACCUMULATE_SUBGROUP: &str = include_str!("../../shaders/grad_accumulate_subgroup.wgsl");
const ACCUMULATE_PLAIN: &str = include_str!("../../shaders/grad_accumulate_plain.wgsl");
const VOTE_SUBGROUP: &str = include_str!("../../shaders/vote_subgroup.wgsl");
const VOTE_PLAIN: &str = include_str!("../../shaders/vote_plain.wgsl");
const PROJECT_BACKWARD: &str = include_str!("../../shaders/project_backward.wgsl");
const LOSS: &str = include_str!("../../shaders/loss.wgsl");
const SIZES: &str = include_str!("../../shaders/sizes.wgsl");

/// Which optional device features a shader variant uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShaderFeatures {
    pub subgroups: bool,
    pub float_atomics: bool,
}

impl ShaderFeatures {
    /// The fastest variant a device offers: every optional feature it has.
    pub fn best_for(caps: &crate::gpu::GpuCaps) -> Self {
        Self { subgroups: caps.subgroups, float_atomics: caps.float_atomics }
    }
}

/// Every rasterizer stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Project,
    Scan,
    RadixSort,
    Compact,
    Emit,
    TileRanges,
    Rasterize,
    RasterizeBackward,
    ProjectBackward,
    /// The fused training loss (not a rasterizer stage, but it shares the machinery).
    Loss,
    /// Parameter blocks and indirect dispatches from GPU-resident counts (see `gpu_sizes`).
    Sizes,
}

impl Stage {
    /// Every stage (the tests validate each in every feature variant).
    #[cfg(test)]
    pub const ALL: [Stage; 11] = [
        Stage::Project,
        Stage::Scan,
        Stage::RadixSort,
        Stage::Compact,
        Stage::Emit,
        Stage::TileRanges,
        Stage::Rasterize,
        Stage::RasterizeBackward,
        Stage::ProjectBackward,
        Stage::Loss,
        Stage::Sizes,
    ];

    /// The assembled WGSL of this stage for the given features.
    pub fn source(self, f: ShaderFeatures) -> String {
        let vote = if f.subgroups { VOTE_SUBGROUP } else { VOTE_PLAIN };
        let parts: Vec<&str> = match self {
            Stage::Project => vec![COMMON, GAUSSIAN_PARAMS, TILES, PROJECT],
            Stage::Scan => vec![SCAN],
            Stage::RadixSort => vec![RADIX_SORT],
            Stage::Compact => vec![COMPACT],
            Stage::Emit => vec![COMMON, TILES, EMIT],
            Stage::TileRanges => vec![TILE_RANGES],
            Stage::Rasterize => vec![COMMON, RASTER_INPUTS, RASTERIZE],
            Stage::RasterizeBackward => vec![
                COMMON,
                vote,
                RASTER_INPUTS,
                RASTERIZE_BACKWARD,
                GRAD_STORE,
                if f.float_atomics { ATOMIC_ADD_FLOAT } else { ATOMIC_ADD_CAS },
                if f.subgroups { ACCUMULATE_SUBGROUP } else { ACCUMULATE_PLAIN },
            ],
            Stage::ProjectBackward => vec![COMMON, GAUSSIAN_PARAMS, PROJECT_BACKWARD],
            Stage::Loss => vec![LOSS],
            Stage::Sizes => vec![SIZES],
        };
        let grad_atomic = if f.float_atomics { "atomic<f32>" } else { "atomic<u32>" };
        let param_access = if self == Stage::ProjectBackward { "read_write" } else { "read" };
        parts.join("\n").replace("GRAD_ATOMIC", grad_atomic).replace("PARAM_ACCESS", param_access)
    }
}

/// naga's validator configured for a feature set.
pub fn validator(f: ShaderFeatures) -> naga::valid::Validator {
    let mut caps = naga::valid::Capabilities::empty();
    if f.subgroups {
        caps |= naga::valid::Capabilities::SUBGROUP;
    }
    if f.float_atomics {
        caps |= naga::valid::Capabilities::SHADER_FLOAT32_ATOMIC;
    }
    let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
    v.subgroup_stages(naga::valid::ShaderStages::COMPUTE);
    v.subgroup_operations(naga::valid::SubgroupOperationSet::all());
    v
}

/// Parses and validates a stage's WGSL, returning the module (for layout reflection).
pub fn parse_and_validate(stage: Stage, f: ShaderFeatures) -> Result<naga::Module, String> {
    let src = stage.source(f);
    let module = naga::front::wgsl::parse_str(&src).map_err(|e| format!("{stage:?}: {}", e.emit_to_string(&src)))?;
    validator(f).validate(&module).map_err(|e| format!("{stage:?}: {}", e.emit_to_string(&src)))?;
    Ok(module)
}

/// Bind group 0's layout entries, read off the module's global declarations.
pub fn layout_entries(module: &naga::Module) -> Vec<wgpu::BindGroupLayoutEntry> {
    let mut entries = BTreeMap::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        let ty = match var.space {
            naga::AddressSpace::Uniform => wgpu::BufferBindingType::Uniform,
            naga::AddressSpace::Storage { access } => {
                wgpu::BufferBindingType::Storage { read_only: !access.contains(naga::StorageAccess::STORE) }
            }
            _ => continue,
        };
        entries.insert(
            binding.binding,
            wgpu::BindGroupLayoutEntry {
                binding: binding.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            },
        );
    }
    entries.into_values().collect()
}

/// Byte layout of a WGSL struct as naga lays it out: each member's (offset, size), and the
/// struct's size. The Rust mirror of a uniform struct is checked against it
/// ([`rust_layout`](crate::rust_layout)), so the two cannot drift apart silently.
#[cfg(test)]
pub(crate) fn wgsl_struct_layout(stage: Stage, name: &str) -> (Vec<(u32, u32)>, u32) {
    let f = ShaderFeatures { subgroups: false, float_atomics: false };
    let module = parse_and_validate(stage, f).unwrap_or_else(|e| panic!("{e}"));
    struct_layout_in(&module, name)
}

/// [`wgsl_struct_layout`] of a struct in any parsed module.
#[cfg(test)]
pub(crate) fn struct_layout_in(module: &naga::Module, name: &str) -> (Vec<(u32, u32)>, u32) {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layout");
    let (handle, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no struct {name} in the module"));
    let naga::TypeInner::Struct { members, span } = &ty.inner else { panic!("{name} is not a struct") };
    let fields = members.iter().map(|m| (m.offset, layouter[m.ty].size)).collect();
    assert_eq!(layouter[handle].size, *span);
    (fields, *span)
}

/// `rust_layout!(Type { a, b, c })`: each listed field's (offset, size) and the type's size, to compare
/// with [`wgsl_struct_layout`].
#[cfg(test)]
#[macro_export]
macro_rules! rust_layout {
    ($t:ty { $($f:ident),* $(,)? }) => {{
        let zero: $t = bytemuck::Zeroable::zeroed();
        let fields: Vec<(u32, u32)> =
            vec![$((std::mem::offset_of!($t, $f) as u32, std::mem::size_of_val(&zero.$f) as u32)),*];
        (fields, std::mem::size_of::<$t>() as u32)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_validates_in_every_feature_variant() {
        for subgroups in [false, true] {
            for float_atomics in [false, true] {
                let f = ShaderFeatures { subgroups, float_atomics };
                for stage in Stage::ALL {
                    let module = parse_and_validate(stage, f).unwrap_or_else(|e| panic!("{e}"));
                    assert!(!layout_entries(&module).is_empty(), "{stage:?} declares no bindings");
                }
            }
        }
    }

    #[test]
    fn subgroup_builtins_appear_only_in_the_subgroup_variant() {
        let plain = Stage::RasterizeBackward.source(ShaderFeatures { subgroups: false, float_atomics: false });
        assert!(!plain.contains("subgroupAdd") && plain.contains("atomicCompareExchangeWeak"));
        let fast = Stage::RasterizeBackward.source(ShaderFeatures { subgroups: true, float_atomics: true });
        assert!(fast.contains("subgroupAdd") && !fast.contains("atomicCompareExchangeWeak"));
    }
}
