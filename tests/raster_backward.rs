//! The WGSL backward pass against the CPU reference's exact backward (which is itself checked
//! against finite differences in tests/reference_gradients.rs), in every shader variant the device
//! can run: subgroup reduction or not, native f32 atomics or the compare-and-swap fallback.

mod common;
use common::*;
use efficient4d::gaussians::Gaussians4d;
use efficient4d::gaussians::math::{GaussianGrad, ViewParams};
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::reference::render_backward;
use efficient4d::render::shaders::ShaderFeatures;
use efficient4d::render::{RasterView, Rasterizer};

/// dL/d(r, g, b, alpha) of a fixed pseudo-random linear loss, per pixel of every view.
fn pixel_grads(views: usize, pixels: usize) -> Vec<f32> {
    (0..views * pixels * 4).map(|i| (((i * 7919) % 101) as f32 / 101.0 - 0.45) * 0.8).collect()
}

fn reference_grads(gs: &Gaussians4d, views: &[RasterView], d: &[f32]) -> Vec<GaussianGrad> {
    let mut total: Vec<GaussianGrad> = (0..gs.len()).map(|i| gs.get(i).zero_like()).collect();
    for (vi, v) in views.iter().enumerate() {
        let px = (v.camera.intrinsics.width * v.camera.intrinsics.height) as usize;
        let slice = &d[vi * px * 4..(vi + 1) * px * 4];
        let d_rgb: Vec<[f64; 3]> = slice.chunks_exact(4).map(|c| [c[0] as f64, c[1] as f64, c[2] as f64]).collect();
        let d_a: Vec<f64> = slice.chunks_exact(4).map(|c| c[3] as f64).collect();
        let g = render_backward(gs, &ViewParams::new(&v.camera, v.time as f64), BG.map(|c| c as f64), &d_rgb, &d_a);
        for (t, gi) in total.iter_mut().zip(&g) {
            t.add_assign(gi);
        }
    }
    total
}

fn groups(g: &Gaussians4d) -> [(&'static str, &[f32]); 6] {
    [
        ("means", &g.means),
        ("log_scales", &g.log_scales),
        ("rot_left", &g.rot_left),
        ("rot_right", &g.rot_right),
        ("opacity", &g.opacity),
        ("sh", &g.sh),
    ]
}

fn reference_groups(r: &[GaussianGrad]) -> [Vec<f64>; 6] {
    [
        r.iter().flat_map(|g| g.mean).collect(),
        r.iter().flat_map(|g| g.log_scale).collect(),
        r.iter().flat_map(|g| g.rot_left).collect(),
        r.iter().flat_map(|g| g.rot_right).collect(),
        r.iter().map(|g| g.opacity_logit).collect(),
        r.iter().flat_map(|g| g.sh.clone()).collect(),
    ]
}

fn check(rast: &Rasterizer, name: &str, gs: &Gaussians4d, views: &[RasterView]) {
    let px = (views[0].camera.intrinsics.width * views[0].camera.intrinsics.height) as usize;
    let d = pixel_grads(views.len(), px);
    let params = rast.upload(gs).unwrap();
    let out = rast.forward(&params, views, false).unwrap();
    let grads = rast.backward(&params, &out, &rast.upload_pixel_grads(&d)).unwrap();
    let gpu = rast.download(&grads.0).unwrap();
    let want = reference_grads(gs, views, &d);
    for ((group, got), want) in groups(&gpu).into_iter().zip(reference_groups(&want)) {
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name}/{group}: all-zero reference gradient");
        let mut worst = (0.0f64, 0usize);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let err = (*g as f64 - w).abs() / (1e-4 * scale + 1e-3 * w.abs());
            if err > worst.0 || err.is_nan() {
                worst = (err, i);
            }
        }
        let i = worst.1;
        eprintln!(
            "{name}/{group}: worst relative error {:.3} at {i} (gpu {:.6e}, reference {:.6e}, scale {scale:.3e})",
            worst.0, got[i], want[i]
        );
        assert!(worst.0 <= 1.0, "{name}/{group}[{i}]: gpu {} vs reference {}", got[i], want[i]);
    }
}

fn variants() -> Vec<ShaderFeatures> {
    let caps = gpu().caps;
    let mut v = vec![ShaderFeatures { subgroups: false, float_atomics: false }];
    if caps.subgroups {
        v.push(ShaderFeatures { subgroups: true, float_atomics: false });
    }
    if caps.float_atomics {
        v.push(ShaderFeatures { subgroups: false, float_atomics: true });
    }
    if caps.subgroups && caps.float_atomics {
        v.push(ShaderFeatures { subgroups: true, float_atomics: true });
    }
    v
}

#[test]
fn gradients_match_the_reference_in_every_shader_variant() {
    let gs = RandomScene {
        count: 250,
        seed: 21,
        radius: 0.35,
        log_scale: (-3.2, -2.2),
        opacity_logit: (-1.0, 1.5),
        ..Default::default()
    }
    .build();
    let views: Vec<_> = [(0, 0.2), (5, 0.55), (11, 0.9)].iter().map(|&(v, t)| rig_view(v, t, 37, 29)).collect();
    for f in variants() {
        let rast = Rasterizer::with_features(gpu(), f).unwrap();
        check(&rast, &format!("{f:?}"), &gs, &views);
    }
}

#[test]
fn view_dependent_colour_gradients_match() {
    let gs =
        RandomScene { count: 120, seed: 22, radius: 0.3, log_scale: (-3.0, -2.2), sh_degree: 3, ..Default::default() }
            .build();
    let views: Vec<_> = [(2, 0.4), (8, 0.6)].iter().map(|&(v, t)| rig_view(v, t, 33, 35)).collect();
    check(&rasterizer(), "sh3", &gs, &views);
}

#[test]
fn saturated_pixels_and_chunked_batches_match() {
    // Dense and opaque: most pixels stop early at the transmittance floor, many alphas hit the cap.
    let gs = RandomScene {
        count: 900,
        seed: 23,
        radius: 0.2,
        log_scale: (-2.8, -2.0),
        opacity_logit: (1.0, 6.0),
        ..Default::default()
    }
    .build();
    let views: Vec<_> = (0..3).map(|v| rig_view(v * 5, 0.3 * v as f32, 30, 26)).collect();
    let mut rast = rasterizer();
    rast.max_chunk_pairs = 900; // one view per chunk
    check(&rast, "saturated/chunked", &gs, &views);
    rast.max_chunk_pairs = 1 << 22;
}

#[test]
fn poisoned_splats_get_no_gradient_and_change_no_other() {
    let clean = RandomScene { count: 150, seed: 24, ..Default::default() }.build();
    let mut dirty = clean.clone();
    for g in [&mut dirty.means, &mut dirty.log_scales, &mut dirty.rot_left, &mut dirty.rot_right] {
        let first: Vec<f32> = g[..4].to_vec();
        g.extend(first);
    }
    dirty.means[150 * 4] = f32::NAN;
    dirty.opacity.push(dirty.opacity[0]);
    let sh0: Vec<f32> = dirty.sh[..3].to_vec();
    dirty.sh.extend(sh0);
    let views = [rig_view(3, 0.5, 32, 32)];
    let rast = rasterizer();
    let d = rast.upload_pixel_grads(&pixel_grads(1, 32 * 32));
    let run = |gs: &Gaussians4d| {
        let p = rast.upload(gs).unwrap();
        let out = rast.forward(&p, &views, false).unwrap();
        rast.download(&rast.backward(&p, &out, &d).unwrap().0).unwrap()
    };
    let (a, b) = (run(&clean), run(&dirty));
    for ((name, ga), (_, gb)) in groups(&a).into_iter().zip(groups(&b)) {
        let per = ga.len() / 150;
        // Atomic sums may add in another order, so compare against the group's scale.
        let scale = ga.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            gb[..ga.len()].iter().zip(ga).all(|(x, y)| (x - y).abs() <= 1e-4 * scale),
            "{name}: clean gradients changed"
        );
        assert!(gb[ga.len()..ga.len() + per].iter().all(|v| *v == 0.0), "{name}: the poisoned splat got a gradient");
    }
}

#[test]
fn profiling_times_every_stage_of_a_forward_and_backward() {
    let rast = Rasterizer::new(gpu()).unwrap().with_profiling().expect("lavapipe and GPUs have timestamps");
    let gs = RandomScene { count: 500, seed: 5, ..Default::default() }.build();
    let views: Vec<_> = (0..2).map(|i| rig_view(i * 5, 0.4, 48, 40)).collect();
    let params = rast.upload(&gs).unwrap();
    let out = rast.forward(&params, &views, false).unwrap();
    let grads = vec![1e-3f32; 2 * 48 * 40 * 4];
    rast.backward(&params, &out, &rast.upload_pixel_grads(&grads)).unwrap();
    let stages = rast.stage_times().unwrap();
    for name in ["Project::main", "Rasterize::main", "RasterizeBackward::main", "ProjectBackward::main"] {
        let s = stages.iter().find(|s| s.stage == name).unwrap_or_else(|| panic!("{name} in {stages:?}"));
        assert!(s.passes >= 1 && s.ms >= 0.0 && s.ms.is_finite(), "{s:?}");
    }
    assert!(stages.iter().map(|s| s.ms).sum::<f64>() > 0.0, "the passes took time");
    assert!(rast.stage_times().unwrap().is_empty(), "a report starts over");
}
