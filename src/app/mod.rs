//! The desktop app (eframe on the wgpu renderer). The viewer, timeline and pipelines arrive with
//! issue #5; today the window shows the shared GPU device and says what is coming.

use crate::gpu::GpuContext;
use std::path::PathBuf;
use std::sync::Arc;

pub struct App {
    gpu: Arc<GpuContext>,
    input: Option<PathBuf>,
    burn_status: String,
}

impl App {
    pub fn new(gpu: Arc<GpuContext>, input: Option<PathBuf>) -> Self {
        // Registering burn here proves training can run on the window's own device.
        let burn_status = match gpu.burn_device() {
            Ok(d) => format!("burn shares this device: {d:?}"),
            Err(e) => format!("burn could not use this device: {e}"),
        };
        Self { gpu, input, burn_status }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("efficient4d");
            ui.label(format!("GPU: {}", self.gpu.describe()));
            ui.label(&self.burn_status);
            ui.separator();
            match &self.input {
                Some(p) => {
                    ui.label(format!("Input: {} — opening files arrives with the viewer (issue #5).", p.display()))
                }
                None => ui.label("The viewer, timeline and live training arrive with issue #5."),
            };
        });
    }
}

/// Opens the window on one GPU context shared with egui and burn.
pub fn run(input: Option<PathBuf>) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1280.0, 800.0]).with_drag_and_drop(true),
        ..Default::default()
    };
    options.wgpu_options.wgpu_setup = egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
        instance: gpu.instance.clone(),
        adapter: gpu.adapter.clone(),
        device: gpu.device.clone(),
        queue: gpu.queue.clone(),
    });
    eframe::run_native("efficient4d", options, Box::new(move |_cc| Ok(Box::new(App::new(gpu, input)))))
        .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}
