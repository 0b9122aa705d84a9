//! The building blocks shared by SyncDreamer's networks, as plain burn tensor functions.

use burn::tensor::{DType, Tensor};

/// `x` in the dtype of a layer's weight: f16 for a half-precision model (autocast's f16 kernels),
/// unchanged otherwise.
pub fn as_weight_dtype<const D: usize, const W: usize>(x: Tensor<D>, weight: &Tensor<W>) -> Tensor<D> {
    let dtype = weight.dtype();
    if x.dtype() == dtype { x } else { x.cast(dtype) }
}

/// Back to f32 after a layer that ran in f16: norms, softmax, residual sums and the DDIM arithmetic
/// stay in f32, as under autocast.
pub fn as_f32<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() == DType::F32 { x } else { x.cast(DType::F32) }
}

/// A bias in the dtype its layer runs in.
pub fn bias_like<const W: usize>(bias: Option<&Tensor<1>>, weight: &Tensor<W>) -> Option<Tensor<1>> {
    bias.map(|b| as_weight_dtype(b.clone(), weight))
}

/// `x @ weightᵀ + bias` over the last dimension (PyTorch `nn.Linear` layout: weight [out, in]); in
/// the weight's dtype, returned in f32.
pub fn linear<const D: usize>(x: Tensor<D>, weight: &Tensor<2>, bias: Option<&Tensor<1>>) -> Tensor<D> {
    let dims = x.dims();
    let (fan_in, fan_out) = (dims[D - 1], weight.dims()[0]);
    let rows = x.shape().num_elements() / fan_in;
    let x = as_weight_dtype(x.reshape([rows, fan_in]), weight);
    let mut y = as_f32(x.matmul(weight.clone().transpose()));
    if let Some(b) = bias {
        y = y + b.clone().unsqueeze::<2>();
    }
    let mut out = dims;
    out[D - 1] = fan_out;
    y.reshape(out)
}

/// LayerNorm over the last dimension (biased variance, PyTorch's).
pub fn layer_norm<const D: usize>(x: Tensor<D>, weight: &Tensor<1>, bias: &Tensor<1>, eps: f64) -> Tensor<D> {
    let mean = x.clone().mean_dim(D - 1);
    let centred = x - mean;
    let var = centred.clone().powi_scalar(2).mean_dim(D - 1);
    let normed = centred / (var + eps).sqrt();
    normed * weight.clone().unsqueeze::<D>() + bias.clone().unsqueeze::<D>()
}

/// CLIP's QuickGELU: x·σ(1.702x).
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() * burn::tensor::activation::sigmoid(x * 1.702)
}

/// The [out, in] matrix of PyTorch's bicubic resampling along one axis with `align_corners = True`
/// (cubic convolution, A = −0.75, taps clamped at the border, no antialiasing).
pub fn bicubic_matrix(input: usize, output: usize) -> Vec<f32> {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0; // |x| ≤ 1
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A; // 1 < |x| < 2
    // Coordinates in float32 as PyTorch computes them: a source position like 254.99998 instead of
    // 255 moves strong edges by 1e-5, which the golden data can see.
    let scale = if output > 1 { (input - 1) as f32 / (output - 1) as f32 } else { 0.0 };
    let mut m = vec![0.0f32; output * input];
    for o in 0..output {
        let src = o as f32 * scale;
        let base = src.floor();
        let t = src - base;
        let weights = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
        for (k, w) in weights.iter().enumerate() {
            let i = (base as isize + k as isize - 1).clamp(0, input as isize - 1) as usize;
            m[o * input + i] += w;
        }
    }
    m
}

/// Bicubic resize of [N, C, H, W] to [N, C, out_h, out_w] (see [`bicubic_matrix`]), as two matmuls.
pub fn resize_bicubic_aligned(x: Tensor<4>, out_h: usize, out_w: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let mx = Tensor::<2>::from_data(burn::tensor::TensorData::new(bicubic_matrix(w, out_w), [out_w, w]), &device);
    let my = Tensor::<2>::from_data(burn::tensor::TensorData::new(bicubic_matrix(h, out_h), [out_h, h]), &device);
    // Along x: [N·C·H, W] · Mxᵀ; along y: Myᵀ applied to the rows of each plane.
    let along_x = x.reshape([n * c * h, w]).matmul(mx.transpose()).reshape([n * c, h, out_w]);
    let along_y = along_x.swap_dims(1, 2).reshape([n * c * out_w, h]).matmul(my.transpose());
    along_y.reshape([n * c, out_w, out_h]).swap_dims(1, 2).reshape([n, c, out_h, out_w])
}

/// GroupNorm over [N, C, ...] (biased variance, PyTorch's), with per-channel affine.
pub fn group_norm<const D: usize>(
    x: Tensor<D>,
    groups: usize,
    weight: &Tensor<1>,
    bias: &Tensor<1>,
    eps: f64,
) -> Tensor<D> {
    let dims = x.dims();
    let (n, c) = (dims[0], dims[1]);
    let per_group = x.shape().num_elements() / (n * groups);
    let grouped = x.reshape([n, groups, per_group]);
    let mean = mean_last_stable(grouped.clone());
    let centred = grouped - mean;
    let var = mean_last_stable(centred.clone().powi_scalar(2));
    let normed = (centred / (var + eps).sqrt()).reshape(dims);
    let mut affine = [1usize; D];
    affine[1] = c;
    normed * weight.clone().reshape(affine) + bias.clone().reshape(affine)
}

/// Mean over the last axis of [A, B, L] → [A, B, 1], summed in two stages when L is long: one
/// float32 running sum over 65 536 values (a group of a 256² feature map) loses ~1e-3 relative,
/// which the reference (PyTorch's cascaded sums) does not.
fn mean_last_stable(x: Tensor<3>) -> Tensor<3> {
    let [a, b, l] = x.dims();
    let chunk = (1..=l.isqrt()).rev().find(|d| l % d == 0).unwrap_or(1);
    if l <= 1024 || chunk < 16 {
        return x.mean_dim(2);
    }
    x.reshape([a, b, l / chunk, chunk]).mean_dim(3).mean_dim(2).reshape([a, b, 1])
}

/// SiLU (swish): x·σ(x).
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() * burn::tensor::activation::sigmoid(x)
}

/// A 2-D convolution's weights and bias, applied with stride 1 and "same" padding unless told.
pub struct Conv2d {
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
}

impl Conv2d {
    /// Loads `{name}.weight` [out, in, k, k] and `{name}.bias` [out].
    pub fn load(
        t: &crate::weights::TensorTable,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
    ) -> Result<Self, crate::weights::WeightsError> {
        Ok(Self {
            weight: t.get(&format!("{name}.weight"), [cout, cin, k, k])?,
            bias: Some(t.get(&format!("{name}.bias"), [cout])?),
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let k = self.weight.dims()[2];
        self.forward_with(x, 1, k / 2)
    }

    pub fn forward_with(&self, x: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
        let options = burn::tensor::ops::ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        let (x, bias) = (as_weight_dtype(x, &self.weight), bias_like(self.bias.as_ref(), &self.weight));
        as_f32(burn::tensor::module::conv2d(x, self.weight.clone(), bias, options))
    }
}

/// A GroupNorm layer's parameters with its group count and eps (the VAE uses 32 groups / 1e-6, the
/// volume networks 8 groups / 1e-5).
pub struct GroupNorm {
    weight: Tensor<1>,
    bias: Tensor<1>,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// Loads `{name}.weight` and `{name}.bias`, both [channels].
    pub fn load(
        t: &crate::weights::TensorTable,
        name: &str,
        channels: usize,
        groups: usize,
        eps: f64,
    ) -> Result<Self, crate::weights::WeightsError> {
        Ok(Self {
            weight: t.get(&format!("{name}.weight"), [channels])?,
            bias: t.get(&format!("{name}.bias"), [channels])?,
            groups,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        group_norm(x, self.groups, &self.weight, &self.bias, self.eps)
    }
}

/// A LayerNorm layer's parameters (eps 1e-5, PyTorch's default, as in CLIP and the UNet's transformers).
pub struct LayerNorm {
    weight: Tensor<1>,
    bias: Tensor<1>,
}

impl LayerNorm {
    /// Loads `{name}.weight` and `{name}.bias`, both [dim].
    pub fn load(t: &crate::weights::TensorTable, name: &str, dim: usize) -> Result<Self, crate::weights::WeightsError> {
        Ok(Self { weight: t.get(&format!("{name}.weight"), [dim])?, bias: t.get(&format!("{name}.bias"), [dim])? })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, &self.weight, &self.bias, 1e-5)
    }
}
