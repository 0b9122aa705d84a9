//! The rasterizer as a burn autodiff op: same images as the rasterizer itself, and `backward()`
//! delivers the rasterizer's gradients to every parameter tensor.

mod common;
use burn::tensor::{Tensor, TensorData};
use common::*;
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::Rasterizer;
use efficient4d::render::burn_op::{SplatBatch, SplatParams, render_splats};
use std::sync::Arc;

#[test]
fn the_burn_op_renders_and_differentiates_like_the_rasterizer() {
    let gs = RandomScene { count: 300, seed: 31, ..Default::default() }.build();
    let views: Vec<_> = [(0, 0.3), (7, 0.6)].iter().map(|&(v, t)| rig_view(v, t, 40, 36)).collect();
    let gpu = gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let device = gpu.burn_device().unwrap().autodiff();
    let n = gs.len();
    let t2 =
        |v: &[f32], cols: usize| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, cols]), &device).require_grad();
    let params = SplatParams {
        means: t2(&gs.means, 4),
        log_scales: t2(&gs.log_scales, 4),
        rot_left: t2(&gs.rot_left, 4),
        rot_right: t2(&gs.rot_right, 4),
        opacity: t2(&gs.opacity, 1),
        sh: t2(&gs.sh, gs.sh_stride()),
    };
    let batch = SplatBatch::new(rast.clone(), Arc::new(views.clone()), 0);
    let image = render_splats(&params, &batch);
    assert_eq!(image.dims(), [2, 36, 40, 4]);

    // A linear loss whose gradient per pixel is `weights`.
    let weights: Vec<f32> = (0..2 * 36 * 40 * 4).map(|i| ((i * 37 % 23) as f32 / 23.0 - 0.5) * 0.5).collect();
    let w = Tensor::<4>::from_data(TensorData::new(weights.clone(), [2, 36, 40, 4]), &device);
    let loss = (image.clone() * w).sum();
    let _: f32 = loss.clone().inner().into_scalar();
    assert!(batch.holds_forward_state(), "the forward keeps its tile lists for the backward");
    let grads = loss.backward();

    // The same through the rasterizer directly.
    let p = rast.upload(&gs).unwrap();
    let out = rast.forward(&p, &views, false).unwrap();
    let direct_image = rast.read_color(&out).unwrap();
    let via_burn: Vec<f32> = image.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(via_burn.len(), direct_image.len());
    assert!(via_burn.iter().zip(&direct_image).all(|(a, b)| a.to_bits() == b.to_bits()), "images differ");
    let direct = rast.download(&rast.backward(&p, &out, &rast.upload_pixel_grads(&weights)).unwrap().0).unwrap();

    let check = |name: &str, got: Vec<f32>, want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name}: zero gradient");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * scale, "{name}[{i}]: burn {g} vs rasterizer {w}");
        }
    };
    let g2 = |t: &Tensor<2>| -> Vec<f32> { t.grad(&grads).expect("gradient").into_data().try_to_vec::<f32>().unwrap() };
    check("means", g2(&params.means), &direct.means);
    check("log_scales", g2(&params.log_scales), &direct.log_scales);
    check("rot_left", g2(&params.rot_left), &direct.rot_left);
    check("rot_right", g2(&params.rot_right), &direct.rot_right);
    check("opacity", g2(&params.opacity), &direct.opacity);
    check("sh", g2(&params.sh), &direct.sh);
    assert!(!batch.holds_forward_state(), "the backward used the kept forward state, not a re-render");
}

#[test]
fn the_fused_loss_matches_the_burn_reference_loss_and_its_gradient() {
    use efficient4d::render::burn_op::{LossSpec, fused_loss};
    use efficient4d::train::loss::{LossWeights, photometric_loss};
    let gpu = gpu();
    let device = gpu.burn_device().unwrap().autodiff();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    // Sizes that are not multiples of the blur's 32-pixel segments, with several segments per line.
    let (b, h, w) = (2, 45, 70);
    let n = b * h * w;
    let noise = |i: usize, k: usize| ((i * 7919 + k * 104729) % 1000) as f32 / 1000.0;
    let rendered: Vec<f32> = (0..n * 4).map(|i| noise(i, 1)).collect();
    let target: Vec<f32> = (0..n * 4).map(|i| noise(i, 2) * 0.5 + rendered[i] * 0.5).collect();
    let conf: Vec<f32> = (0..n).map(|i| if i % 5 == 0 { 0.2 } else { 1.0 }).collect();
    let weights = LossWeights { ssim: 0.2, mask: 0.3, ..Default::default() };
    let t4 = |v: &[f32], c: usize| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [b, h, w, c]), &device);

    let x = t4(&rendered, 4).require_grad();
    let reference = photometric_loss(x.clone(), t4(&target, 4), t4(&conf, 1), weights);
    let g_ref = reference.total.clone().backward();
    let want_grad: Vec<f32> = x.grad(&g_ref).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let want: Vec<f32> = [reference.total, reference.l1, reference.ssim, reference.mask]
        .map(|t| t.inner().into_scalar::<f32>())
        .to_vec();

    let y = t4(&rendered, 4).require_grad();
    let spec = LossSpec { rasterizer: rast, ssim_weight: weights.ssim, mask_weight: weights.mask };
    let (total, parts) = fused_loss(y.clone(), t4(&target, 4), t4(&conf, 1), &spec);
    let g = (total * 3.0).sum().backward();
    let got_grad: Vec<f32> = y.grad(&g).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let got: Vec<f32> = parts.inner().into_data().try_to_vec::<f32>().unwrap();
    for k in 0..4 {
        assert!(
            (got[k] - want[k]).abs() < 1e-5 * (1.0 + want[k].abs()),
            "part {k}: fused {} vs burn {}",
            got[k],
            want[k]
        );
    }
    let scale = want_grad.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (a, r)) in got_grad.iter().zip(&want_grad).enumerate() {
        assert!((a - 3.0 * r).abs() <= 1e-3 * 3.0 * scale, "grad[{i}]: fused {a} vs 3 × burn {r}");
    }
}

#[test]
fn the_finiteness_check_finds_nan_and_inf() {
    use efficient4d::train::all_finite;
    let device = gpu().burn_device().unwrap();
    let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 2]), &device);
    assert!(all_finite(&[t(vec![1.0, -2.0, 0.0, 3.5]), t(vec![0.0; 4])]));
    assert!(!all_finite(&[t(vec![1.0, 2.0, 3.0, 4.0]), t(vec![0.0, f32::NAN, 0.0, 0.0])]));
    assert!(!all_finite(&[t(vec![f32::NEG_INFINITY, 2.0, 3.0, 4.0])]));
}
