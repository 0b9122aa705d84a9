//! The rasterizer as a burn operation with a hand-written backward, so `loss.backward()` yields
//! gradients for every Gaussian parameter tensor.
//!
//! Tensors stay on the GPU: the op reads the storage of burn's tensors directly (cubecl hands out
//! the wgpu buffer range behind a tensor) and writes its outputs into tensors it allocates through
//! burn, on the one shared wgpu device and queue. Fetching a tensor's buffer flushes burn's pending
//! work first, and our submissions go to the same queue, so ordering is preserved in both directions.
//!
//! Threading: burn orders GPU work per OS thread (its fusion streams), so the thread that builds a
//! model's graph must also run this op and the backward pass; the trainer owns one such thread.

use super::gpu_buffers::GpuSlice;
use super::raster::{GaussianBuffers, RasterView, Rasterizer, Rendered};
use crate::gaussians::ParamGroups;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, ExtensionType, TensorMetadata, backend_extension};
use burn::tensor::{DType, Shape, Tensor};
use burn_cubecl::CubeBackend;
use burn_cubecl::cubecl::wgpu::{AutoCompiler, WgpuResource, WgpuServer};
use burn_cubecl::tensor::CubeTensor;
use std::sync::Arc;

/// What to render: the views and the rasterizer (pipelines on the shared device).
#[derive(Clone)]
pub struct SplatBatch {
    pub rasterizer: Arc<Rasterizer>,
    pub views: Arc<Vec<RasterView>>,
    pub sh_degree: u32,
    /// The forward pass's per-tile lists, kept for the backward of the same batch so it does not
    /// render everything again (that re-run was about a quarter of a training step).
    forward_state: Arc<std::sync::Mutex<Option<Rendered>>>,
}

impl SplatBatch {
    pub fn new(rasterizer: Arc<Rasterizer>, views: Arc<Vec<RasterView>>, sh_degree: u32) -> Self {
        Self { rasterizer, views, sh_degree, forward_state: Arc::default() }
    }

    fn keep_forward(&self, rendered: Rendered) {
        *self.forward_state.lock().unwrap_or_else(|e| e.into_inner()) = Some(rendered);
    }

    /// Whether a forward pass's state is waiting for this batch's backward.
    pub fn holds_forward_state(&self) -> bool {
        self.forward_state.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The kept forward state when it is this batch's (same views, same resolution).
    fn take_forward(&self) -> Option<Rendered> {
        let kept = self.forward_state.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        let k = self.views.first()?.camera.intrinsics;
        (kept.views as usize == self.views.len() && (kept.width, kept.height) == (k.width, k.height)).then_some(kept)
    }
}

impl std::fmt::Debug for SplatBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SplatBatch({} views, SH degree {})", self.views.len(), self.sh_degree)
    }
}

impl SplatBatch {
    fn image_shape(&self) -> Shape {
        let k = self.views.first().map(|v| v.camera.intrinsics).expect("a batch has views");
        Shape::from([self.views.len(), k.height as usize, k.width as usize, 4])
    }
}

/// Gradients of the six parameter tensors.
#[derive(ExtensionType)]
#[extension_type(fusion)]
pub struct SplatGrads<B: Backend> {
    pub means: FloatTensor<B>,
    pub log_scales: FloatTensor<B>,
    pub rot_left: FloatTensor<B>,
    pub rot_right: FloatTensor<B>,
    pub opacity: FloatTensor<B>,
    pub sh: FloatTensor<B>,
}

/// Settings of the fused loss (see shaders/loss.wgsl).
#[derive(Clone)]
pub struct LossSpec {
    pub rasterizer: Arc<Rasterizer>,
    pub ssim_weight: f32,
    pub mask_weight: f32,
}

impl std::fmt::Debug for LossSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LossSpec(λ = {}, mask = {})", self.ssim_weight, self.mask_weight)
    }
}

/// The fused loss: `total` ([1], differentiable), `parts` ([4]: total, L1, SSIM, mask) and the
/// gradient map it computed alongside (constants).
#[derive(ExtensionType)]
#[extension_type(fusion)]
pub struct SplatLoss<B: Backend> {
    pub total: FloatTensor<B>,
    pub parts: FloatTensor<B>,
    pub grad: FloatTensor<B>,
}

fn loss_meta(
    rendered: &TensorSpec,
    _target: &TensorSpec,
    _confidence: &TensorSpec,
    _spec: &LossSpec,
) -> SplatLossMetadata {
    SplatLossMetadata {
        total: TensorSpec::new(Shape::from([1]), rendered.dtype),
        parts: TensorSpec::new(Shape::from([4]), rendered.dtype),
        grad: rendered.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_meta(
    means: &TensorSpec,
    _log_scales: &TensorSpec,
    _rot_left: &TensorSpec,
    _rot_right: &TensorSpec,
    _opacity: &TensorSpec,
    _sh: &TensorSpec,
    batch: &SplatBatch,
) -> TensorSpec {
    TensorSpec::new(batch.image_shape(), means.dtype)
}

#[allow(clippy::too_many_arguments)]
fn backward_meta(
    means: &TensorSpec,
    log_scales: &TensorSpec,
    rot_left: &TensorSpec,
    rot_right: &TensorSpec,
    opacity: &TensorSpec,
    sh: &TensorSpec,
    _d_color: &TensorSpec,
    _batch: &SplatBatch,
) -> SplatGradsMetadata {
    SplatGradsMetadata {
        means: means.clone(),
        log_scales: log_scales.clone(),
        rot_left: rot_left.clone(),
        rot_right: rot_right.clone(),
        opacity: opacity.clone(),
        sh: sh.clone(),
    }
}

#[backend_extension(Cube, Fusion, Autodiff)]
pub trait SplatOps: Backend {
    /// Renders every view: [views, height, width, 4] (rgb composited on the background, alpha).
    #[fusion(meta = render_meta)]
    fn splat_render(
        means: FloatTensor<Self>,
        log_scales: FloatTensor<Self>,
        rot_left: FloatTensor<Self>,
        rot_right: FloatTensor<Self>,
        opacity: FloatTensor<Self>,
        sh: FloatTensor<Self>,
        batch: SplatBatch,
    ) -> FloatTensor<Self>;

    /// Gradients of the six parameters given dL/d(output of `splat_render`).
    #[allow(clippy::too_many_arguments)]
    #[fusion(meta = backward_meta)]
    fn splat_render_backward(
        means: FloatTensor<Self>,
        log_scales: FloatTensor<Self>,
        rot_left: FloatTensor<Self>,
        rot_right: FloatTensor<Self>,
        opacity: FloatTensor<Self>,
        sh: FloatTensor<Self>,
        d_color: FloatTensor<Self>,
        batch: SplatBatch,
    ) -> SplatGrads<Self>;

    /// The confidence-aware loss of `rendered` against `target` ([views, h, w, 4]) with per-pixel
    /// `confidence` ([views, h, w, 1]); its backward uses the gradient computed in the same passes.
    #[fusion(meta = loss_meta)]
    fn splat_loss(
        rendered: FloatTensor<Self>,
        target: FloatTensor<Self>,
        confidence: FloatTensor<Self>,
        spec: LossSpec,
    ) -> SplatLoss<Self>;
}

/// Keeps a tensor's allocation in place while our passes are recorded and submitted.
type Resource = Box<dyn std::any::Any>;

/// The wgpu buffer range behind a tensor. The returned guard keeps the allocation in place.
fn tensor_slice(t: &CubeTensor) -> (GpuSlice, Resource) {
    assert_eq!(t.dtype, DType::F32, "the splat rasterizer works on f32 tensors");
    let guard = t
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(t.handle.clone())
        .expect("splat rendering needs tensors on the wgpu backend");
    let r: &WgpuResource = guard.resource();
    (GpuSlice { buffer: r.buffer.clone(), offset: r.offset, size: r.size }, Box::new(guard))
}

fn contiguous(t: CubeTensor) -> CubeTensor {
    burn_cubecl::kernel::into_contiguous(t)
}

fn empty_like_shape(like: &CubeTensor, shape: Shape) -> CubeTensor {
    let bytes = shape.num_elements() * 4;
    let handle = like.client.empty(bytes.max(4));
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, DType::F32)
}

struct Bound {
    buffers: GaussianBuffers,
    _guards: Vec<Resource>,
}

fn bind_params(ts: ParamGroups<&CubeTensor>, sh_degree: u32) -> Bound {
    let count = ts.opacity.meta.shape().num_elements() as u32;
    let mut guards = Vec::new();
    let slices = ts.map(|t| {
        let (s, g) = tensor_slice(t);
        guards.push(g);
        s
    });
    Bound { buffers: GaussianBuffers { groups: slices, count, sh_degree }, _guards: guards }
}

impl SplatOps for CubeBackend {
    fn splat_render(
        means: CubeTensor,
        log_scales: CubeTensor,
        rot_left: CubeTensor,
        rot_right: CubeTensor,
        opacity: CubeTensor,
        sh: CubeTensor,
        batch: SplatBatch,
    ) -> CubeTensor {
        let ts = ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh }.map(contiguous);
        let bound = bind_params(ts.as_ref(), batch.sh_degree);
        let out = empty_like_shape(&ts.means, batch.image_shape());
        let (out_slice, _out_guard) = tensor_slice(&out);
        let rendered = batch
            .rasterizer
            .forward_into(&bound.buffers, &batch.views, false, Some(out_slice))
            .unwrap_or_else(|e| panic!("splat rendering failed: {e}"));
        batch.keep_forward(rendered);
        out
    }

    fn splat_render_backward(
        means: CubeTensor,
        log_scales: CubeTensor,
        rot_left: CubeTensor,
        rot_right: CubeTensor,
        opacity: CubeTensor,
        sh: CubeTensor,
        d_color: CubeTensor,
        batch: SplatBatch,
    ) -> SplatGrads<Self> {
        let ts = ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh }.map(contiguous);
        let d_color = contiguous(d_color);
        let bound = bind_params(ts.as_ref(), batch.sh_degree);
        // The parameters are the forward's (autodiff keeps them), so its tile lists still hold;
        // without them (a forward run elsewhere) everything is rendered again.
        let rendered = match batch.take_forward() {
            Some(kept) => kept,
            None => batch
                .rasterizer
                .forward(&bound.buffers, &batch.views, false)
                .unwrap_or_else(|e| panic!("splat rendering failed: {e}")),
        };
        let grads = ts.as_ref().map(|t| empty_like_shape(t, t.meta.shape().clone()));
        let grad_bound = bind_params(grads.as_ref(), batch.sh_degree);
        let (d_slice, _d_guard) = tensor_slice(&d_color);
        batch
            .rasterizer
            .backward_into(&bound.buffers, &rendered, &d_slice, &grad_bound.buffers)
            .unwrap_or_else(|e| panic!("splat backward failed: {e}"));
        let ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh } = grads;
        SplatGrads { means, log_scales, rot_left, rot_right, opacity, sh }
    }

    fn splat_loss(rendered: CubeTensor, target: CubeTensor, confidence: CubeTensor, spec: LossSpec) -> SplatLoss<Self> {
        let [rendered, target, confidence] = [rendered, target, confidence].map(contiguous);
        let dims = rendered.meta.shape().clone();
        assert_eq!(dims.num_dims(), 4, "the loss takes [views, height, width, 4] images");
        let grad = empty_like_shape(&rendered, dims.clone());
        let parts = empty_like_shape(&rendered, Shape::from([4]));
        let total = empty_like_shape(&rendered, Shape::from([1]));
        let mut guards = Vec::new();
        let mut slice = |t: &CubeTensor| {
            let (s, g) = tensor_slice(t);
            guards.push(g);
            s
        };
        let (r, t, c, g, l, tot) =
            (slice(&rendered), slice(&target), slice(&confidence), slice(&grad), slice(&parts), slice(&total));
        let buffers = super::fused_loss::LossBuffers {
            rendered: &r,
            target: &t,
            confidence: &c,
            grad: &g,
            loss: &l,
            total: &tot,
        };
        spec.rasterizer
            .loss_into(buffers, dims[0] as u32, dims[2] as u32, dims[1] as u32, spec.ssim_weight, spec.mask_weight)
            .unwrap_or_else(|e| panic!("loss failed: {e}"));
        SplatLoss { total, parts, grad }
    }
}

#[derive(Debug)]
struct LossBackward;

impl<B: SplatOps> Backward<B, 1> for LossBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let upstream = grads.consume::<B>(&ops.node);
        let grad = ops.state;
        let shape = grad.shape();
        let scale = B::float_expand(B::float_reshape(upstream, Shape::from([1, 1, 1, 1])), shape);
        if let Some(node) = &ops.parents[0] {
            grads.register::<B>(node.id, B::float_mul(grad, scale));
        }
    }
}

#[derive(Debug)]
struct SplatBackward;

impl<B: SplatOps> Backward<B, 6> for SplatBackward {
    type State = (ParamGroups<FloatTensor<B>>, SplatBatch);

    fn backward(self, ops: Ops<Self::State, 6>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let d_color = grads.consume::<B>(&ops.node);
        let (ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh }, batch) = ops.state;
        let g = B::splat_render_backward(means, log_scales, rot_left, rot_right, opacity, sh, d_color, batch);
        let all = ParamGroups {
            means: g.means,
            log_scales: g.log_scales,
            rot_left: g.rot_left,
            rot_right: g.rot_right,
            opacity: g.opacity,
            sh: g.sh,
        };
        // Autodiff's parents are in the order the op took its inputs: `ParamGroups::NAMES`.
        for (parent, grad) in ops.parents.into_iter().zip(all.into_array()) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: SplatOps, C: CheckpointStrategy> SplatOps for Autodiff<B, C> {
    fn splat_render(
        means: FloatTensor<Self>,
        log_scales: FloatTensor<Self>,
        rot_left: FloatTensor<Self>,
        rot_right: FloatTensor<Self>,
        opacity: FloatTensor<Self>,
        sh: FloatTensor<Self>,
        batch: SplatBatch,
    ) -> FloatTensor<Self> {
        let parts = ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh }.map(|t| t.into_parts());
        let (prims, nodes) = parts.unzip();
        let render = |p: ParamGroups<FloatTensor<B>>, b: SplatBatch| {
            let ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh } = p;
            B::splat_render(means, log_scales, rot_left, rot_right, opacity, sh, b)
        };
        match SplatBackward.prepare::<C>(nodes.into_array()).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = render(prims.clone(), batch.clone());
                prep.finish((prims, batch), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(render(prims, batch)),
        }
    }

    fn splat_render_backward(
        means: FloatTensor<Self>,
        log_scales: FloatTensor<Self>,
        rot_left: FloatTensor<Self>,
        rot_right: FloatTensor<Self>,
        opacity: FloatTensor<Self>,
        sh: FloatTensor<Self>,
        d_color: FloatTensor<Self>,
        batch: SplatBatch,
    ) -> SplatGrads<Self> {
        // Second derivatives are not provided: the gradients come back as constants.
        let g = B::splat_render_backward(
            means.into_primitive(),
            log_scales.into_primitive(),
            rot_left.into_primitive(),
            rot_right.into_primitive(),
            opacity.into_primitive(),
            sh.into_primitive(),
            d_color.into_primitive(),
            batch,
        );
        let c = FloatTensor::<Self>::new;
        SplatGrads {
            means: c(g.means),
            log_scales: c(g.log_scales),
            rot_left: c(g.rot_left),
            rot_right: c(g.rot_right),
            opacity: c(g.opacity),
            sh: c(g.sh),
        }
    }

    fn splat_loss(
        rendered: FloatTensor<Self>,
        target: FloatTensor<Self>,
        confidence: FloatTensor<Self>,
        spec: LossSpec,
    ) -> SplatLoss<Self> {
        let (prim, node) = rendered.into_parts();
        let out = B::splat_loss(prim, target.into_primitive(), confidence.into_primitive(), spec);
        let total = match LossBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(out.grad.clone(), out.total),
            OpsKind::UnTracked(prep) => prep.finish(out.total),
        };
        SplatLoss { total, parts: FloatTensor::<Self>::new(out.parts), grad: FloatTensor::<Self>::new(out.grad) }
    }
}

/// The Gaussian parameters as burn tensors by group (shapes [N, 4] ×4, [N, 1], [N, K·3]).
pub type SplatParams = crate::gaussians::ParamGroups<Tensor<2>>;

/// Renders `batch` from `params`: [views, height, width, 4], differentiable in every parameter.
pub fn render_splats(params: &SplatParams, batch: &SplatBatch) -> Tensor<4> {
    let f2 = |t: &Tensor<2>| t.clone().into_dispatch();
    let out = Dispatch::splat_render(
        f2(&params.means),
        f2(&params.log_scales),
        f2(&params.rot_left),
        f2(&params.rot_right),
        params.opacity.clone().reshape([params.opacity.dims()[0]]).into_dispatch(),
        f2(&params.sh),
        batch.clone(),
    );
    Tensor::from_dispatch(out)
}

/// The fused loss of `rendered` against `target` with per-pixel `confidence`: returns the
/// differentiable total ([1]) and the parts [total, L1, SSIM, mask] ([4], constant).
pub fn fused_loss(
    rendered: Tensor<4>,
    target: Tensor<4>,
    confidence: Tensor<4>,
    spec: &LossSpec,
) -> (Tensor<1>, Tensor<1>) {
    let out = Dispatch::splat_loss(
        rendered.into_dispatch(),
        target.into_dispatch(),
        confidence.into_dispatch(),
        spec.clone(),
    );
    (Tensor::from_dispatch(out.total), Tensor::from_dispatch(out.parts))
}
