//! include/clustron.h is generated from this crate by cbindgen and committed. This test fails
//! when the committed header differs from what the code generates; `make header` (this test
//! with CLUSTRON_UPDATE_HEADER=1) rewrites it.

use std::path::PathBuf;

#[test]
fn committed_header_matches_the_code() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    // The version macros come from the one version of every artifact (the workspace's
    // Cargo.toml), so a release that bumps it regenerates them.
    config.after_includes = Some(format!(
        "\n/** The version of this header (clustron_version() gives the library's). */\n\
         #define CLUSTRON_VERSION_MAJOR {}\n#define CLUSTRON_VERSION_MINOR {}\n#define CLUSTRON_VERSION_PATCH {}\n\
         #define CLUSTRON_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    ));
    let mut generated = Vec::new();
    cbindgen::generate_with_config(&crate_dir, config).expect("the header generates").write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = crate_dir.join("../include/clustron.h");
    if std::env::var_os("CLUSTRON_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/clustron.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/clustron.h is out of date with ffi/src: run `make header` and commit the result"
    );
}
