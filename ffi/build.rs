//! Gives libclustron.so its SONAME, `libclustron.so.<major>`: a program linked against it loads
//! a library of the same major version, installed as libclustron.so.<major>.<minor>.<patch>
//! with the usual symlinks (`make install-c`, the C tarball of `make dist`). A change that
//! breaks the C ABI takes a new major version, also before 1.0 (docs/VERSIONING.md).

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libclustron.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
