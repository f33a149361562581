//! Vision: image decoding, plate detection, text recognition and model loading.
//!
//! Load the models once with [`Engine::load`], then call [`Engine::recognize`] for one
//! image or [`Engine::recognize_batch`] / [`Engine::par_map`] for many. Models and their
//! input conventions are described by `models/manifest.toml` ([`Manifest`]).

pub mod colour;
pub mod ctc;
pub mod decode;
pub mod detect;
mod engine;
mod error;
pub mod eval;
pub mod geometry;
pub mod manifest;
pub mod preprocess;
pub mod rank;
pub mod rectify;
mod runtime;

pub use colour::{ColourEstimate, VehicleColour, vehicle_colour};
pub use decode::{Decoded, decode_image, decode_image_scaled, load_image};
pub use engine::{Engine, EngineOptions, PlateRead, Reader, default_models_dir, default_workers};
pub use error::{Result, VisionError};
pub use geometry::{BoxF, Detection};
pub use image::RgbImage;
pub use manifest::Manifest;
pub use rank::Candidate;
pub use runtime::Runtime;
