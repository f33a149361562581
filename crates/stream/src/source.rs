//! Frames from a camera stream, decoded by FFmpeg in a child process.
//!
//! Why FFmpeg, and as a child: it reads what cameras send (RTSP over TCP with H.264 or H.265,
//! MJPEG or snapshots over HTTP, files) with decoders that have met every broken camera; a
//! decoder that crashes or hangs takes one child down, not the server; and it is one Debian
//! package (`ffmpeg`). It hands frames over as PPM images, which carry their own size, at the
//! rate Candor reads, scaled down to at most `max_width`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candor_vision::RgbImage;

use crate::StreamError;

/// Largest frame accepted from the decoder (pixels per side).
const MAX_SIDE: u32 = 8192;
/// Longest decoder message kept.
const MAX_MESSAGE: usize = 300;

/// What kind of place a stream address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Rtsp,
    Http,
    /// A local video file (for testing a camera's setup); it has an end.
    File,
}

/// A stream address, and the same address with any user name and password taken out, which
/// is the only form that is shown or logged.
#[derive(Clone)]
pub struct StreamAddress {
    full: String,
    shown: String,
    kind: AddressKind,
}

impl std::fmt::Debug for StreamAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamAddress({})", self.shown)
    }
}

impl StreamAddress {
    /// Parses `rtsp://`, `rtsps://`, `http://` or `https://` addresses, or the path of an
    /// existing file.
    pub fn parse(text: &str) -> Result<Self, StreamError> {
        let text = text.trim();
        if text.len() > 2000 {
            return Err(StreamError::BadAddress(
                "the address is longer than 2000 characters".into(),
            ));
        }
        if !text.contains("://") {
            let path = text.strip_prefix("file:").unwrap_or(text);
            if !Path::new(path).is_file() {
                return Err(StreamError::BadAddress(format!(
                    "{path:?} is neither an rtsp://, rtsps://, http:// or https:// address nor an existing file"
                )));
            }
            return Ok(Self {
                full: path.to_string(),
                shown: path.to_string(),
                kind: AddressKind::File,
            });
        }
        let url = url::Url::parse(text)
            .map_err(|e| StreamError::BadAddress(format!("not a valid address: {e}")))?;
        let kind = match url.scheme() {
            "rtsp" | "rtsps" => AddressKind::Rtsp,
            "http" | "https" => AddressKind::Http,
            other => {
                return Err(StreamError::BadAddress(format!(
                    "{other}:// streams are not read; use rtsp://, rtsps://, http:// or https://"
                )));
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(StreamError::BadAddress("the address names no host".into()));
        }
        let mut shown = url.clone();
        // Setting these fails only for addresses without a host, refused above.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        Ok(Self {
            full: url.to_string(),
            shown: shown.to_string(),
            kind,
        })
    }

    /// The address with its credentials, for the decoder only.
    pub fn full(&self) -> &str {
        &self.full
    }

    /// The address without credentials: safe to show and log.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn kind(&self) -> AddressKind {
        self.kind
    }

    /// Whether the address carries a user name or password.
    pub fn has_credentials(&self) -> bool {
        self.full != self.shown
    }
}

/// How frames are taken from a stream.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Frames per second handed over (the stream's own rate is thinned to this).
    pub fps: f32,
    /// Frames wider than this are scaled down to it.
    pub max_width: u32,
    /// Read a file at its own speed, as a camera would send it, rather than at once.
    pub realtime: bool,
    /// A network stream that sends nothing for this long has dropped.
    pub io_timeout: Duration,
    /// The FFmpeg program (`ffmpeg` on the path unless `CANDOR_FFMPEG` names another).
    pub ffmpeg: String,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            fps: 5.0,
            max_width: 1280,
            realtime: false,
            io_timeout: Duration::from_secs(5),
            ffmpeg: ffmpeg_program(),
        }
    }
}

/// The FFmpeg program: `CANDOR_FFMPEG`, else `ffmpeg` on the path.
pub fn ffmpeg_program() -> String {
    std::env::var("CANDOR_FFMPEG").unwrap_or_else(|_| "ffmpeg".into())
}

/// Stops a running decoder from another thread; the reader then sees the stream end.
#[derive(Clone)]
pub struct Killer(Arc<Mutex<Child>>);

impl Killer {
    pub fn kill(&self) {
        if let Ok(mut child) = self.0.lock() {
            let _ = child.kill();
        }
    }
}

/// A running decoder and the frames it sends.
pub struct FrameSource {
    child: Arc<Mutex<Child>>,
    frames: BufReader<ChildStdout>,
    last_message: Arc<Mutex<Option<String>>>,
}

impl FrameSource {
    /// Starts FFmpeg on `address`. Connection errors show up as the first
    /// [`FrameSource::next_frame`] failing, with FFmpeg's message.
    pub fn open(address: &StreamAddress, settings: &SourceSettings) -> Result<Self, StreamError> {
        let timeout_us = settings.io_timeout.as_micros().to_string();
        let mut cmd = Command::new(&settings.ffmpeg);
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
        match address.kind {
            AddressKind::Rtsp => {
                cmd.args(["-rtsp_transport", "tcp", "-timeout", &timeout_us]);
            }
            AddressKind::Http => {
                cmd.args(["-rw_timeout", &timeout_us]);
            }
            AddressKind::File if settings.realtime => {
                cmd.arg("-re");
            }
            AddressKind::File => {}
        }
        let filter = format!(
            "fps={},scale='min({},iw)':-2",
            settings.fps, settings.max_width
        );
        cmd.arg("-i")
            .arg(address.full())
            .args(["-an", "-sn", "-dn", "-vf", &filter])
            .args(["-f", "image2pipe", "-c:v", "ppm", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| StreamError::NoDecoder(format!("{}: {e}", settings.ffmpeg)))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let last_message = Arc::new(Mutex::new(None));
        let keep = last_message.clone();
        let (full, shown) = (address.full.clone(), address.shown.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = line.trim().replace(&full, &shown);
                if !line.is_empty() {
                    let line: String = line.chars().take(MAX_MESSAGE).collect();
                    *keep.lock().expect("not poisoned") = Some(line);
                }
            }
        });
        Ok(Self {
            child: Arc::new(Mutex::new(child)),
            frames: BufReader::with_capacity(1 << 20, stdout),
            last_message,
        })
    }

    pub fn killer(&self) -> Killer {
        Killer(self.child.clone())
    }

    /// The next frame; `None` when the stream ended cleanly.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>, StreamError> {
        match read_ppm(&mut self.frames) {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) => {
                // Out of frames: a clean end, or the decoder gave up (it says why).
                let status = self.child.lock().expect("not poisoned").wait();
                let clean = status.as_ref().is_ok_and(|s| s.success());
                if clean {
                    Ok(None)
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                    let message = self.last_message.lock().expect("not poisoned").clone();
                    Err(StreamError::Decoder(message.unwrap_or_else(
                        || match status {
                            Ok(s) => format!("FFmpeg stopped ({s})"),
                            Err(e) => format!("FFmpeg stopped: {e}"),
                        },
                    )))
                }
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for FrameSource {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads one binary PPM (`P6`, 8 bits) image; `None` at the end of the input.
pub fn read_ppm(input: &mut impl BufRead) -> Result<Option<RgbImage>, StreamError> {
    if input
        .fill_buf()
        .map_err(|e| StreamError::Io(e.to_string()))?
        .is_empty()
    {
        return Ok(None);
    }
    let mut fields = [0u32; 3];
    let magic = header_token(input)?;
    if magic != "P6" {
        return Err(StreamError::BadFrame(format!(
            "expected a P6 image, got {magic:?}"
        )));
    }
    for field in &mut fields {
        let token = header_token(input)?;
        *field = token
            .parse()
            .map_err(|_| StreamError::BadFrame(format!("bad header number {token:?}")))?;
    }
    let [width, height, max] = fields;
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || max != 255 {
        return Err(StreamError::BadFrame(format!(
            "unsupported frame {width}×{height}, depth {max}"
        )));
    }
    let mut data = vec![0u8; width as usize * height as usize * 3];
    input
        .read_exact(&mut data)
        .map_err(|e| StreamError::BadFrame(format!("frame cut short: {e}")))?;
    Ok(RgbImage::from_raw(width, height, data))
}

/// One whitespace-separated header field; consumes the single whitespace after it.
fn header_token(input: &mut impl BufRead) -> Result<String, StreamError> {
    let mut token = String::new();
    let mut byte = [0u8];
    loop {
        input
            .read_exact(&mut byte)
            .map_err(|e| StreamError::BadFrame(format!("header cut short: {e}")))?;
        let c = byte[0];
        if c == b'#' && token.is_empty() {
            let mut comment = Vec::new();
            input
                .read_until(b'\n', &mut comment)
                .map_err(|e| StreamError::Io(e.to_string()))?;
        } else if c.is_ascii_whitespace() {
            if !token.is_empty() {
                return Ok(token);
            }
        } else if token.len() < 16 {
            token.push(char::from(c));
        } else {
            return Err(StreamError::BadFrame("header field too long".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_back_to_back_and_the_end_is_clean() {
        let mut bytes = b"P6\n2 1\n255\n".to_vec();
        bytes.extend([1, 2, 3, 4, 5, 6]);
        bytes.extend(b"P6 # made by a test\n1 1 255\n");
        bytes.extend([7, 8, 9]);
        let mut input = std::io::Cursor::new(bytes);
        let first = read_ppm(&mut input).unwrap().unwrap();
        assert_eq!(first.dimensions(), (2, 1));
        assert_eq!(first.get_pixel(1, 0).0, [4, 5, 6]);
        let second = read_ppm(&mut input).unwrap().unwrap();
        assert_eq!(second.get_pixel(0, 0).0, [7, 8, 9]);
        assert!(read_ppm(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_cut_or_strange_frame_is_an_error_that_says_so() {
        let cut = b"P6\n2 2\n255\n\x01\x02".to_vec();
        let err = read_ppm(&mut std::io::Cursor::new(cut)).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
        let huge = b"P6\n99999 2\n255\n".to_vec();
        let err = read_ppm(&mut std::io::Cursor::new(huge)).unwrap_err();
        assert!(err.to_string().contains("unsupported frame"), "{err}");
        let pgm = b"P5\n2 2\n255\n".to_vec();
        assert!(read_ppm(&mut std::io::Cursor::new(pgm)).is_err());
    }

    #[test]
    fn credentials_never_reach_the_shown_address() {
        let a = StreamAddress::parse("rtsp://admin:s3cret@10.0.0.7:554/stream1").unwrap();
        assert_eq!(a.kind(), AddressKind::Rtsp);
        assert_eq!(a.shown(), "rtsp://10.0.0.7:554/stream1");
        assert!(a.full().contains("s3cret"));
        assert!(a.has_credentials());
        assert!(!format!("{a:?}").contains("s3cret"));
        let plain = StreamAddress::parse("http://cam.local/video.mjpg").unwrap();
        assert!(!plain.has_credentials());
    }

    #[test]
    fn unknown_schemes_and_missing_files_are_refused_with_the_reason() {
        let err = StreamAddress::parse("ftp://cam/x").unwrap_err().to_string();
        assert!(err.contains("ftp:// streams are not read"), "{err}");
        let err = StreamAddress::parse("/no/such/clip.mp4")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nor an existing file"), "{err}");
        assert!(StreamAddress::parse("rtsp://").is_err());
    }
}
