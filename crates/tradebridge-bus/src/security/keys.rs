//! Z85 keys: checking them, deriving a public key, new keypairs and certificate files.

use std::fs;
use std::path::Path;

use crate::error::BusError;

const Z85: &str =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Keys or an allow-list that cannot be used: `code` is the stable snake_case rule name, the same as
/// Python's `CurveConfigError.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct CurveError {
    pub code: &'static str,
    pub message: String,
}

pub(super) fn err(code: &'static str, message: impl Into<String>) -> CurveError {
    CurveError {
        code,
        message: message.into(),
    }
}

/// A CURVE key in Z85: 40 characters of the Z85 alphabet.
pub fn is_z85_key(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| Z85.contains(c))
}

pub(super) fn key(text: &str, what: &str) -> Result<String, CurveError> {
    if is_z85_key(text) {
        Ok(text.to_owned())
    } else {
        // never echo the value: it may be a secret key
        Err(err(
            "curve_bad_key",
            format!("{what} is not a CURVE key (40 Z85 characters)"),
        ))
    }
}

// zmq-sys binds it but does not re-export it; the symbol is in the libzmq it links
extern "C" {
    fn zmq_curve_public(public: *mut libc::c_char, secret: *const libc::c_char) -> libc::c_int;
}

/// The public key of a Z85 secret key.
pub fn public_of(secret: &str) -> Result<String, CurveError> {
    let secret = key(secret, "secret key")?;
    let mut secret_c = [0u8; 41];
    secret_c[..40].copy_from_slice(secret.as_bytes());
    let mut public_c = [0u8; 41];
    // SAFETY: both buffers are 41 bytes, NUL-terminated Z85 text as zmq_curve_public requires.
    let rc = unsafe {
        zmq_curve_public(
            public_c.as_mut_ptr() as *mut libc::c_char,
            secret_c.as_ptr() as *const libc::c_char,
        )
    };
    if rc != 0 {
        return Err(err(
            "curve_unavailable",
            "libzmq was built without CURVE (see third_party/zmq-sys)",
        ));
    }
    Ok(String::from_utf8_lossy(&public_c[..40]).into_owned())
}

/// A new `(public, secret)` keypair in Z85.
pub fn generate_keypair() -> Result<(String, String), BusError> {
    let pair = zmq::CurveKeyPair::new()?;
    let encode = |bytes: &[u8]| zmq::z85_encode(bytes).expect("32 bytes encode");
    Ok((encode(&pair.public_key), encode(&pair.secret_key)))
}

/// `(public, secret)` from a certificate file (pyzmq's `zmq.auth.create_certificates` format), read
/// the way pyzmq's `load_certificate` reads it.
pub fn load_certificate(path: &Path) -> Result<(Option<String>, Option<String>), CurveError> {
    let text = fs::read_to_string(path).map_err(|e| {
        err(
            "curve_file_unreadable",
            format!("cannot read key file {}: {e}", path.display()),
        )
    })?;
    let (mut public, mut secret) = (None, None);
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        let value = || {
            line.split_once('=')
                .map(|(_, v)| v.trim_matches(|c| " \t'\"".contains(c)).to_owned())
        };
        if line.starts_with("public-key") {
            public = value().or(public);
        } else if line.starts_with("secret-key") {
            secret = value().or(secret);
        }
    }
    Ok((public, secret))
}
