//! The C header (`include/eqpipe_plugin.h`) is generated from this crate
//! with cbindgen: this test regenerates it and fails if the committed copy
//! differs, so the header can never drift from the Rust declarations.
//! `EQPIPE_UPDATE_HEADER=1 cargo test -p eqpipe-plugin-abi --test header`
//! rewrites it.

use std::path::Path;

#[test]
fn the_c_header_is_generated_from_this_crate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/eqpipe_plugin.h");
    if std::env::var_os("EQPIPE_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the ABI crate: run EQPIPE_UPDATE_HEADER=1 cargo test -p eqpipe-plugin-abi --test header",
        path.display()
    );
}
