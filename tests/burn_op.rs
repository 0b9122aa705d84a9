//! The rasterizer as a burn autodiff op: same images as the rasterizer itself, and `backward()`
//! delivers the rasterizer's gradients to every parameter tensor.

mod common;
use burn::tensor::{Tensor, TensorData};
use common::*;
use efficient4d::gpu_check::{burn_op_check, fused_loss_check};
use efficient4d::render::Rasterizer;
use std::sync::Arc;

// The checks themselves live in `gpu_check` (users run them with `efficient4d gpu --check`).

#[test]
fn the_burn_op_renders_and_differentiates_like_the_rasterizer() {
    let gpu = gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let check = burn_op_check(&gpu, &rast).unwrap();
    eprintln!("{check:?}");
    assert!(check.passed, "{check:?}");
}

#[test]
fn the_fused_loss_matches_the_burn_reference_loss_and_its_gradient() {
    let gpu = gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let check = fused_loss_check(&gpu, &rast).unwrap();
    eprintln!("{check:?}");
    assert!(check.passed, "{check:?}");
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
