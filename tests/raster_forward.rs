//! The WGSL rasterizer's forward pass against the f64 CPU reference.

mod common;
use common::*;
use efficient4d::gaussians::Gaussians4d;
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::{Counting, RasterView};

fn check(name: &str, gs: &Gaussians4d, views: &[efficient4d::render::RasterView]) {
    let r = rasterizer();
    let params = r.upload(gs).unwrap();
    let out = r.forward(&params, views, true).unwrap();
    let img = r.read_color(&out).unwrap();
    let (w, h) = (views[0].camera.intrinsics.width as usize, views[0].camera.intrinsics.height as usize);
    let mut covered = 0usize;
    for (i, v) in views.iter().enumerate() {
        let reference = reference(gs, v);
        covered += reference.alpha.iter().filter(|&&a| a > 0.3).count();
        let d = diff(&img[i * w * h * 4..(i + 1) * w * h * 4], &reference);
        eprintln!("{name} view {i}: max {:.2e} mean {:.2e} over1e-3 {:.4}", d.max, d.mean, d.frac_over_1e3);
        // Splats right at the 1/255 cut-off or the saturation stop may flip between f32 and f64.
        assert!(d.passes(), "{name} view {i}: max {} mean {} frac {}", d.max, d.mean, d.frac_over_1e3);
    }
    assert!(covered * 10 > w * h, "{name}: the scene covers too little of the images to test anything");
}

#[test]
fn random_scenes_match_the_reference_at_odd_sizes() {
    let gs = RandomScene { count: 1500, seed: 7, ..Default::default() }.build();
    // 45x37: neither side a multiple of 16, so edge tiles are partial.
    let views: Vec<_> = [(0, 0.1), (3, 0.5), (9, 0.93)].iter().map(|&(v, t)| rig_view(v, t, 45, 37)).collect();
    check("random", &gs, &views);
}

#[test]
fn view_dependent_colour_matches() {
    let gs = RandomScene { count: 600, seed: 8, sh_degree: 3, ..Default::default() }.build();
    let views: Vec<_> = [(1, 0.3), (12, 0.7)].iter().map(|&(v, t)| rig_view(v, t, 64, 48)).collect();
    check("sh3", &gs, &views);
}

#[test]
fn tiny_huge_overlapping_and_out_of_time_splats_match() {
    let mut gs =
        RandomScene { count: 1200, seed: 9, radius: 0.08, log_scale: (-3.5, -2.0), ..Default::default() }.build();
    // Tiny splats (well under a pixel) and huge ones (covering the whole image).
    for i in 0..20 {
        gs.log_scales[i * 4] = -8.0;
        gs.log_scales[i * 4 + 1] = -8.0;
        gs.log_scales[i * 4 + 2] = -8.0;
    }
    for i in 20..24 {
        gs.log_scales[i * 4] = 0.3;
        gs.log_scales[i * 4 + 1] = 0.2;
        gs.log_scales[i * 4 + 2] = 0.4;
        gs.opacity[i] = -3.0;
    }
    let views: Vec<_> = [(2, 0.5), (5, -0.4), (7, 2.5)].iter().map(|&(v, t)| rig_view(v, t, 50, 50)).collect();
    check("tiny/huge/overlap/time", &gs, &views);
}

#[test]
fn splats_behind_and_around_the_camera_match() {
    let view = rig_view(0, 0.5, 40, 33);
    let cam = view.camera.position().as_vec3();
    let mut gs = RandomScene { count: 400, seed: 10, radius: 0.6, ..Default::default() }.build();
    // Move a third of the splats around the camera centre: some behind, some at the near plane.
    for i in 0..gs.len() / 3 {
        for k in 0..3 {
            gs.means[i * 4 + k] = cam[k] + (gs.means[i * 4 + k] * 0.6);
        }
    }
    check("behind camera", &gs, &[view]);
}

#[test]
fn zero_gaussians_render_the_background() {
    let r = rasterizer();
    let gs = Gaussians4d::default();
    let params = r.upload(&gs).unwrap();
    let out = r.forward(&params, &[rig_view(0, 0.0, 20, 18)], false).unwrap();
    let img = r.read_color(&out).unwrap();
    assert_eq!(img.len(), 20 * 18 * 4);
    for px in img.chunks_exact(4) {
        assert_eq!(px, &[BG[0], BG[1], BG[2], 0.0]);
    }
}

/// Copies of visible Gaussians, each with one non-finite value that must make it invisible.
pub fn poisoned_copies(clean: &Gaussians4d) -> Gaussians4d {
    let mut dirty = clean.clone();
    let k3 = clean.sh_stride();
    // (group, component, value): values that cannot describe a real splat. (−∞ log-scale, +∞ logit
    // and −∞ colour are a flat disc, an opaque splat and black: finite renders, so not here.)
    let cases: [(usize, usize, f32); 14] = [
        (0, 0, f32::NAN),
        (0, 1, f32::INFINITY),
        (0, 2, f32::NEG_INFINITY),
        (0, 3, f32::NAN),
        (0, 3, f32::INFINITY),
        (1, 0, f32::NAN),
        (1, 3, f32::INFINITY),
        (2, 1, f32::NAN),
        (2, 2, f32::INFINITY),
        (3, 0, f32::NEG_INFINITY),
        (3, 3, f32::NAN),
        (4, 0, f32::NAN),
        (5, 0, f32::NAN),
        (5, 2, f32::INFINITY),
    ];
    for (j, &(group, comp, bad)) in cases.iter().enumerate() {
        let src = j % clean.len();
        let copy = |v: &mut Vec<f32>, width: usize, g: usize| {
            let mut vals = v[src * width..(src + 1) * width].to_vec();
            if g == group {
                vals[comp] = bad;
            }
            v.extend(vals);
        };
        copy(&mut dirty.means, 4, 0);
        copy(&mut dirty.log_scales, 4, 1);
        copy(&mut dirty.rot_left, 4, 2);
        copy(&mut dirty.rot_right, 4, 3);
        copy(&mut dirty.opacity, 1, 4);
        copy(&mut dirty.sh, k3, 5);
    }
    dirty
}

#[test]
fn non_finite_parameters_do_not_poison_other_pixels() {
    let clean = RandomScene { count: 300, seed: 12, ..Default::default() }.build();
    let dirty = poisoned_copies(&clean);
    let views = [rig_view(0, 0.4, 48, 40), rig_view(6, 0.8, 48, 40)];
    let r = rasterizer();
    let a = r.read_color(&r.forward(&r.upload(&clean).unwrap(), &views, false).unwrap()).unwrap();
    let b = r.read_color(&r.forward(&r.upload(&dirty).unwrap(), &views, false).unwrap()).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "a poisoned splat changed the image");
}

#[test]
fn the_same_input_gives_bit_identical_output() {
    let gs = RandomScene { count: 2000, seed: 13, ..Default::default() }.build();
    let views: Vec<_> = (0..4).map(|v| rig_view(v * 4, 0.25 * v as f32, 37, 29)).collect();
    let r = rasterizer();
    let p = r.upload(&gs).unwrap();
    let a = r.read_color(&r.forward(&p, &views, true).unwrap()).unwrap();
    let b = r.read_color(&r.forward(&p, &views, true).unwrap()).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn chunked_batches_match_one_batch() {
    let gs = RandomScene { count: 700, seed: 14, ..Default::default() }.build();
    let views: Vec<_> = (0..5).map(|v| rig_view(v * 3, 0.2 * v as f32, 33, 31)).collect();
    let mut r = rasterizer();
    let p = r.upload(&gs).unwrap();
    let whole = r.read_color(&r.forward(&p, &views, false).unwrap()).unwrap();
    let saved = r.max_chunk_pairs;
    r.max_chunk_pairs = 2 * 700; // two views per chunk
    let chunked = r.forward(&p, &views, false);
    r.max_chunk_pairs = saved;
    let chunked = r.read_color(&chunked.unwrap()).unwrap();
    assert!(whole.iter().zip(&chunked).all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// Renders `views` both ways; the GPU-counted pass must give the same bits, map nothing, and
/// have counted what the read-back pass read.
fn same_with_counts_on_gpu(r: &efficient4d::render::Rasterizer, gs: &Gaussians4d, views: &[RasterView]) {
    let p = r.upload(gs).unwrap();
    let read_back = r.forward(&p, views, true).unwrap();
    let before = r.readback_bytes();
    let on_gpu = r.forward_with(&p, views, true, None, Counting::OnGpu).unwrap();
    gpu().device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None }).unwrap();
    assert_eq!(r.readback_bytes(), before, "a GPU-counted forward pass mapped a buffer");
    assert_eq!(on_gpu.visible_splats, None, "counts kept on the GPU cannot be reported");
    let counts = r.read_counts(&on_gpu).unwrap();
    let visible: u64 = counts.iter().map(|c| c.visible as u64).sum();
    let pairs: u64 = counts.iter().map(|c| c.pairs as u64).sum();
    assert_eq!((Some(visible), Some(pairs)), (read_back.visible_splats, read_back.tile_pairs));
    assert!(counts.iter().all(|c| c.pairs <= c.pair_capacity), "{counts:?}");
    let a = r.read_color(&read_back).unwrap();
    let b = r.read_color(&on_gpu).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "colour differs");
    let a = r.read_depth(&read_back).unwrap();
    let b = r.read_depth(&on_gpu).unwrap();
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "depth differs");
    // Its pair buffers are the next GPU-counted pass's: no gradients from it.
    let d_color = r.upload_pixel_grads(&vec![0.0; a.len() * 4]);
    assert!(r.backward(&p, &on_gpu, &d_color).is_err());
}

#[test]
fn counts_kept_on_the_gpu_give_the_read_back_image_and_map_nothing() {
    let mut r = rasterizer();
    let small = RandomScene { count: 1500, seed: 21, ..Default::default() }.build();
    let views: Vec<_> = [(0, 0.1), (3, 0.5), (9, 0.93)].iter().map(|&(v, t)| rig_view(v, t, 45, 37)).collect();
    same_with_counts_on_gpu(&r, &small, &views);
    // Over 2^17 pairs: the sorts' histogram scans take more than one level.
    let big = RandomScene { count: 20_000, seed: 22, ..Default::default() }.build();
    let views: Vec<_> = [(1, 0.2), (6, 0.6)].iter().map(|&(v, t)| rig_view(v, t, 256, 256)).collect();
    let pairs = r.forward(&r.upload(&big).unwrap(), &views, false).unwrap().tile_pairs.unwrap();
    assert!(pairs > 1 << 17, "only {pairs} pairs");
    same_with_counts_on_gpu(&r, &big, &views);
    // Nothing visible: every splat is far out of its time.
    let views: Vec<_> = [(2, 40.0), (5, -40.0)].iter().map(|&(v, t)| rig_view(v, t, 40, 40)).collect();
    same_with_counts_on_gpu(&r, &small, &views);
    same_with_counts_on_gpu(&r, &Gaussians4d::default(), &views);
    // Several chunks, each with its own counts.
    let saved = r.max_chunk_pairs;
    r.max_chunk_pairs = 2 * 1500;
    let views: Vec<_> = (0..5).map(|v| rig_view(v * 3, 0.2 * v as f32, 33, 31)).collect();
    same_with_counts_on_gpu(&r, &small, &views);
    r.max_chunk_pairs = saved;
}

#[test]
fn an_exhausted_pair_budget_drops_splats_and_nothing_else() {
    let mut r = rasterizer();
    let gs = RandomScene { count: 3000, seed: 23, ..Default::default() }.build();
    let views = [rig_view(4, 0.4, 64, 64)];
    let p = r.upload(&gs).unwrap();
    let full_out = r.forward(&p, &views, false).unwrap();
    let needed = full_out.tile_pairs.unwrap();
    let full = r.read_color(&full_out).unwrap();
    let saved = r.pair_budget;
    r.pair_budget = needed / 2;
    let cut = r.forward_with(&p, &views, false, None, Counting::OnGpu);
    r.pair_budget = saved;
    let cut = cut.unwrap();
    let counts = r.read_counts(&cut).unwrap();
    assert_eq!(counts[0].pair_capacity as u64, needed / 2);
    assert_eq!(counts[0].pairs as u64, needed, "the projection still counts every pair");
    let img = r.read_color(&cut).unwrap();
    assert!(img.iter().all(|v| v.is_finite()));
    // Fewer splats over a pixel can only let more background through.
    let alpha = |c: &[f32]| c.chunks_exact(4).map(|p| p[3]).collect::<Vec<_>>();
    let (a_full, a_cut) = (alpha(&full), alpha(&img));
    assert!(a_full.iter().zip(&a_cut).all(|(f, c)| *c <= f + 1e-5), "a dropped pair added coverage");
    let changed = a_full.iter().zip(&a_cut).filter(|(f, c)| (*f - *c).abs() > 1e-3).count();
    assert!(changed > 0, "half the pairs dropped and no pixel changed");
}
