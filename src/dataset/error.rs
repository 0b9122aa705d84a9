use std::path::PathBuf;

/// Everything that can be wrong with a dataset on disk; each names the file and, where it
/// applies, the JSON field (e.g. `frames[3].transform_matrix`).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: invalid JSON at `{field}`: {message}", path.display())]
    Json { path: PathBuf, field: String, message: String },
    #[error("{}: field `{field}`: {message}", path.display())]
    Field { path: PathBuf, field: String, message: String },
    #[error("{}: image `{}` (from `{field}`): {message}", json.display(), image.display())]
    Image { json: PathBuf, field: String, image: PathBuf, message: String },
    #[error("{}: no transforms_train.json, transforms_val.json or transforms_test.json here", .0.display())]
    NotADataset(PathBuf),
}

impl DatasetError {
    pub(crate) fn field(path: &std::path::Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Field { path: path.to_path_buf(), field: field.into(), message: message.into() }
    }
}
