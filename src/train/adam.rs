//! Adam with a learning rate per parameter group (and per column, for the mean's x, y, z vs t),
//! written on burn tensors so its moments can follow the Gaussians when densification clones,
//! splits and prunes them (burn's optimisers keep their state opaque).

use burn::tensor::{Tensor, TensorData};

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
/// 3DGS's epsilon: gradients of tiny splats are tiny, a larger epsilon would freeze them.
pub const EPSILON: f64 = 1e-15;

/// First and second moments of one [N, K] parameter.
#[derive(Clone, Debug)]
pub struct Moments {
    pub m: Tensor<2>,
    pub v: Tensor<2>,
}

impl Moments {
    pub fn zeros_like(p: &Tensor<2>) -> Self {
        Self { m: p.zeros_like(), v: p.zeros_like() }
    }

    /// One Adam step of `param` with gradient `grad`; `lr` is [1, K] (per column) and `step` is
    /// 1-based for bias correction.
    pub fn update(&mut self, param: Tensor<2>, grad: Tensor<2>, lr: Tensor<2>, step: u32) -> Tensor<2> {
        self.m = self.m.clone() * BETA1 + grad.clone() * (1.0 - BETA1);
        self.v = self.v.clone() * BETA2 + grad.clone() * grad * (1.0 - BETA2);
        let bc1 = 1.0 - BETA1.powi(step as i32);
        let bc2 = 1.0 - BETA2.powi(step as i32);
        let m_hat = self.m.clone() / bc1;
        let v_hat = self.v.clone() / bc2;
        param - lr * m_hat / (v_hat.sqrt() + EPSILON)
    }
}

/// A [1, K] learning-rate tensor.
pub fn lr_row(values: &[f64], like: &Tensor<2>) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::<2>::from_data(TensorData::new(v, [1, values.len()]), &like.device())
}
