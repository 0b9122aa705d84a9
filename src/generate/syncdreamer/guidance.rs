//! Classifier-free guidance around the UNet (`UNetWrapper`): the condition is three things (the CLIP
//! context token, the frustum volume features, the input view's latent concatenated to the noisy
//! one), and the branches drop some of them. Efficient4D's decomposed guidance
//! ε = ε_a + s₁(ε_a − ε_b) + s₂(ε_a − ε_c): branch b drops the context and the latent, branch c drops
//! the volume and feeds 4× the latent.

use super::frustum_net::FrustumFeatures;
use super::unet::DepthWiseAttentionUNet;
use super::vae::SCALE_FACTOR;
use burn::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Guidance {
    /// The conditional prediction alone.
    None,
    /// ε_u + s(ε_c − ε_u), the unconditional branch dropping all three conditions.
    Classic(f32),
    /// Efficient4D's default, with scales (s₁, s₂) = (2, 1).
    Decomposed([f32; 2]),
}

impl Guidance {
    pub const EFFICIENT4D: Self = Guidance::Decomposed([2.0, 1.0]);

    /// UNet evaluations per view.
    pub fn branches(&self) -> usize {
        match self {
            Guidance::None => 1,
            Guidance::Classic(_) => 2,
            Guidance::Decomposed(_) => 3,
        }
    }
}

/// What each branch keeps: (context, volume, latent multiplier).
fn branch_conditions(guidance: Guidance) -> Vec<(bool, bool, f32)> {
    match guidance {
        Guidance::None => vec![(true, true, 1.0)],
        Guidance::Classic(_) => vec![(true, true, 1.0), (false, false, 0.0)],
        Guidance::Decomposed(_) => vec![(true, true, 1.0), (false, true, 0.0), (true, false, 4.0)],
    }
}

/// The conditions of N target views.
pub struct ViewConditions<'a> {
    /// [N, 1, context_dim].
    pub context: &'a Tensor<3>,
    pub volume: &'a FrustumFeatures,
    /// The input view's latent in the sampler's scaled space, [N, 4, H, W].
    pub input_latent: &'a Tensor<4>,
}

/// Every branch's ε for noisy latents [N, 4, H, W] at `timesteps` (one per view): the branches run as
/// one batch, and are returned in order (a, b, c).
pub fn branch_predictions(
    unet: &DepthWiseAttentionUNet,
    guidance: Guidance,
    x: &Tensor<4>,
    timesteps: &[i64],
    conditions: &ViewConditions,
) -> Vec<Tensor<4>> {
    let branches = branch_conditions(guidance);
    let n = x.dims()[0];
    let keep_or_zero = |t: &Tensor<3>, keep: bool| if keep { t.clone() } else { t.zeros_like() };
    let context = Tensor::cat(branches.iter().map(|b| keep_or_zero(conditions.context, b.0)).collect(), 0);
    let keep_volume: Vec<bool> = branches.iter().map(|b| b.1).collect();
    let volume = conditions.volume.stacked(&keep_volume);
    // The wrapper feeds the latent unscaled (÷ 0.18215): what Zero123's UNet was trained on.
    let latents = branches.iter().map(|b| conditions.input_latent.clone() * (b.2 / SCALE_FACTOR)).collect();
    let noisy = Tensor::cat(vec![x.clone(); branches.len()], 0);
    let input = Tensor::cat(vec![noisy, Tensor::cat(latents, 0)], 1);
    let all_timesteps: Vec<i64> = timesteps.iter().copied().cycle().take(n * branches.len()).collect();
    let eps = unet.forward(input, &all_timesteps, &context, &volume);
    (0..branches.len()).map(|i| eps.clone().narrow(0, i * n, n)).collect()
}

/// Combines the branches as `guidance` says.
pub fn combine(guidance: Guidance, branches: Vec<Tensor<4>>) -> Tensor<4> {
    let mut it = branches.into_iter();
    let a = it.next().expect("the conditional branch");
    match guidance {
        Guidance::None => a,
        Guidance::Classic(s) => {
            let u = it.next().expect("the unconditional branch");
            u.clone() + (a - u) * s
        }
        Guidance::Decomposed([s1, s2]) => {
            let (b, c) = (it.next().expect("branch b"), it.next().expect("branch c"));
            a.clone() + (a.clone() - b) * s1 + (a - c) * s2
        }
    }
}

/// The guided ε of N views.
pub fn predict_eps(
    unet: &DepthWiseAttentionUNet,
    guidance: Guidance,
    x: &Tensor<4>,
    timesteps: &[i64],
    conditions: &ViewConditions,
) -> Tensor<4> {
    combine(guidance, branch_predictions(unet, guidance, x, timesteps, conditions))
}
