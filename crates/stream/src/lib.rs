//! Camera streams: frames decoded by FFmpeg, thinned by motion, read by the engine, followed
//! across frames, and one voted read per vehicle pass.
//!
//! - [`clip`]: test clips with known plates, and how passes score against them.
//! - [`source`]: the decoder child process and the stream address (credentials kept out of
//!   everything shown).
//! - [`motion`]: frames in which nothing moved are not read.
//! - [`track`]: reads followed across frames and voted into [`Pass`]es.
//! - [`watch`]: the loop that ties them together and reconnects with back-off, with a
//!   [`Watch`] handle to see its state and stop it.

pub mod clip;
pub mod motion;
pub mod source;
pub mod track;
pub mod watch;

pub use source::{AddressKind, SourceSettings, StreamAddress};
pub use track::{Direction, Pass, TrackSettings, Tracker};
pub use watch::{StreamState, Watch, WatchSettings, watch};

/// Why a stream could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    #[error("the stream address is not usable: {0}")]
    BadAddress(String),
    #[error(
        "FFmpeg could not be started ({0}); install it (Debian: apt install ffmpeg) or name it in CANDOR_FFMPEG"
    )]
    NoDecoder(String),
    #[error("the decoder stopped: {0}")]
    Decoder(String),
    #[error("the decoder sent a malformed frame: {0}")]
    BadFrame(String),
    #[error("reading from the decoder failed: {0}")]
    Io(String),
    #[error("making the test clip failed: {0}")]
    Clip(String),
}
