//! Sequences of frames: midpoints by either interpolator, the 1-or-3-per-pair schedule, and the
//! confidence of every frame of a sequence.

use super::confidence::{ConfidenceMetric, frame_confidence, neighbour_pairs};
use super::flow::{FlowOptions, midpoint_frame};
use super::planes::Planes;
use super::rife::Rife;
use crate::weights::{self, WeightsError};
use burn::tensor::Device;

/// Which interpolator to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpolatorChoice {
    /// RIFE when `flownet.pkl` is installed, else the classical flow.
    #[default]
    Auto,
    /// RIFE (IFNet HDv3); an error when its weights are missing.
    Rife,
    /// The weights-free coarse-to-fine flow.
    Flow,
}

/// A ready interpolator.
pub enum Interpolator {
    Flow(FlowOptions),
    Rife(Box<Rife>),
}

/// How many RIFE pairs go to the device at once (each pair at 256² needs ~60 MB of activations).
const RIFE_BATCH: usize = 8;

impl Interpolator {
    /// Resolves `choice` (looking for RIFE's weights where [`weights::find`] looks).
    pub fn new(choice: InterpolatorChoice, device: &Device) -> Result<Self, WeightsError> {
        let rife_path = weights::find(&weights::RIFE);
        match (choice, rife_path) {
            (InterpolatorChoice::Flow, _) | (InterpolatorChoice::Auto, None) => Ok(Self::Flow(FlowOptions::default())),
            (_, Some(path)) => Ok(Self::Rife(Box::new(Rife::load(&path, device)?))),
            (InterpolatorChoice::Rife, None) => Err(WeightsError::Missing(weights::missing_message(&weights::RIFE))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Flow(_) => "flow",
            Self::Rife(_) => "rife",
        }
    }

    /// The middle frame of every pair.
    pub fn midpoints(&self, pairs: &[(&Planes, &Planes)]) -> Vec<Planes> {
        match self {
            Self::Rife(rife) => pairs.chunks(RIFE_BATCH).flat_map(|chunk| rife.midpoints(chunk)).collect(),
            Self::Flow(options) => {
                // The flow is plain CPU work: spread the pairs over the cores.
                let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(pairs.len().max(1));
                let chunk = pairs.len().div_ceil(threads).max(1);
                std::thread::scope(|s| {
                    let handles: Vec<_> = pairs
                        .chunks(chunk)
                        .map(|c| {
                            s.spawn(move || c.iter().map(|(a, b)| midpoint_frame(a, b, options)).collect::<Vec<_>>())
                        })
                        .collect();
                    handles.into_iter().flat_map(|h| h.join().expect("flow thread panicked")).collect()
                })
            }
        }
    }
}

/// Inserts `per_pair` (1 or 3) frames between each pair of `frames`, as Efficient4D does with
/// RIFE: the midpoint m = R(a, b), then R(a, m) and R(m, b). Returns the whole sequence in order.
pub(crate) fn interpolate_sequence(interp: &Interpolator, frames: &[Planes], per_pair: usize) -> Vec<Planes> {
    assert!(per_pair == 1 || per_pair == 3, "1 or 3 new frames per pair");
    if frames.len() < 2 {
        return frames.to_vec();
    }
    let pairs: Vec<(&Planes, &Planes)> = frames.windows(2).map(|w| (&w[0], &w[1])).collect();
    let mids = interp.midpoints(&pairs);
    let quarters = if per_pair == 3 {
        let q: Vec<(&Planes, &Planes)> =
            frames.windows(2).zip(&mids).flat_map(|(w, m)| [(&w[0], m), (m, &w[1])]).collect();
        interp.midpoints(&q)
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(frames.len() + pairs.len() * per_pair);
    for (i, mid) in mids.into_iter().enumerate() {
        out.push(frames[i].clone());
        if per_pair == 3 {
            out.push(quarters[2 * i].clone());
            out.push(mid);
            out.push(quarters[2 * i + 1].clone());
        } else {
            out.push(mid);
        }
    }
    out.push(frames.last().expect("two or more frames").clone());
    out
}

/// The confidence map (H×W in [0, 1]) of every frame of `frames` (planes from
/// [`Planes::from_rgba_on_white`]; the RGB on white is compared, the generator's canvas).
pub fn sequence_confidence(interp: &Interpolator, frames: &[Planes], metric: ConfidenceMetric) -> Vec<Vec<f32>> {
    let n = frames.len();
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| neighbour_pairs(i, n)).collect();
    let refs: Vec<(&Planes, &Planes)> = pairs.iter().map(|&(a, b)| (&frames[a], &frames[b])).collect();
    let predictions = interp.midpoints(&refs);
    let mut next = predictions.into_iter();
    (0..n)
        .map(|i| {
            let preds: Vec<Planes> =
                neighbour_pairs(i, n).iter().map(|_| next.next().expect("one prediction per pair")).collect();
            let rgb = |p: &Planes| p.first_planes(3);
            let preds: Vec<Planes> = preds.iter().map(rgb).collect();
            frame_confidence(&rgb(&frames[i]), &preds, metric)
        })
        .collect()
}
