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

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config_dir(flag: &str, prefix: &str) -> Option<PathBuf> {
    let out = Command::new("pkg-config").args([flag, "libsodium"]).output().ok()?;
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
            [multiarch.as_str(), "/usr/lib64", "/usr/lib", "/usr/local/lib"]
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
        .chain(["/usr/include", "/usr/local/include"].iter().map(PathBuf::from))
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
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib_dir, include_dir)))
        .build();
}

fn main() {
    configure()
}
