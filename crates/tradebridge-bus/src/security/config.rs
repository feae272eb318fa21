//! The keys and allow-list a process runs with ([`Curve`]), and the one rule that reads them from
//! flags and the environment ([`resolve`]).

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::Path;

use super::keys::{err, is_z85_key, key, load_certificate, public_of, CurveError};

pub const ENV_SECRET: &str = "TRADEBRIDGE_CURVE_SECRET_KEY";
pub const ENV_PUBLIC: &str = "TRADEBRIDGE_CURVE_PUBLIC_KEY";
pub const ENV_SERVER: &str = "TRADEBRIDGE_CURVE_SERVER_KEY";
pub const ENV_ALLOW: &str = "TRADEBRIDGE_CURVE_ALLOW";

/// Who a binding socket admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow {
    /// Every CURVE client (encrypted, not authorised): `TRADEBRIDGE_CURVE_ALLOW=*`.
    Any,
    /// These client public keys (Z85).
    Keys(BTreeSet<String>),
}

impl Allow {
    pub(super) fn admits(&self, client: &str) -> bool {
        match self {
            Allow::Any => true,
            Allow::Keys(keys) => keys.contains(client),
        }
    }
}

/// CURVE keys of one process, for every socket it makes (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
pub struct Curve {
    pub(super) secret: String,
    pub(super) public: String,
    pub(super) server_public: Option<String>,
    pub(super) allow: Option<Allow>,
}

impl fmt::Debug for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the secret key never reaches a log line
        f.debug_struct("Curve")
            .field("public", &self.public)
            .field("server_public", &self.server_public)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Curve {
    /// Keys from a secret key (Z85), the server's public key and an allow-list; checks every key.
    pub fn new(
        secret: &str,
        server_public: Option<&str>,
        allow: Option<Allow>,
    ) -> Result<Self, CurveError> {
        let public = public_of(secret)?;
        let server_public = server_public.map(|k| key(k, "server key")).transpose()?;
        if let Some(Allow::Keys(keys)) = &allow {
            for k in keys {
                key(k, "allowed key")?;
            }
        }
        Ok(Curve {
            secret: secret.to_owned(),
            public,
            server_public,
            allow,
        })
    }

    /// Keys for a process whose sockets bind.
    pub fn server(secret: &str, allow: Allow) -> Result<Self, CurveError> {
        Self::new(secret, None, Some(allow))
    }

    /// Keys for a process whose sockets connect to `server_public`.
    pub fn client(server_public: &str, secret: &str) -> Result<Self, CurveError> {
        Self::new(secret, Some(server_public), None)
    }

    /// [`resolve`] with the process environment: `None` when neither the flags nor the environment
    /// configure any key (plaintext).
    pub fn from_env(flags: &CurveFlags) -> Result<Option<Self>, CurveError> {
        resolve(flags, &|name| std::env::var(name).ok())
    }

    pub fn public(&self) -> &str {
        &self.public
    }

    pub fn server_public(&self) -> Option<&str> {
        self.server_public.as_deref()
    }

    pub fn allow(&self) -> Option<&Allow> {
        self.allow.as_ref()
    }
}

/// The command-line side of [`resolve`]: each, when given and not empty, wins over its variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurveFlags {
    /// `--curve-secret-key FILE`: a secret certificate file
    pub secret_key_file: Option<String>,
    /// `--curve-server-key FILE`: the server's public certificate file
    pub server_key_file: Option<String>,
    /// `--curve-allow DIR|KEYS|*`: a directory of `*.key` files, a comma list of keys, or `*`
    pub allow: Option<String>,
}

fn from_file(path: &str, what: &str, want_secret: bool) -> Result<String, CurveError> {
    let (public, secret) = load_certificate(Path::new(path))?;
    let found = if want_secret {
        secret.clone()
    } else {
        public.clone()
    };
    let found = found.filter(|k| !k.is_empty()).ok_or_else(|| {
        let kind = if want_secret {
            "secret-key"
        } else {
            "public-key"
        };
        err(
            "curve_file_no_key",
            format!("{what} file {path} has no {kind} line"),
        )
    })?;
    key(&found, &format!("the key in {path}"))?;
    if want_secret {
        if let Some(public) = public.filter(|k| !k.is_empty()) {
            key(&public, &format!("the public key in {path}"))?;
            if public_of(&found)? != public {
                return Err(err(
                    "curve_key_mismatch",
                    format!("the public key in {path} is not its secret key's"),
                ));
            }
        }
    }
    Ok(found)
}

fn text_or_file(value: &str, what: &str, want_secret: bool) -> Result<String, CurveError> {
    if is_z85_key(value) {
        Ok(value.to_owned())
    } else {
        from_file(value, what, want_secret)
    }
}

fn allow_list(value: &str) -> Result<Allow, CurveError> {
    let value = value.trim();
    if value == "*" {
        return Ok(Allow::Any);
    }
    let mut keys = BTreeSet::new();
    let dir = Path::new(value);
    if dir.is_dir() {
        let mut paths: Vec<_> = fs::read_dir(dir)
            .map_err(|e| err("curve_file_unreadable", format!("cannot read {value}: {e}")))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .collect();
        paths.sort();
        for path in paths {
            let (public, _) = load_certificate(&path)?;
            let public = public.filter(|k| !k.is_empty()).ok_or_else(|| {
                err(
                    "curve_file_no_key",
                    format!("allowed key file {} has no public-key line", path.display()),
                )
            })?;
            keys.insert(key(&public, &format!("the key in {}", path.display()))?);
        }
    } else {
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            keys.insert(key(item, "allowed key")?);
        }
    }
    if keys.is_empty() {
        return Err(err(
            "curve_allow_empty",
            "the allow-list holds no key (use * to allow any client)",
        ));
    }
    Ok(Allow::Keys(keys))
}

/// The CURVE keys a process runs with, from its flags and environment (`env` looks a variable up);
/// `None`: no security configured. The rule is `conformance/vectors/curve/README.md`'s.
pub fn resolve(
    flags: &CurveFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Curve>, CurveError> {
    let pick = |flag: &Option<String>, variable: &str| -> (Option<String>, bool) {
        match flag.as_deref().filter(|v| !v.is_empty()) {
            Some(value) => (Some(value.to_owned()), true),
            None => (env(variable).filter(|v| !v.is_empty()), false),
        }
    };
    let (secret_value, secret_is_flag) = pick(&flags.secret_key_file, ENV_SECRET);
    let (server_value, server_is_flag) = pick(&flags.server_key_file, ENV_SERVER);
    let (allow_value, _) = pick(&flags.allow, ENV_ALLOW);
    let Some(secret_value) = secret_value else {
        if server_value.is_some() || allow_value.is_some() {
            // half a configuration must not quietly run in plaintext
            return Err(err(
                "curve_secret_missing",
                format!("a server key or allow-list is set but no secret key ({ENV_SECRET})"),
            ));
        }
        return Ok(None);
    };
    let secret = if secret_is_flag {
        from_file(&secret_value, "secret key", true)?
    } else {
        text_or_file(&secret_value, "secret key", true)?
    };
    let public = public_of(&secret)?;
    if let Some(declared) = env(ENV_PUBLIC).filter(|v| !v.is_empty()) {
        if key(&declared, ENV_PUBLIC)? != public {
            return Err(err(
                "curve_key_mismatch",
                format!("{ENV_PUBLIC} is not the secret key's public key"),
            ));
        }
    }
    let server_public = match server_value {
        Some(value) if server_is_flag => Some(from_file(&value, "server key", false)?),
        Some(value) => Some(text_or_file(&value, "server key", false)?),
        None => None,
    };
    let allow = allow_value.as_deref().map(allow_list).transpose()?;
    if server_public.is_none() && allow.is_none() {
        return Err(err(
            "curve_role_missing",
            format!(
                "a secret key alone secures nothing: set an allow-list ({ENV_ALLOW}) to bind, \
                 a server key ({ENV_SERVER}) to connect"
            ),
        ));
    }
    Ok(Some(Curve {
        secret,
        public,
        server_public,
        allow,
    }))
}
