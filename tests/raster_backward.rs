//! The WGSL backward pass against the CPU reference's exact backward (which is itself checked
//! against finite differences in tests/reference_gradients.rs), in every shader variant the device
//! can run: subgroup reduction or not, native f32 atomics or the compare-and-swap fallback.

mod common;
use common::*;
use efficient4d::gaussians::Gaussians4d;
use efficient4d::gaussians::random::RandomScene;
use efficient4d::gpu_check::{backward_scene, shader_variants};
use efficient4d::render::compare::{gradient_groups, group_errors, reference_gradients, test_pixel_grads};
use efficient4d::render::{RasterView, Rasterizer};

fn check(rast: &Rasterizer, name: &str, gs: &Gaussians4d, views: &[RasterView]) {
    let px = (views[0].camera.intrinsics.width * views[0].camera.intrinsics.height) as usize;
    let d = test_pixel_grads(views.len(), px);
    let params = rast.upload(gs).unwrap();
    let out = rast.forward(&params, views, false).unwrap();
    let grads = rast.backward(&params, &out, &rast.upload_pixel_grads(&d)).unwrap();
    let gpu = rast.download(&grads.0).unwrap();
    for e in group_errors(&gpu, &reference_gradients(gs, views, &d)) {
        eprintln!(
            "{name}/{}: worst relative error {:.3} at {} (gpu {:.6e}, reference {:.6e})",
            e.group, e.worst, e.index, e.got, e.want
        );
        assert!(e.worst <= 1.0, "{name}/{}[{}]: gpu {} vs reference {}", e.group, e.index, e.got, e.want);
    }
}

#[test]
fn gradients_match_the_reference_in_every_shader_variant() {
    // The scene `gpu --check` uses.
    let (gs, views) = backward_scene();
    for f in shader_variants(&gpu()) {
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
    let d = rast.upload_pixel_grads(&test_pixel_grads(1, 32 * 32));
    let run = |gs: &Gaussians4d| {
        let p = rast.upload(gs).unwrap();
        let out = rast.forward(&p, &views, false).unwrap();
        rast.download(&rast.backward(&p, &out, &d).unwrap().0).unwrap()
    };
    let (a, b) = (run(&clean), run(&dirty));
    let pairs = gradient_groups(&a).zip(gradient_groups(&b)).into_array();
    for ((ga, gb), name) in pairs.into_iter().zip(efficient4d::gaussians::ParamGroups::<()>::NAMES) {
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
