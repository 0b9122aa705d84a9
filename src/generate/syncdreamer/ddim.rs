//! SyncDreamer's noise schedule and the DDIM update (η = 1 by default), computed the way the
//! reference does in float32 so its tables match bit for bit where they can.

use burn::tensor::Tensor;

/// Diffusion timesteps of the trained model.
pub(crate) const TRAIN_STEPS: usize = 1000;

/// PyTorch's float32 `linspace`: the first half counts up from `start`, the second half down from
/// `end`, each value one fused multiply-add (rounded once: the f64 product of an f32 step and a
/// small integer is exact). Plain f32 arithmetic is 1 ulp off for 145 of the 1000 betas.
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = ((end - start) / (steps - 1) as f32) as f64;
    let half = steps / 2;
    (0..steps)
        .map(|i| {
            if i < half {
                (start as f64 + step * i as f64) as f32
            } else {
                (end as f64 - step * (steps - i - 1) as f64) as f32
            }
        })
        .collect()
}

/// `betas = linspace(√0.00085, √0.012, 1000)²` and their cumulative product of (1 − β), in float32.
pub fn alphas_cumprod() -> (Vec<f32>, Vec<f32>) {
    let betas: Vec<f32> =
        linspace_f32(0.00085f64.sqrt() as f32, 0.012f64.sqrt() as f32, TRAIN_STEPS).iter().map(|b| b * b).collect();
    // PyTorch's CPU cumprod keeps a double accumulator and stores each partial product as float.
    let mut acc = 1.0f64;
    let cumprod = betas
        .iter()
        .map(|b| {
            acc *= (1.0f32 - b) as f64;
            acc as f32
        })
        .collect();
    (betas, cumprod)
}

/// The DDIM tables for a number of steps.
#[derive(Clone, Debug, PartialEq)]
pub struct DdimSchedule {
    /// `range(0, 1000, 1000 / steps) + 1`: 1, 21, …, 981 for 50 steps.
    pub timesteps: Vec<i64>,
    pub alphas: Vec<f32>,
    pub alphas_prev: Vec<f32>,
    pub sigmas: Vec<f32>,
    pub sqrt_one_minus_alphas: Vec<f32>,
}

impl DdimSchedule {
    /// The reference's uniform schedule. `steps` must divide into 1000 without landing on t = 1000
    /// (the reference crashes on e.g. 3 steps; see `with_timesteps`).
    pub fn uniform(steps: usize, eta: f32) -> Self {
        let stride = TRAIN_STEPS / steps.max(1);
        let timesteps: Vec<i64> =
            (0..TRAIN_STEPS).step_by(stride).map(|t| t as i64 + 1).filter(|&t| t < TRAIN_STEPS as i64).collect();
        Self::with_timesteps(timesteps, eta)
    }

    pub fn with_timesteps(timesteps: Vec<i64>, eta: f32) -> Self {
        let (_, ac) = alphas_cumprod();
        let alphas: Vec<f32> = timesteps.iter().map(|&t| ac[t as usize]).collect();
        let alphas_prev: Vec<f32> = std::iter::once(ac[0])
            .chain(timesteps[..timesteps.len().saturating_sub(1)].iter().map(|&t| ac[t as usize]))
            .collect();
        let sigmas = alphas
            .iter()
            .zip(&alphas_prev)
            .map(|(&a, &ap)| eta * ((1.0 - ap) / (1.0 - a) * (1.0 - a / ap)).sqrt())
            .collect();
        let sqrt_one_minus_alphas = alphas.iter().map(|a| (1.0 - a).sqrt()).collect();
        Self { timesteps, alphas, alphas_prev, sigmas, sqrt_one_minus_alphas }
    }

    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// One DDIM update at `index` from x_t with predicted noise `eps`; `noise` is the fresh draw
    /// (ignored at index 0, where the reference adds none).
    pub fn step<const D: usize>(
        &self,
        x_t: Tensor<D>,
        eps: Tensor<D>,
        index: usize,
        noise: Option<Tensor<D>>,
    ) -> Tensor<D> {
        let (a_t, a_prev, sigma) = (self.alphas[index], self.alphas_prev[index], self.sigmas[index]);
        let x0 = (x_t - eps.clone() * self.sqrt_one_minus_alphas[index]) / a_t.sqrt();
        let direction = eps * (1.0 - a_prev - sigma * sigma).max(1e-7).sqrt();
        let x_prev = x0 * a_prev.sqrt() + direction;
        match noise {
            Some(n) if index > 0 => x_prev + n * sigma,
            _ => x_prev,
        }
    }
}
