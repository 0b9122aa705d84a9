//! The one wgpu device of the process, shared by our WGSL pipelines, burn and egui.
//!
//! Created headless ([`GpuContext::headless`]) for tests and the CLI, or adopted from eframe
//! ([`GpuContext::from_existing`]); either way burn is registered on the *same* device and queue
//! ([`GpuContext::burn_device`]), so burn tensors and our pipelines share buffers without copies.

pub(crate) mod memory;

use std::sync::{Arc, OnceLock};

/// What the device offers that the rasterizer cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuCaps {
    /// Subgroup operations (WGSL `subgroupAdd`, ...) are available.
    pub subgroups: bool,
    /// `atomicAdd` on `atomic<f32>` is available; otherwise kernels use a compare-and-swap loop.
    pub float_atomics: bool,
    pub timestamp_queries: bool,
    /// WGSL `f16` (`shader-f16`): what a half-precision generator would need.
    pub shader_f16: bool,
    /// Largest storage buffer binding, in bytes.
    pub max_storage_binding: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found ({0}). On Linux without a GPU, install a CPU Vulkan driver: \
         `sudo apt-get install -y mesa-vulkan-drivers`"
    )]
    NoAdapter(String),
    #[error("could not create the GPU device: {0}")]
    Device(String),
    #[error("could not register the GPU device with burn: {0}")]
    Burn(String),
}

pub struct GpuContext {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub caps: GpuCaps,
    burn: OnceLock<Result<burn::tensor::Device, String>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.adapter.get_info()).field("caps", &self.caps).finish()
    }
}

/// The features to ask for: everything the adapter has (cubecl derives the tensor types it may use
/// from the adapter's features, so asking for less breaks burn), minus mappable primary buffers,
/// which make every buffer slower on discrete GPUs.
pub(crate) fn device_features(adapter: &wgpu::Adapter) -> wgpu::Features {
    adapter.features() - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS
}

/// The device descriptor every part of the project uses (also handed to eframe).
pub(crate) fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    wgpu::DeviceDescriptor {
        label: Some("efficient4d"),
        required_features: device_features(adapter),
        required_limits: adapter.limits(),
        ..Default::default()
    }
}

impl GpuContext {
    /// Picks the best adapter (a discrete GPU over an integrated one over a CPU driver) and creates
    /// the device without a window.
    pub fn headless() -> Result<Arc<Self>, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let (device, queue) = pollster::block_on(adapter.request_device(&device_descriptor(&adapter)))
            .map_err(|e| GpuError::Device(e.to_string()))?;
        Ok(Arc::new(Self::from_existing(instance, adapter, device, queue)))
    }

    /// Adopts handles created elsewhere (eframe's render state).
    pub(crate) fn from_existing(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Self {
        let features = device.features();
        let caps = GpuCaps {
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            float_atomics: features.contains(wgpu::Features::SHADER_FLOAT32_ATOMIC),
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            max_storage_binding: device.limits().max_storage_buffer_binding_size,
        };
        Self { instance, adapter, device, queue, caps, burn: OnceLock::new() }
    }

    /// A process-wide context, created on first use (tests and CLI commands share it).
    pub fn shared() -> Result<Arc<Self>, GpuError> {
        static SHARED: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
        SHARED.get_or_init(|| Self::headless().map_err(|e| e.to_string())).clone().map_err(GpuError::NoAdapter)
    }

    /// The burn device running on this very wgpu device and queue (registered once, then cloned).
    pub fn burn_device(&self) -> Result<burn::tensor::Device, GpuError> {
        self.burn
            .get_or_init(|| {
                let setup = burn::tensor::wgpu::WgpuSetup {
                    instance: self.instance.clone(),
                    adapter: self.adapter.clone(),
                    device: self.device.clone(),
                    queue: self.queue.clone(),
                    backend: self.adapter.get_info().backend,
                };
                burn::tensor::Device::wgpu_options().setup(setup).init().map_err(|e| e.to_string())
            })
            .clone()
            .map_err(GpuError::Burn)
    }

    /// The device's memory free for us, from the vendor's tools (wgpu states none): see
    /// [`memory::capacity`].
    pub(crate) fn memory_capacity(&self) -> Option<memory::Capacity> {
        memory::capacity(&self.adapter.get_info())
    }

    /// One line for logs and the UI: adapter name, backend, driver, capabilities.
    pub fn describe(&self) -> String {
        let info = self.adapter.get_info();
        let (lo, hi) = (info.subgroup_min_size, info.subgroup_max_size);
        let subgroups = match (self.caps.subgroups, lo == hi) {
            (false, _) => "no".to_string(),
            (true, true) => format!("{lo} lanes"),
            (true, false) => format!("{lo}-{hi} lanes"),
        };
        format!(
            "{} ({:?}, {:?}, driver {} {}), subgroups: {subgroups}, f32 atomics: {}, shader-f16: {}",
            info.name,
            info.backend,
            info.device_type,
            info.driver,
            info.driver_info,
            self.caps.float_atomics,
            self.caps.shader_f16
        )
    }

    /// The adapter's name alone ("llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA H200").
    pub(crate) fn adapter_name(&self) -> String {
        self.adapter.get_info().name
    }

    pub fn is_cpu_driver(&self) -> bool {
        self.adapter.get_info().device_type == wgpu::DeviceType::Cpu
    }
}

/// Where networks (SyncDreamer-T, RIFE) run: the shared GPU when it is a real one; without one, or on a
/// CPU Vulkan driver, burn's CPU backend, which runs convolutions several times faster than lavapipe.
pub fn network_device(gpu: Option<&GpuContext>) -> Result<burn::tensor::Device, GpuError> {
    match gpu {
        Some(g) if !g.is_cpu_driver() => g.burn_device(),
        _ => Ok(burn::tensor::Device::flex()),
    }
}
