//! Vision: image decoding, plate detection, text recognition and model loading.
