//! tradebridge's two changes to zmq-sys 0.12. The first: libzmq is built *with* CURVE, linked against the system's
//! libsodium (Debian's `libsodium-dev`, which `make dev` installs). The published crate passes
//! `with_libsodium(None)`, so its libzmq has no CURVE at all and every `set_curve_*` fails with EINVAL;
//! the bus's security (crates/tradebridge-bus/src/security/) needs it.
//!
//! The second: on Linux libzmq signals between a socket's thread and its I/O thread through an `eventfd`
//! (`ZMQ_HAVE_EVENTFD`), as libzmq's own CMake build and pyzmq's wheels configure it; zeromq-src's
//! build leaves it out, so every hand-off went through a Unix socketpair instead, four per round trip,
//! which cost the Rust echo about 10 us of p50 against a pyzmq echo (benches/bus/bench_bus.py).
//!
//! Where libsodium is: `SODIUM_LIB_DIR` / `SODIUM_INCLUDE_DIR` when set, else pkg-config's answer, else
//! the usual multiarch and /usr/local directories.
//!
//! A third addition: with `TRADEBRIDGE_LIBZMQ_CACHE` set (the Makefile points it into `target/`), a
//! finished libzmq is kept there, keyed by everything that goes into it, and reused. Cargo builds libzmq
//! once per hash of this build script, and that hash changes with the features its build dependencies
//! get elsewhere in the build: the frozen v1.0 peers that the mixed-version tests build from git would
//! otherwise compile libzmq's hundred C++ files again (about a minute on two cores).

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config_dir(flag: &str, prefix: &str) -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args([flag, "libsodium"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()?
        .split_whitespace()
        .find_map(|word| word.strip_prefix(prefix).map(PathBuf::from))
}

fn find_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = env::var("SODIUM_LIB_DIR") {
        return Some(PathBuf::from(dir));
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let multiarch = format!("/usr/lib/{arch}-{os}-gnu");
    pkg_config_dir("--libs-only-L", "-L")
        .into_iter()
        .chain(
            [
                multiarch.as_str(),
                "/usr/lib64",
                "/usr/lib",
                "/usr/local/lib",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .find(|dir| dir.join("libsodium.a").exists())
}

fn find_include_dir() -> PathBuf {
    if let Ok(dir) = env::var("SODIUM_INCLUDE_DIR") {
        return PathBuf::from(dir);
    }
    pkg_config_dir("--cflags-only-I", "-I")
        .into_iter()
        .chain(
            ["/usr/include", "/usr/local/include"]
                .iter()
                .map(PathBuf::from),
        )
        .find(|dir| dir.join("sodium.h").exists())
        .unwrap_or_else(|| PathBuf::from("/usr/include"))
}

/// libzmq's configuration for glibc/musl Linux that zeromq-src does not set (it takes no defines of
/// ours: they reach its `cc` build through the target's CXXFLAGS, which `cc` reads).
fn linux_signaler() {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let target = env::var("TARGET").expect("cargo sets TARGET for build scripts");
    let variable = format!("CXXFLAGS_{target}");
    let mut flags = env::var(&variable).unwrap_or_default();
    for define in ["ZMQ_HAVE_EVENTFD", "ZMQ_HAVE_EVENTFD_CLOEXEC"] {
        flags.push_str(&format!(" -D{define}=1"));
    }
    env::set_var(&variable, flags.trim_start());
}

pub fn configure() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    println!("cargo:rerun-if-env-changed=SODIUM_LIB_DIR");
    println!("cargo:rerun-if-env-changed=SODIUM_INCLUDE_DIR");

    let Some(lib_dir) = find_lib_dir() else {
        panic!(
            "libsodium (static library libsodium.a) not found: libzmq needs it for CURVE security. \
             Install it (Debian/Ubuntu: apt-get install libsodium-dev; `make dev` does) or point \
             SODIUM_LIB_DIR and SODIUM_INCLUDE_DIR at it."
        );
    };
    let include_dir = find_include_dir();
    assert!(
        Path::new(&include_dir).join("sodium.h").exists(),
        "sodium.h not found in {:?}: set SODIUM_INCLUDE_DIR",
        include_dir
    );
    linux_signaler();
    // zeromq-src prints its search path Debug-quoted, which cargo does not read: say it plainly here
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    let cache = Cache::new(&lib_dir, &include_dir);
    if let Some(cache) = &cache {
        if cache.reuse() {
            return;
        }
    }
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib_dir, include_dir)))
        .build();
    if let Some(cache) = &cache {
        cache.keep();
    }
}

/// Environment variables that change how cc compiles and links libzmq: a cached build is reused only
/// when none of the unusual ones is set, and the rest are part of its key.
const CC_INPUTS: &[&str] = &[
    "CXX",
    "CXXFLAGS",
    "CC",
    "CFLAGS",
    "AR",
    "OPT_LEVEL",
    "DEBUG",
    "TARGET",
];
const CC_UNUSUAL: &[&str] = &["CXXSTDLIB", "CRATE_CC_NO_DEFAULTS", "CC_FORCE_DISABLE"];

/// A libzmq build kept in `TRADEBRIDGE_LIBZMQ_CACHE/<key>` (see the module documentation).
struct Cache {
    dir: PathBuf,
}

impl Cache {
    fn new(sodium_lib: &Path, sodium_include: &Path) -> Option<Self> {
        println!("cargo:rerun-if-env-changed=TRADEBRIDGE_LIBZMQ_CACHE");
        let root = PathBuf::from(env::var_os("TRADEBRIDGE_LIBZMQ_CACHE")?);
        let target = env::var("TARGET").ok()?;
        let with_target = |name: &str| {
            [
                name.to_string(),
                format!("{name}_{target}"),
                format!("{name}_{}", target.replace('-', "_")),
            ]
        };
        if CC_UNUSUAL
            .iter()
            .flat_map(|name| with_target(name))
            .any(|name| env::var_os(name).is_some())
        {
            return None;
        }
        // The resolved zeromq-src (and cc) versions are in the workspace's lock file, two levels up.
        let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").ok()?).join("../../Cargo.lock");
        let mut key = DefaultHasher::new();
        fs::read(&lock).ok()?.hash(&mut key);
        include_str!("main.rs").hash(&mut key);
        include_str!("../Cargo.toml").hash(&mut key);
        (sodium_lib, sodium_include).hash(&mut key);
        for name in CC_INPUTS.iter().flat_map(|name| with_target(name)) {
            println!("cargo:rerun-if-env-changed={name}");
            (&name, env::var_os(&name)).hash(&mut key);
        }
        println!("cargo:rerun-if-changed={}", lock.display());
        Some(Self {
            dir: root.join(format!("{:016x}", key.finish())),
        })
    }

    /// Link against the kept build, printing what zeromq-src and cc print after a build; false if
    /// there is none.
    fn reuse(&self) -> bool {
        let lib = self.dir.join("lib");
        if !lib.join("libzmq.a").is_file() || !self.dir.join("include").join("zmq.h").is_file() {
            return false;
        }
        println!("cargo:rustc-link-lib=static=sodium");
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-lib=static=zmq");
        println!("cargo:rustc-link-lib=stdc++");
        println!("cargo:include={}", self.dir.join("include").display());
        println!("cargo:lib={}", lib.display());
        println!("cargo:out={}", self.dir.display());
        true
    }

    /// Copy the build just made into the cache: into a fresh directory first, then renamed into place,
    /// so that a build running beside this one sees all of it or nothing.
    fn keep(&self) {
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let staging = self
            .dir
            .with_extension(format!("tmp{}", std::process::id()));
        let copied = (|| -> std::io::Result<()> {
            fs::create_dir_all(staging.join("lib"))?;
            fs::copy(out.join("lib/libzmq.a"), staging.join("lib/libzmq.a"))?;
            fs::create_dir_all(staging.join("include"))?;
            for entry in fs::read_dir(out.join("source/include"))? {
                let entry = entry?;
                fs::copy(
                    entry.path(),
                    staging.join("include").join(entry.file_name()),
                )?;
            }
            fs::rename(&staging, &self.dir)
        })();
        if copied.is_err() {
            // another build kept it first, or the disk said no: this build is complete either way
            let _ = fs::remove_dir_all(&staging);
        }
    }
}

fn main() {
    configure()
}
