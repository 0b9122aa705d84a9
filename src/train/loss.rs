//! The confidence-aware photometric loss of Efficient4D, in burn tensor ops (differentiable):
//! (1 − λ)·mean(C·|I − Î|) + λ·(1 − mean SSIM_C) + w_mask·mean(|α − α̂|), where the SSIM statistics
//! (means, variances, covariance under an 11×11 Gaussian window, σ = 1.5) are weighted by C too.
//! With C ≡ 1 this is the usual 3DGS loss.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use crate::metrics::{C1, C2, SSIM_WINDOW, gaussian_window_f64};

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    /// λ: the D-SSIM share.
    pub ssim: f32,
    /// Weight of the alpha (mask) term.
    pub mask: f32,
    /// Weight of the soft floor on the splats' temporal standard deviation (`train::time_floor`);
    /// 0 turns it off.
    #[serde(default)]
    pub time_floor: f32,
    /// The floor, in key-frame spacings.
    #[serde(default = "default_time_floor_spacings")]
    pub time_floor_spacings: f32,
    /// How much higher the floor is for splats at the clip's ends (`time_floor::log_floor_near_ends`):
    /// 1 doubles it there; 0 keeps one floor everywhere.
    #[serde(default)]
    pub time_floor_end_boost: f32,
    /// Weight of the motion-coherence prior (`train::motion_prior`): neighbouring splats should
    /// move alike. 0 turns it off.
    #[serde(default)]
    pub motion: f32,
    /// How many nearest splats (in space and time) each splat's motion is compared with.
    #[serde(default = "default_motion_neighbours")]
    pub motion_neighbours: usize,
}

fn default_motion_neighbours() -> usize {
    8
}

fn default_time_floor_spacings() -> f32 {
    2.0
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            ssim: 0.2,
            mask: 0.1,
            time_floor: 0.0,
            time_floor_spacings: default_time_floor_spacings(),
            time_floor_end_boost: 0.0,
            motion: 0.0,
            motion_neighbours: default_motion_neighbours(),
        }
    }
}

/// The normalised 1D Gaussian window.
pub fn gaussian_window() -> Vec<f32> {
    gaussian_window_f64().iter().map(|&v| v as f32).collect()
}

/// Separable Gaussian blur of [B, C, H, W], zero-padded ("same" size).
fn blur(x: Tensor<4>, window_h: &Tensor<4>, window_w: &Tensor<4>) -> Tensor<4> {
    let c = x.dims()[1];
    let p = SSIM_WINDOW / 2;
    let along_h = conv2d(x, window_h.clone(), None, ConvOptions::new([1, 1], [p, 0], [1, 1], c));
    conv2d(along_h, window_w.clone(), None, ConvOptions::new([1, 1], [0, p], [1, 1], c))
}

/// Windows shaped for a depthwise conv over `channels` channels.
fn windows(channels: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let w = gaussian_window();
    let taps: Vec<f32> = (0..channels).flat_map(|_| w.iter().copied()).collect();
    let h = Tensor::<4>::from_data(TensorData::new(taps.clone(), [channels, 1, SSIM_WINDOW, 1]), device);
    let v = Tensor::<4>::from_data(TensorData::new(taps, [channels, 1, 1, SSIM_WINDOW]), device);
    (h, v)
}

/// Per-pixel SSIM map of two [B, C, H, W] images with per-pixel weights `c` ([B, 1, H, W]).
pub fn ssim_map(x: Tensor<4>, y: Tensor<4>, c: Tensor<4>) -> Tensor<4> {
    let [_, ch, _, _] = x.dims();
    let (wh, ww) = windows(ch, &x.device());
    let (wh1, ww1) = windows(1, &x.device());
    let wsum = blur(c.clone(), &wh1, &ww1).clamp_min(1e-6);
    let wavg = |t: Tensor<4>| blur(t * c.clone(), &wh, &ww) / wsum.clone();
    let mu_x = wavg(x.clone());
    let mu_y = wavg(y.clone());
    let sxx = wavg(x.clone() * x.clone()) - mu_x.clone() * mu_x.clone();
    let syy = wavg(y.clone() * y.clone()) - mu_y.clone() * mu_y.clone();
    let sxy = wavg(x * y) - mu_x.clone() * mu_y.clone();
    let num = (mu_x.clone() * mu_y.clone() * 2.0 + C1) * (sxy * 2.0 + C2);
    let den = (mu_x.clone() * mu_x + mu_y.clone() * mu_y + C1) * (sxx + syy + C2);
    num / den
}

/// The loss of rendered images against targets. `rendered` and `target` are [B, H, W, 4]
/// (rgb composited on the background, alpha); `confidence` is [B, H, W, 1] in [0, 1].
pub fn photometric_loss(
    rendered: Tensor<4>,
    target: Tensor<4>,
    confidence: Tensor<4>,
    weights: LossWeights,
) -> LossParts {
    let to_nchw = |t: Tensor<4>| t.permute([0, 3, 1, 2]);
    let rgb = to_nchw(rendered.clone().narrow(3, 0, 3));
    let target_rgb = to_nchw(target.clone().narrow(3, 0, 3));
    let conf = to_nchw(confidence.clone());
    let l1 = ((rgb.clone() - target_rgb.clone()).abs() * conf.clone()).mean();
    let ssim = ssim_map(rgb, target_rgb, conf).mean();
    let alpha = rendered.narrow(3, 3, 1);
    let target_alpha = target.narrow(3, 3, 1);
    let mask = (alpha - target_alpha).abs().mean();
    let lambda = weights.ssim as f64;
    let total = l1.clone() * (1.0 - lambda) + (ssim.clone().neg() + 1.0) * lambda + mask.clone() * weights.mask as f64;
    LossParts { total, l1, ssim, mask }
}

/// The loss and its parts (each a one-element tensor).
pub struct LossParts {
    pub total: Tensor<1>,
    pub l1: Tensor<1>,
    pub ssim: Tensor<1>,
    pub mask: Tensor<1>,
}
