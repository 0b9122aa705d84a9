//! The app's panels: menu, timeline, stage-1 and training on the left, view and export on the right,
//! the viewport in the middle.

use super::viewport::ViewRequest;
use super::{App, actions};

pub fn menu_bar(app: &mut App, ui: &mut egui::Ui) {
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open...").clicked()
                    && let Some(p) = rfd::FileDialog::new().pick_file()
                {
                    app.open(&p);
                }
                if ui.button("Open folder...").clicked()
                    && let Some(p) = rfd::FileDialog::new().pick_folder()
                {
                    app.open(&p);
                }
                if ui.button("Open the demo clip").clicked() {
                    app.open(&crate::generate::demo::demo_clip());
                }
                if ui.button("Weights...").clicked() {
                    app.weights_window.open = true;
                }
                ui.separator();
                export_buttons(app, ui);
            });
            ui.menu_button("View", |ui| {
                if ui.button("Reset camera").clicked() {
                    app.snap_to_rig(Some(0));
                }
                if ui.button("Input view").clicked() {
                    app.snap_to_rig(None);
                }
                ui.menu_button("Rig view", |ui| {
                    for i in 0..16 {
                        if ui.button(format!("view {i} ({} deg)", i as f32 * 22.5)).clicked() {
                            app.snap_to_rig(Some(i));
                        }
                    }
                });
            });
            ui.separator();
            ui.label(&app.status);
            weights_status(app, ui);
        });
    });
}

/// In the status line: the generator's weights when they are not installed (or downloading), as a link
/// to the Weights window.
fn weights_status(app: &mut App, ui: &mut egui::Ui) {
    use crate::pipeline::weights::Installed;
    // Every folder searched when the app installs into the usual one (a file put by hand is found).
    let installed = app.weights_place().status(&crate::weights::SYNCDREAMER);
    let line = match (app.weights_window.progress(), installed) {
        (Some((id, Some(p))), _) => format!("{id}: {}", super::weights_window::progress_line(&p)),
        (Some((id, None)), _) => format!("{id}: starting"),
        (None, Installed::Yes { .. }) => return,
        (None, Installed::Partial { .. }) => "SyncDreamer-T weights: partly downloaded".into(),
        (None, Installed::No) => "SyncDreamer-T weights: not installed".into(),
    };
    ui.separator();
    if ui.link(line).on_hover_text("open the Weights window").clicked() {
        app.weights_window.open = true;
    }
}

/// One button per export; each asks where (a file, or a folder for PLY frames) and writes there.
fn export_buttons(app: &mut App, ui: &mut egui::Ui) {
    for kind in actions::ExportKind::ALL {
        if !ui.add_enabled(app.can_export(kind), egui::Button::new(kind.label())).clicked() {
            continue;
        }
        let picked = match kind.file_name() {
            Some(name) => rfd::FileDialog::new().set_file_name(name).save_file(),
            None => rfd::FileDialog::new().pick_folder(),
        };
        if let Some(path) = picked {
            app.export_to(kind, &path);
        }
    }
}

pub fn timeline_bar(app: &mut App, ui: &mut egui::Ui) {
    egui::Panel::bottom("timeline").show(ui, |ui| {
        ui.horizontal(|ui| {
            let t = &mut app.timeline;
            if ui.button(if t.playing { "Pause" } else { "Play" }).on_hover_text("play / pause (space)").clicked() {
                t.playing = !t.playing;
            }
            if ui.button("|<").on_hover_text("previous key frame (left arrow)").clicked() {
                t.step_key(false);
            }
            if ui.button(">|").on_hover_text("next key frame (right arrow)").clicked() {
                t.step_key(true);
            }
            ui.checkbox(&mut t.looping, "loop");
            ui.add(egui::Slider::new(&mut t.speed, 0.25..=4.0).logarithmic(true).text("speed"));
            let (a, b) = t.range;
            ui.spacing_mut().slider_width = (ui.available_width() - 90.0).max(100.0);
            ui.add(egui::Slider::new(&mut t.time, a..=b).text("t").fixed_decimals(3));
        });
    });
}

pub fn left_panel(app: &mut App, ui: &mut egui::Ui) {
    egui::Panel::left("pipeline").default_size(300.0).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Job");
            match &app.worker {
                Some(w) => {
                    ui.label(&w.description);
                    ui.horizontal(|ui| {
                        let paused = app.is_paused();
                        if ui.button(if paused { "Resume" } else { "Pause" }).clicked() {
                            app.toggle_pause();
                        }
                        if ui.button("Cancel").clicked() {
                            app.stop_job();
                        }
                    });
                }
                None => {
                    ui.label("no job running");
                }
            }
            if let Some((done, total)) = app.generation {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .text(format!("matrix: frame {done}/{total}")),
                );
            }
            if let Some(s) = app.train_stats {
                let eta = (s.iterations.saturating_sub(s.iteration)) as f64 / s.steps_per_second().max(1e-3);
                ui.add(
                    egui::ProgressBar::new(s.iteration as f32 / s.iterations.max(1) as f32)
                        .text(format!("step {}/{}  ETA {:.0} s", s.iteration, s.iterations, eta)),
                );
                ui.label(format!(
                    "loss {:.4}   PSNR {:.2} dB\nsplats {}   {:.2} it/s",
                    s.loss,
                    s.psnr,
                    s.splats,
                    s.steps_per_second()
                ));
                curve_plot(ui, app);
            }
            if !app.key_frames.is_empty() {
                ui.separator();
                ui.heading("Input (key frame)");
                // Key frame k of K sits at time k / (K − 1), whatever the matrix was interpolated to.
                let key_times = crate::generate::render_matrix::key_times(app.key_frames.len() as u32);
                if let Some(k) = app.nearest_key(&key_times) {
                    let k = k.min(app.key_frames.len() - 1);
                    ui.image((app.key_frames[k].id(), egui::vec2(128.0, 128.0)));
                }
            }
            if !app.matrix.is_empty() {
                ui.separator();
                // While stage 1 runs, the frame just generated; afterwards the key frame nearest to t.
                let (title, k) = match app.nearest_key(&app.matrix_times.clone()) {
                    Some(k) if k < app.matrix.len() => ("Image matrix (frame nearest to t)".to_string(), k),
                    _ => (format!("Image matrix (frame {} generated)", app.matrix.len()), app.matrix.len() - 1),
                };
                ui.heading(title);
                let has_confidence = app.has_confidence_maps();
                if has_confidence {
                    ui.checkbox(&mut app.show_confidence, "Confidence overlay (red: distrusted)");
                }
                let thumbs = app.matrix_thumbnails(k, has_confidence && app.show_confidence);
                ui.horizontal_wrapped(|ui| {
                    for t in thumbs {
                        ui.image((t.id(), egui::vec2(56.0, 56.0)));
                    }
                });
            }
        });
    });
}

/// Loss (and PSNR) over the steps, drawn with the painter.
fn curve_plot(ui: &mut egui::Ui, app: &App) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), 90.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    if app.curve.len() < 2 {
        return;
    }
    let last = app.curve.last().map(|p| p.iteration).unwrap_or(1).max(1) as f32;
    let series = |value: fn(&super::CurvePoint) -> f32, colour: egui::Color32| {
        let (lo, hi) = app.curve.iter().map(value).fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let span = (hi - lo).max(1e-6);
        let points: Vec<egui::Pos2> = app
            .curve
            .iter()
            .map(|p| {
                egui::pos2(
                    rect.left() + rect.width() * p.iteration as f32 / last,
                    rect.bottom() - rect.height() * (value(p) - lo) / span,
                )
            })
            .collect();
        painter.add(egui::Shape::line(points, egui::Stroke::new(1.5, colour)));
    };
    series(|p| p.loss, egui::Color32::from_rgb(230, 120, 60));
    series(|p| p.psnr, egui::Color32::from_rgb(90, 160, 240));
    painter.text(
        rect.left_top(),
        egui::Align2::LEFT_TOP,
        "loss",
        egui::FontId::proportional(11.0),
        egui::Color32::from_rgb(230, 120, 60),
    );
    painter.text(
        rect.right_top(),
        egui::Align2::RIGHT_TOP,
        "PSNR",
        egui::FontId::proportional(11.0),
        egui::Color32::from_rgb(90, 160, 240),
    );
}

pub fn right_panel(app: &mut App, ui: &mut egui::Ui) {
    egui::Panel::right("view").default_size(230.0).show(ui, |ui| {
        ui.heading("View");
        ui.horizontal(|ui| {
            ui.label("background");
            ui.color_edit_button_rgb(&mut app.background);
        });
        ui.add(egui::Slider::new(&mut app.splat_scale, 0.1..=2.0).text("splat scale"));
        ui.horizontal(|ui| {
            if ui.button("reset").clicked() {
                app.snap_to_rig(Some(0));
            }
            if ui.button("input view").clicked() {
                app.snap_to_rig(None);
            }
        });
        ui.horizontal(|ui| {
            ui.selectable_value(&mut app.fly, false, "orbit")
                .on_hover_text("drag: orbit; right drag: pan; wheel: zoom");
            ui.selectable_value(&mut app.fly, true, "fly")
                .on_hover_text("drag: look around; W/A/S/D: move; Q/E: down/up; wheel: speed");
            if app.fly {
                ui.label(format!("{:.2} units/s", app.fly_speed));
            }
        });
        // Figures only once an image exists (before, there is nothing to measure).
        let s = app.viewport.stats;
        if s.width > 0 {
            ui.label(format!(
                "{} x {}   {:.1} ms ({:.0} fps)\n{} splats",
                s.width,
                s.height,
                s.milliseconds,
                1000.0 / s.milliseconds.max(1e-3),
                s.splats
            ));
        }
        ui.separator();
        ui.heading("Export");
        ui.add(egui::DragValue::new(&mut app.export_frames).range(0..=1000).prefix("PLY frames: "))
            .on_hover_text("0: one per key frame");
        export_buttons(app, ui);
        edit_section(app, ui);
        stage1_section(app, ui);
        if let Some(m) = &app.model {
            ui.separator();
            let name = std::path::Path::new(&m.source).file_name().map(|n| n.to_string_lossy().into_owned());
            ui.label(format!(
                "model: {}\n{} splats, SH degree {}",
                name.unwrap_or_else(|| m.source.clone()),
                m.gaussians.len(),
                m.gaussians.sh_degree
            ))
            .on_hover_text(&m.source);
        }
    });
}

/// Stage 1's settings for the next video opened, as `run` takes them; a setting out of range is said
/// here in the words the pipeline refuses it with (`Stage1Config::validate`).
fn stage1_section(app: &mut App, ui: &mut egui::Ui) {
    use crate::generate::settings::GeneratorChoice;
    use crate::generate::syncdreamer::Precision;
    use crate::generate::syncdreamer::memory::ViewBatch;
    ui.separator();
    egui::CollapsingHeader::new("Stage 1 (next video)").default_open(false).show(ui, |ui| {
        let s = app.stage1_settings_mut();
        // Wide ranges on purpose: the check below, not the widget, says what is allowed.
        ui.add(egui::DragValue::new(&mut s.key_frames).range(0..=1000).prefix("key frames: "));
        egui::ComboBox::from_label("generator").selected_text(format!("{:?}", s.generator)).show_ui(ui, |ui| {
            for (choice, name) in [
                (GeneratorChoice::Auto, "auto"),
                (GeneratorChoice::Inflate, "inflate (preview)"),
                (GeneratorChoice::SyncDreamerT, "SyncDreamer-T"),
            ] {
                ui.selectable_value(&mut s.generator, choice, name);
            }
        });
        egui::ComboBox::from_label("precision").selected_text(format!("{:?}", s.precision)).show_ui(ui, |ui| {
            for (choice, name) in [(Precision::Auto, "auto"), (Precision::F16, "f16"), (Precision::F32, "f32")] {
                ui.selectable_value(&mut s.precision, choice, name);
            }
        });
        ui.horizontal(|ui| {
            let mut auto = s.view_batch == ViewBatch::Auto;
            if ui.checkbox(&mut auto, "views per batch: auto").changed() {
                s.view_batch = if auto { ViewBatch::Auto } else { ViewBatch::Fixed(16) };
            }
            if let ViewBatch::Fixed(n) = &mut s.view_batch {
                ui.add(egui::DragValue::new(n).range(0..=64));
            }
        });
        ui.add(egui::DragValue::new(&mut s.ddim_steps).range(0..=1000).prefix("DDIM steps: "));
        ui.add(egui::DragValue::new(&mut s.seed).prefix("seed: "));
        if let Err(why) = s.validate() {
            ui.colored_label(ui.visuals().error_fg_color, why);
        }
    });
}

/// Crop box, selection, delete, undo / redo. Edits act on whole 4D Gaussians (every time at once).
fn edit_section(app: &mut App, ui: &mut egui::Ui) {
    ui.separator();
    ui.heading("Edit");
    ui.add_enabled_ui(app.can_edit(), |ui| {
        let mut show_box = app.crop_box.is_some();
        if ui.checkbox(&mut show_box, "crop box").changed() {
            app.crop_box = show_box.then_some(([-0.5; 3], [0.5; 3]));
        }
        if let Some((min, max)) = &mut app.crop_box {
            for (axis, name) in ["x", "y", "z"].iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.label(*name);
                    ui.add(egui::DragValue::new(&mut min[axis]).speed(0.01).range(-5.0..=max[axis]));
                    ui.add(egui::DragValue::new(&mut max[axis]).speed(0.01).range(min[axis]..=5.0));
                });
            }
            if ui.button("Apply crop").on_hover_text("remove every splat outside the box, at every time").clicked() {
                app.crop();
            }
        }
        ui.label(format!("{} selected (shift-drag in the view)", app.selection.len()));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!app.selection.is_empty(), egui::Button::new("Delete"))
                .on_hover_text("Delete key")
                .clicked()
            {
                app.delete_selection();
            }
            if ui.add_enabled(app.history.can_undo(), egui::Button::new("Undo")).on_hover_text("Ctrl+Z").clicked() {
                app.undo();
            }
            if ui.add_enabled(app.history.can_redo(), egui::Button::new("Redo")).on_hover_text("Ctrl+Y").clicked() {
                app.redo();
            }
        });
    });
}

/// Maps render pixels of a `size` image shown in `rect` to screen points.
fn to_screen(rect: egui::Rect, size: (u32, u32), u: f64, v: f64) -> egui::Pos2 {
    egui::pos2(
        rect.left() + (u as f32) * rect.width() / size.0 as f32,
        rect.top() + (v as f32) * rect.height() / size.1 as f32,
    )
}

/// Draws the crop box's edges and the selected splats over the viewport.
fn overlays(app: &App, ui: &egui::Ui, rect: egui::Rect, camera: &crate::camera::Camera) {
    let size = (camera.intrinsics.width, camera.intrinsics.height);
    let painter = ui.painter_at(rect);
    if let Some((min, max)) = app.crop_box {
        let corner = |i: usize| {
            glam::DVec3::new(
                if i & 1 == 0 { min[0] } else { max[0] } as f64,
                if i & 2 == 0 { min[1] } else { max[1] } as f64,
                if i & 4 == 0 { min[2] } else { max[2] } as f64,
            )
        };
        let stroke = egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 170, 0));
        for a in 0..8usize {
            for bit in [1, 2, 4] {
                let b = a | bit;
                if b == a {
                    continue;
                }
                if let (Some(p), Some(q)) = (camera.project(corner(a)), camera.project(corner(b))) {
                    painter.line_segment([to_screen(rect, size, p.0, p.1), to_screen(rect, size, q.0, q.1)], stroke);
                }
            }
        }
    }
    if let Some(model) = &app.model {
        for &i in app.selection.iter().take(20_000) {
            if i >= model.gaussians.len() {
                continue;
            }
            let s = crate::gaussians::math::slice(&model.gaussians.get(i), app.timeline.time as f64);
            if let Some((u, v, _)) = camera.project(s.mean) {
                painter.circle_filled(to_screen(rect, size, u, v), 1.5, egui::Color32::from_rgb(255, 60, 200));
            }
        }
    }
}

/// Fly mode's keys: W/S forward and back, A/D left and right, E/Q up and down (world Z), scaled by
/// the frame time; while one is held the app keeps repainting.
fn fly_keys(camera: &mut crate::camera::orbit::OrbitCamera, speed: f64, ui: &egui::Ui) {
    if ui.ctx().egui_wants_keyboard_input() {
        return;
    }
    let (axes, dt) = ui.input(|i| {
        let axis = |plus: egui::Key, minus: egui::Key| i.key_down(plus) as i32 as f64 - i.key_down(minus) as i32 as f64;
        let axes =
            [axis(egui::Key::W, egui::Key::S), axis(egui::Key::D, egui::Key::A), axis(egui::Key::E, egui::Key::Q)];
        (axes, i.stable_dt.min(0.1) as f64)
    });
    if axes != [0.0; 3] {
        let step = speed * dt;
        camera.fly(axes[0] * step, axes[1] * step, axes[2] * step);
        ui.ctx().request_repaint();
    }
}

pub fn central(app: &mut App, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        if let Some(e) = app.error.clone() {
            ui.horizontal(|ui| {
                ui.colored_label(egui::Color32::from_rgb(220, 60, 60), format!("! {e}"));
                if ui.small_button("dismiss").clicked() {
                    app.error = None;
                }
            });
        }
        if let Some(run) = &app.unfinished {
            let line = run.describe();
            ui.horizontal(|ui| {
                ui.label(line);
                if ui.small_button("Resume").clicked() {
                    app.resume_unfinished();
                } else if ui.small_button("Dismiss").clicked() {
                    app.dismiss_unfinished();
                }
            });
        }
        if app.made_by_preview {
            // One line of truth about what the user is looking at, and what a full result needs.
            ui.horizontal(|ui| {
                ui.label("This matrix is the weights-free inflate preview (a 2.5D guess), not SyncDreamer-T. A full result needs its weights:");
                if ui.small_button("Get them").clicked() {
                    app.weights_window.open = true;
                }
                ui.label("and a GPU.");
            });
        }
        let size = ui.available_size();
        let (rect, response) = ui.allocate_exact_size(size, egui::Sense::click_and_drag());
        let Some(model) = &app.model else {
            let seconds = app.job_seconds();
            match app.preview.texture(ui.ctx(), seconds) {
                Some((texture, caption)) if app.worker.is_some() => {
                    show_stage_preview(app, ui, rect, &texture, &caption)
                }
                _ => {
                    ui.painter().text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        "drop a video, a frame folder, a dataset, a checkpoint or PLY frames here",
                        egui::FontId::proportional(18.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            return;
        };
        // Shift-drag selects; otherwise orbit with the primary button, pan with the others, wheel zooms.
        let delta = response.drag_delta();
        let shift = ui.input(|i| i.modifiers.shift);
        let selecting = shift && app.can_edit();
        if selecting && response.dragged_by(egui::PointerButton::Primary) {
            if let (Some(start), Some(now)) = (ui.input(|i| i.pointer.press_origin()), response.interact_pointer_pos())
            {
                let r = egui::Rect::from_two_pos(start, now);
                ui.painter().rect_stroke(
                    r,
                    0.0,
                    egui::Stroke::new(1.0, egui::Color32::from_rgb(255, 60, 200)),
                    egui::StrokeKind::Inside,
                );
            }
        } else if response.dragged_by(egui::PointerButton::Primary) {
            if app.fly {
                app.orbit.look(delta.x, delta.y);
            } else {
                app.orbit.orbit(delta.x, delta.y);
            }
        } else if response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            app.orbit.pan(delta.x, delta.y, rect.height());
        }
        if response.double_clicked() {
            app.orbit.target = glam::DVec3::ZERO;
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 && app.fly {
                app.fly_speed = (app.fly_speed * (scroll as f64 * 0.002).exp()).clamp(0.01, 20.0);
            } else if scroll != 0.0 {
                app.orbit.zoom(scroll);
            }
        }
        if app.fly {
            fly_keys(&mut app.orbit, app.fly_speed, ui);
        }
        let ppp = ui.ctx().pixels_per_point();
        let pixels = ((rect.width() * ppp) as u32, (rect.height() * ppp) as u32);
        // The camera of the image as the viewport renders it (its size may be reduced on CPU drivers).
        let shared = app.job_is_running();
        let shown = app.viewport.render_size(pixels, shared);
        let camera = app.orbit.camera(shown.0, shown.1);
        if selecting
            && response.drag_stopped_by(egui::PointerButton::Primary)
            && let (Some(start), Some(end)) = (ui.input(|i| i.pointer.press_origin()), response.interact_pointer_pos())
        {
            let to_pixels = |p: egui::Pos2| {
                (
                    (p.x - rect.left()) * shown.0 as f32 / rect.width(),
                    (p.y - rect.top()) * shown.1 as f32 / rect.height(),
                )
            };
            let (a, b) = (to_pixels(start), to_pixels(end));
            let area = [a.0.min(b.0), a.1.min(b.1), a.0.max(b.0), a.1.max(b.1)];
            app.selection = super::edit::select_in_rect(&model.gaussians, &camera, app.timeline.time, area, 0.05);
        }
        let request = ViewRequest {
            model_version: app.model_version,
            splat_scale: app.splat_scale,
            camera: app.orbit.clone(),
            time: app.timeline.time,
            size: pixels,
            background: app.background,
            shared,
        };
        let result = app.viewport.update(ui.ctx(), model, &request);
        match result {
            Ok(Some(texture)) => {
                ui.painter().image(
                    texture,
                    rect,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
            }
            Ok(None) => {}
            Err(e) => app.error = Some(format!("rendering failed: {e:#}")),
        }
        overlays(app, ui, rect, &camera);
    });
}

/// Before the first model: the stage-1 preview (clip, generated views, matrix), square and centred
/// on the viewport's background, captioned.
fn show_stage_preview(app: &App, ui: &egui::Ui, rect: egui::Rect, texture: &egui::TextureHandle, caption: &str) {
    let [r, g, b] = app.background.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
    ui.painter().rect_filled(rect, 0.0, egui::Color32::from_rgb(r, g, b));
    let side = rect.width().min(rect.height() - 24.0).max(16.0);
    let square = egui::Rect::from_center_size(rect.center() - egui::vec2(0.0, 12.0), egui::vec2(side, side));
    let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
    ui.painter().image(texture.id(), square, uv, egui::Color32::WHITE);
    ui.painter().text(
        rect.center_bottom() - egui::vec2(0.0, 4.0),
        egui::Align2::CENTER_BOTTOM,
        caption,
        egui::FontId::proportional(14.0),
        ui.visuals().weak_text_color(),
    );
}
