//! Model runtimes: rten (pure Rust, the default) and, with the `ort` feature, ONNX Runtime.

use std::path::Path;

use rten::{Model, NodeId, RunOptions};
use rten_tensor::{Layout, NdTensor};

use crate::error::{Result, VisionError};

/// Which runtime executes the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runtime {
    /// rten, pure Rust.
    #[default]
    Rten,
    /// ONNX Runtime through the `ort` crate, loaded from `ORT_DYLIB_PATH`.
    #[cfg(feature = "ort")]
    Ort,
}

/// A model's raw output: shape and values, row-major.
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One loaded model with its input and output names resolved.
pub enum LoadedModel {
    Rten {
        model: Box<Model>,
        input: NodeId,
        output: NodeId,
    },
    #[cfg(feature = "ort")]
    Ort {
        session: std::sync::Mutex<ort::session::Session>,
        input: String,
        output: String,
    },
}

impl LoadedModel {
    pub fn load(runtime: Runtime, path: &Path, input: &str, output: &str) -> Result<Self> {
        let fail = |message: String| VisionError::ModelLoad {
            path: path.to_path_buf(),
            message,
        };
        match runtime {
            Runtime::Rten => {
                let model = Model::load_file(path).map_err(|e| fail(e.to_string()))?;
                let node = |name: &str| {
                    model
                        .find_node(name)
                        .ok_or_else(|| fail(format!("the graph has no node named {name:?}")))
                };
                let (input, output) = (node(input)?, node(output)?);
                Ok(Self::Rten {
                    model: Box::new(model),
                    input,
                    output,
                })
            }
            #[cfg(feature = "ort")]
            Runtime::Ort => {
                let session = ort_session(path).map_err(fail)?;
                let has = |name: &str, names: &[ort::value::Outlet]| {
                    names.iter().any(|o| o.name() == name)
                };
                if !has(input, session.inputs()) || !has(output, session.outputs()) {
                    return Err(fail(format!(
                        "the graph has no input {input:?} or no output {output:?}"
                    )));
                }
                Ok(Self::Ort {
                    session: std::sync::Mutex::new(session),
                    input: input.to_string(),
                    output: output.to_string(),
                })
            }
        }
    }

    /// Runs the model on one `[N, C, H, W]` input. `options` sets rten's thread pool.
    pub fn run(
        &self,
        what: &'static str,
        input: NdTensor<f32, 4>,
        options: &RunOptions,
    ) -> Result<Output> {
        let fail = |message: String| VisionError::Inference {
            model: what,
            message,
        };
        match self {
            Self::Rten {
                model,
                input: id,
                output: out,
            } => {
                let [value] = model
                    .run_n(vec![(*id, input.into())], [*out], Some(options.clone()))
                    .map_err(|e| fail(e.to_string()))?;
                let tensor: NdTensor<f32, 3> =
                    value.try_into().map_err(|e: rten::TryFromValueError| {
                        fail(format!("unexpected output: {e}"))
                    })?;
                Ok(Output {
                    shape: tensor.shape().to_vec(),
                    data: tensor.into_data(),
                })
            }
            #[cfg(feature = "ort")]
            Self::Ort {
                session,
                input: name,
                output,
            } => {
                let shape = input.shape().to_vec();
                let tensor = ort::value::Tensor::from_array((shape, input.into_data()))
                    .map_err(|e| fail(e.to_string()))?;
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                let outputs = session
                    .run(ort::inputs![name.as_str() => tensor])
                    .map_err(|e| fail(e.to_string()))?;
                let (shape, data) = outputs[output.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| fail(e.to_string()))?;
                Ok(Output {
                    shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                    data: data.to_vec(),
                })
            }
        }
    }
}

#[cfg(feature = "ort")]
fn ort_session(path: &Path) -> std::result::Result<ort::session::Session, String> {
    use std::sync::OnceLock;
    static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    let environment = ENVIRONMENT.get_or_init(|| {
        let library = std::env::var_os("ORT_DYLIB_PATH")
            .ok_or("the ort runtime needs ORT_DYLIB_PATH set to libonnxruntime.so")?;
        ort::init_from(&library)
            .map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}",
                    Path::new(&library).display()
                )
            })?
            .build()
            .map_err(|e| e.to_string())
    });
    let environment = environment.as_ref().map_err(Clone::clone)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    ort::session::Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_intra_threads(threads)
        .map_err(|e| e.to_string())?
        .commit_from_file(path)
        .map_err(|e| e.to_string())
}
