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
    let batch = SplatBatch { rasterizer: rast.clone(), views: Arc::new(views.clone()), sh_degree: 0 };
    let image = render_splats(&params, &batch);
    assert_eq!(image.dims(), [2, 36, 40, 4]);

    // A linear loss whose gradient per pixel is `weights`.
    let weights: Vec<f32> = (0..2 * 36 * 40 * 4).map(|i| ((i * 37 % 23) as f32 / 23.0 - 0.5) * 0.5).collect();
    let w = Tensor::<4>::from_data(TensorData::new(weights.clone(), [2, 36, 40, 4]), &device);
    let loss = (image.clone() * w).sum();
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
}
