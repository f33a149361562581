//! The one error type of the vision crate.

use std::path::PathBuf;

/// Everything that can go wrong between an image file and its plate reads.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("empty input: the file has zero bytes")]
    Empty,
    #[error("not a supported image (JPEG, PNG, WebP or BMP expected)")]
    UnknownFormat,
    #[error("image is {width}×{height} = {megapixels:.1} MP, above the {limit} MP limit")]
    TooLarge {
        width: u32,
        height: u32,
        megapixels: f64,
        limit: u32,
    },
    #[error(
        "image is {width}×{height} and would take {bytes} bytes to decode, above the {limit}-byte limit; send an 8-bit JPEG or PNG"
    )]
    TooManyBytes {
        width: u32,
        height: u32,
        bytes: u64,
        limit: u64,
    },
    #[error("image is {width}×{height}, below the {min}×{min} minimum")]
    TooSmall { width: u32, height: u32, min: u32 },
    #[error("corrupt or truncated image: {0}")]
    Decode(String),
    #[error("model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("cannot load model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("inference failed in the {model}: {message}")]
    Inference {
        model: &'static str,
        message: String,
    },
}

pub type Result<T, E = VisionError> = std::result::Result<T, E>;
