//! Where model weights live, how they are fetched and how they are read. Weights are fetched only
//! when the user asks (`efficient4d weights get`, the app's Weights window: [`download`]), into the
//! first folder we look in: the `EFFICIENT4D_WEIGHTS` environment variable, then the platform data
//! folder (e.g. `~/.local/share/efficient4d/weights` on Linux). A file put there by hand works too.

pub mod download;
pub mod hub;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The environment variable that names a weights folder (searched first).
pub const WEIGHTS_ENV: &str = "EFFICIENT4D_WEIGHTS";

/// A published weight file the project can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownWeights {
    /// What `efficient4d weights get` calls it.
    pub id: &'static str,
    pub file_name: &'static str,
    pub what: &'static str,
    /// Where its authors published it.
    pub source: &'static str,
    /// Where `weights get` fetches it from (any mirror of the hub serves the same layout: `HF_ENDPOINT`).
    pub hub: hub::HubFile,
    /// Its size in bytes where we know it: a hub stating another size is refused before a byte is fetched.
    pub size: Option<u64>,
}

/// The authors publish the checkpoint on OneDrive only (SyncDreamer's README, which Efficient4D's
/// points to); the hub copy below is the one public SyncDreamer notebooks and Docker images fetch. The
/// published file's size (5,570,034,171 bytes: the state dict of `shared/golden/syncdreamer_full_keys.json`
/// in fp32 plus the container) is pinned, and the loader's names and shapes are checked before install.
/// The CLIP image tower SyncDreamer's instructions fetch separately (`ViT-L-14.pt`) is inside this
/// checkpoint too (`clip_image_encoder.*`, 302 of its tensors): the reference code only builds the
/// module's skeleton from `ViT-L-14.pt`, then the checkpoint overwrites every weight (strict load), and
/// its normalisation constants are not weights (`shared/golden/syncdreamer_full_keys.json`,
/// `clip_visual_tower`). So nothing else is needed.
pub const SYNCDREAMER: KnownWeights = KnownWeights {
    id: "syncdreamer",
    file_name: "syncdreamer-pretrain.ckpt",
    what: "SyncDreamer (stage 1 generator, 5.57 GB)",
    source: "the SyncDreamer release (liuyuan-pal/SyncDreamer, ckpt/syncdreamer-pretrain.ckpt)",
    hub: hub::HubFile { repo: "camenduru/SyncDreamer", revision: "main", path: "syncdreamer-pretrain.ckpt" },
    size: Some(5_570_034_171),
};

/// Efficient4D's RIFE is IFNet HDv3 (4 blocks, c = 90); hubs carry many RIFE versions under the same
/// file name, so the loader's names and shapes decide, not the name.
pub const RIFE: KnownWeights = KnownWeights {
    id: "rife",
    file_name: "flownet.pkl",
    what: "RIFE IFNet HDv3 (frame interpolation, 12 MB)",
    source: "Efficient4D's RIFE (fudan-zvg/Efficient4D, the flownet.pkl of RIFE HDv3)",
    hub: hub::HubFile { repo: "AlexWortega/RIFE", revision: "main", path: "flownet.pkl" },
    size: None,
};

pub const ALL: [KnownWeights; 2] = [SYNCDREAMER, RIFE];

/// The folders searched, in order.
pub fn search_folders() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os(WEIGHTS_ENV).filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(dir));
    }
    if let Some(data) = dirs::data_dir() {
        out.push(data.join("efficient4d").join("weights"));
    }
    out
}

/// Where `weights get` installs: the first folder searched.
pub(crate) fn install_folder() -> Option<PathBuf> {
    search_folders().into_iter().next()
}

/// The first existing file named `w.file_name` in [`search_folders`].
pub fn find(w: &KnownWeights) -> Option<PathBuf> {
    search_folders().into_iter().map(|d| d.join(w.file_name)).find(|p| p.is_file())
}

/// What to tell a user whose weights are missing.
pub(crate) fn missing_message(w: &KnownWeights) -> String {
    let folders: Vec<String> = search_folders().iter().map(|p| format!("  {}", p.display())).collect();
    format!(
        "{} is not installed: no {} in\n{}\nGet it with `efficient4d weights get {}` (or the app's Weights \
         window), or put the file from {} in one of these folders (or point {WEIGHTS_ENV} at the folder \
         that holds it).",
        w.what,
        w.file_name,
        folders.join("\n"),
        w.id,
        w.source
    )
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// Not installed: the message says where we looked and how to install it.
    #[error("{0}")]
    Missing(String),
    #[error("could not read weights {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("weights {path} do not fit {model}: {message}")]
    Mismatch { path: PathBuf, model: &'static str, message: String },
}

/// A tensor read from a weight file, as f32.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

fn read_err(path: &Path, message: impl ToString) -> WeightsError {
    WeightsError::Read { path: path.to_path_buf(), message: message.to_string() }
}

fn bytes_to_f32(bytes: &[u8], dtype: &str) -> Option<Vec<f32>> {
    let words2 = || bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    Some(match dtype {
        "f32" => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        "f64" => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        "f16" => words2().map(|b| half::f16::from_bits(b).to_f32()).collect(),
        "bf16" => words2().map(|b| half::bf16::from_bits(b).to_f32()).collect(),
        _ => return None,
    })
}

/// Reads every floating-point tensor of a safetensors file (F32, F16, BF16, F64 → f32).
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, NamedTensor>, WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| read_err(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| read_err(path, e))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => "f32",
            safetensors::Dtype::F16 => "f16",
            safetensors::Dtype::BF16 => "bf16",
            safetensors::Dtype::F64 => "f64",
            _ => continue,
        };
        let values = bytes_to_f32(view.data(), dtype).expect("known dtype");
        out.insert(name, NamedTensor { shape: view.shape().to_vec(), values });
    }
    Ok(out)
}

/// Reads every floating-point tensor of a PyTorch checkpoint (`torch.save`, zip or legacy), under
/// `top_level_key` when given (e.g. `state_dict` of a Lightning checkpoint).
pub fn read_pytorch(path: &Path, top_level_key: Option<&str>) -> Result<HashMap<String, NamedTensor>, WeightsError> {
    use pytorch_reader::{DType, PytorchReader};
    let reader = match top_level_key {
        Some(key) => PytorchReader::with_top_level_key(path, key),
        None => PytorchReader::new(path),
    }
    .map_err(|e| read_err(path, e))?;
    let mut out = HashMap::new();
    for (name, t) in reader.into_tensors() {
        let dtype = match t.dtype() {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F64 => "f64",
            _ => continue,
        };
        let raw = t.read().map_err(|e| read_err(path, e))?;
        // The reader returns native-endian bytes; every platform we build for is little-endian.
        let values = bytes_to_f32(&raw, dtype).expect("known dtype");
        out.insert(name, NamedTensor { shape: t.shape().to_vec(), values });
    }
    Ok(out)
}

/// Reads weights in either container, told apart by their first bytes (a safetensors file starts with
/// its header's length and then `{`; `torch.save` writes a zip or a pickle), whatever the name says.
pub fn read_any(path: &Path, top_level_key: Option<&str>) -> Result<HashMap<String, NamedTensor>, WeightsError> {
    use std::io::Read;
    let mut head = [0u8; 9];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).map_err(|e| read_err(path, e))?;
    if n == 9 && head[8] == b'{' { read_safetensors(path) } else { read_pytorch(path, top_level_key) }
}

/// The names and shapes of a weight file's floating-point tensors, from its header alone (a 5.5 GB
/// checkpoint is not read): either container, as [`read_any`] tells them apart.
pub(crate) fn read_shapes(
    path: &Path,
    top_level_key: Option<&str>,
) -> Result<HashMap<String, Vec<usize>>, WeightsError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| read_err(path, e))?;
    let file_len = file.metadata().map_err(|e| read_err(path, e))?.len();
    let mut head = [0u8; 9];
    let n = file.read(&mut head).map_err(|e| read_err(path, e))?;
    if n == 9 && head[8] == b'{' {
        // safetensors: an 8-byte header length, a JSON header, then the data the offsets point into.
        let header_len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if header_len > 100 << 20 || 8 + header_len > file_len {
            return Err(read_err(path, "the safetensors header is longer than the file"));
        }
        let mut header = vec![0u8; header_len as usize];
        header[0] = b'{';
        file.read_exact(&mut header[1..]).map_err(|e| read_err(path, e))?;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| read_err(path, format!("bad safetensors header: {e}")))?;
        let mut out = HashMap::new();
        let mut data_end = 0u64;
        for (name, info) in header.iter().filter(|(k, _)| *k != "__metadata__") {
            let floating = matches!(info["dtype"].as_str(), Some("F32" | "F16" | "BF16" | "F64"));
            let shape: Option<Vec<usize>> = serde_json::from_value(info["shape"].clone()).ok();
            let end = info["data_offsets"][1].as_u64();
            let (Some(shape), Some(end)) = (shape, end) else {
                return Err(read_err(path, format!("bad safetensors entry for {name}")));
            };
            data_end = data_end.max(end);
            if floating {
                out.insert(name.clone(), shape);
            }
        }
        if 8 + header_len + data_end != file_len {
            return Err(read_err(
                path,
                format!("the file is {file_len} bytes, its header describes {}", 8 + header_len + data_end),
            ));
        }
        return Ok(out);
    }
    use pytorch_reader::{DType, PytorchReader};
    let reader = match top_level_key {
        Some(key) => PytorchReader::with_top_level_key(path, key),
        None => PytorchReader::new(path),
    }
    .map_err(|e| read_err(path, e))?;
    Ok(reader
        .into_tensors()
        .into_iter()
        .filter(|(_, t)| matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::F64))
        .map(|(name, t)| (name, t.shape().to_vec()))
        .collect())
}

/// Whether a file holds every tensor a loader asks for, in its shape: `requests` as a
/// [`TensorTable::recorder`] lists them, `file` as [`read_shapes`] reads them and renamed to the
/// loader's names by `names` (as the loader's own table renames them). The message names the first
/// few missing and misshapen tensors and how many there are.
pub(crate) fn check_against_loader(
    file: &HashMap<String, Vec<usize>>,
    names: impl Fn(&str) -> Option<String>,
    requests: &[(String, Vec<usize>)],
) -> Result<(), String> {
    let have: HashMap<String, &Vec<usize>> = file.iter().filter_map(|(k, v)| Some((names(k)?, v))).collect();
    let missing: Vec<&str> = requests.iter().filter(|(n, _)| !have.contains_key(n)).map(|(n, _)| n.as_str()).collect();
    let misshapen: Vec<String> = requests
        .iter()
        .filter_map(|(n, want)| {
            let got = have.get(n)?;
            (*got != want).then(|| format!("{n} is {got:?}, the loader needs {want:?}"))
        })
        .collect();
    let first = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    let mut problems = Vec::new();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
        problems.push(format!(
            "{} of the {} tensors the loader needs are missing (first: {})",
            missing.len(),
            requests.len(),
            first(&names)
        ));
    }
    if !misshapen.is_empty() {
        problems.push(format!("{} have another shape ({})", misshapen.len(), first(&misshapen)));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// A state dict on its way to a device: typed, shape-checked tensors by name, with errors that name
/// the file, the model and the tensor. Besides a file's tensors it can hand out seeded random weights
/// (benchmarks of full-size models without their checkpoint) or only record what a model asks for
/// (checking a loader against a published key list without allocating gigabytes).
pub struct TensorTable<'a> {
    source: Source<'a>,
    path: &'a Path,
    model: &'static str,
    device: &'a burn::tensor::Device,
    /// Hand out the weights of matmul-class layers (≥ 2-D `*.weight`) in f16 ([`Self::half_weights`]).
    half_weights: bool,
    /// Bytes of the tensors handed out so far, in their dtypes (what the model's weights occupy).
    bytes_handed_out: std::cell::Cell<u64>,
}

enum Source<'a> {
    State(HashMap<String, &'a NamedTensor>),
    /// Owned tensors, each moved out when asked for (a 5.5 GB checkpoint is not held twice).
    Owned(std::cell::RefCell<HashMap<String, NamedTensor>>),
    /// Uniform ±1/√fan_in (≥ 2-D), 1 ± 0.1 for norm scales, ±0.1 otherwise; `fixed` tensors as given.
    Random {
        rng: Box<std::cell::RefCell<rand::rngs::StdRng>>,
        fixed: &'a HashMap<String, NamedTensor>,
    },
    /// Every request (name, shape) in order; tensors handed out are empty.
    Record(std::cell::RefCell<Vec<(String, Vec<usize>)>>),
}

impl<'a> TensorTable<'a> {
    /// `names` maps each file key to the name the model asks for (e.g. a prefix stripped), or drops it.
    pub fn new(
        state: &'a HashMap<String, NamedTensor>,
        names: impl Fn(&str) -> Option<String>,
        path: &'a Path,
        model: &'static str,
        device: &'a burn::tensor::Device,
    ) -> Self {
        let tensors = state.iter().filter_map(|(k, v)| names(k).map(|n| (n, v))).collect();
        Self::with_source(Source::State(tensors), path, model, device)
    }

    fn with_source(source: Source<'a>, path: &'a Path, model: &'static str, device: &'a burn::tensor::Device) -> Self {
        Self { source, path, model, device, half_weights: false, bytes_handed_out: Default::default() }
    }

    /// Like [`Self::new`] but owning the tensors: each is moved to the device when asked for, once.
    pub fn consuming(
        state: HashMap<String, NamedTensor>,
        path: &'a Path,
        model: &'static str,
        device: &'a burn::tensor::Device,
    ) -> Self {
        Self::with_source(Source::Owned(std::cell::RefCell::new(state)), path, model, device)
    }

    /// Seeded random weights of whatever shapes the model asks for, except `fixed` (e.g. camera buffers).
    pub fn random(
        seed: u64,
        fixed: &'a HashMap<String, NamedTensor>,
        model: &'static str,
        device: &'a burn::tensor::Device,
    ) -> Self {
        let rng = Box::new(std::cell::RefCell::new(rand::SeedableRng::seed_from_u64(seed)));
        Self::with_source(Source::Random { rng, fixed }, Path::new("(random weights)"), model, device)
    }

    /// A table that records every request and hands out empty tensors: load a model with it to list
    /// the names and shapes it needs ([`Self::requests`]); never run that model.
    pub fn recorder(model: &'static str, device: &'a burn::tensor::Device) -> Self {
        let requests = std::cell::RefCell::new(Vec::new());
        Self::with_source(Source::Record(requests), Path::new("(dry run)"), model, device)
    }

    /// From now on, the weights of linear and convolution layers (tensors named `*.weight` with two
    /// dimensions or more) come out in f16, as PyTorch's autocast feeds them to its f16 kernels; norm
    /// scales, biases, embeddings and buffers stay f32.
    pub fn half_weights(mut self) -> Self {
        self.half_weights = true;
        self
    }

    /// What a recorder was asked for, in order.
    pub fn requests(&self) -> Vec<(String, Vec<usize>)> {
        match &self.source {
            Source::Record(r) => r.borrow().clone(),
            _ => Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.source {
            Source::State(t) => t.is_empty(),
            Source::Owned(t) => t.borrow().is_empty(),
            _ => false,
        }
    }

    pub fn mismatch(&self, message: String) -> WeightsError {
        WeightsError::Mismatch { path: self.path.to_path_buf(), model: self.model, message }
    }

    /// Tensor `name`, which must have exactly `shape` (in f16 for matmul weights of a half-precision table).
    pub fn get<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<burn::tensor::Tensor<D>, WeightsError> {
        let t = self.get_f32(name, shape)?;
        let half = self.half_weights && halved_in_half_precision(name, D) && !matches!(self.source, Source::Record(_));
        let elements = shape.iter().product::<usize>() as u64;
        self.bytes_handed_out.set(self.bytes_handed_out.get() + elements * if half { 2 } else { 4 });
        Ok(if half { t.cast(burn::tensor::DType::F16) } else { t })
    }

    /// Bytes of every tensor handed out so far, in the dtype it was handed out in.
    pub fn bytes_handed_out(&self) -> u64 {
        self.bytes_handed_out.get()
    }

    fn get_f32<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<burn::tensor::Tensor<D>, WeightsError> {
        use burn::tensor::{Tensor, TensorData};
        let check = |t: &NamedTensor| {
            if t.shape != shape {
                return Err(self.mismatch(format!("{name} has shape {:?}, expected {shape:?}", t.shape)));
            }
            Ok(())
        };
        let from = |t: &NamedTensor| {
            check(t)?;
            Ok(Tensor::<D>::from_data(TensorData::new(t.values.clone(), shape), self.device))
        };
        let missing = || self.mismatch(format!("missing tensor {name}"));
        match &self.source {
            Source::State(tensors) => from(tensors.get(name).ok_or_else(missing)?),
            Source::Owned(tensors) => {
                let t = tensors.borrow_mut().remove(name).ok_or_else(missing)?;
                check(&t)?;
                Ok(Tensor::<D>::from_data(TensorData::new(t.values, shape), self.device))
            }
            Source::Random { fixed, .. } if fixed.contains_key(name) => from(&fixed[name]),
            Source::Random { rng, .. } => {
                let values = random_values(&mut rng.borrow_mut(), name, &shape);
                Ok(Tensor::<D>::from_data(TensorData::new(values, shape), self.device))
            }
            Source::Record(requests) => {
                requests.borrow_mut().push((name.to_string(), shape.to_vec()));
                Ok(Tensor::<D>::empty([0; D], self.device))
            }
        }
    }
}

/// Whether a half-precision load hands out the tensor `name` of `dims` dimensions in f16: the weights
/// of linear and convolution layers (`*.weight` of two dimensions or more).
pub(crate) fn halved_in_half_precision(name: &str, dims: usize) -> bool {
    dims >= 2 && name.ends_with(".weight")
}

/// PyTorch-style initial values: U(±1/√fan_in) for weights of ≥ 2 dimensions, 1 ± 0.1 for the scales
/// of norm layers, U(±0.1) for other vectors.
fn random_values(rng: &mut rand::rngs::StdRng, name: &str, shape: &[usize]) -> Vec<f32> {
    use rand::Rng;
    let n: usize = shape.iter().product();
    let (centre, bound) = if shape.len() >= 2 {
        (0.0, 1.0 / (shape[1..].iter().product::<usize>() as f32).sqrt())
    } else if name.ends_with(".weight") && (name.contains("norm") || name.contains(".bn") || name.contains("ln_")) {
        (1.0, 0.1)
    } else {
        (0.0, 0.1)
    };
    (0..n).map(|_| centre + rng.random_range(-bound..=bound)).collect()
}
