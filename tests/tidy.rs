//! Tidy tests (rust-analyzer's habit): the host's architecture invariants,
//! checked on its source text by `cargo test`. Each names the rule and
//! every place that breaks it. Test modules (`#[cfg(test)] mod tests`, at
//! the end of each file) are not scanned.

use std::path::{Path, PathBuf};

fn pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every host source file (relative to `pipeline/`) and its text up to its
/// test module.
fn sources() -> Vec<(String, String)> {
    let root = pipeline();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if !rel.contains("/src/") {
                    continue; // benches
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                out.push((rel, code));
            }
        }
    }
    out.sort();
    assert!(out.len() > 40, "found the host's sources: {}", out.len());
    out
}

/// Lines of code (not comments) containing `needle`, outside `allowed`.
fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, code) in sources() {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        for (i, line) in code.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("//") {
                continue;
            }
            if line.contains(needle) {
                bad.push(format!("{file}:{}: {}", i + 1, t));
            }
        }
    }
    bad
}

#[test]
fn provenance_keys_are_spelled_only_in_core_provenance() {
    let bad = offenders("\"eqpipe.", &["core/src/provenance.rs"]);
    assert!(
        bad.is_empty(),
        "use eqpipe_core::provenance::keys:\n{}",
        bad.join("\n")
    );
}

#[test]
fn output_folder_names_are_spelled_only_in_core_layout() {
    for name in [
        "\"part-0.parquet\"",
        "\"restricted\"",
        "\"versions\"",
        "\"partner=",
        "partner={",
        "join(\"datasets\")",
        "join(\"indicators\")",
        "join(\"runs\")",
        "\"quarantine\"",
        "\".state\"",
        "\".cache\"",
        "\".uploads",
        "\"catalog.json\"",
        "\"metrics.prom\"",
        "\"schedules.json\"",
        "\"report\"",
    ] {
        let bad = offenders(name, &["core/src/layout.rs"]);
        assert!(
            bad.is_empty(),
            "{name}: use eqpipe_core::layout:\n{}",
            bad.join("\n")
        );
    }
}

#[test]
fn only_the_plugin_host_uses_unsafe_code() {
    // The CLI sets the demo's key variable before any thread starts.
    let allowed = ["plugin-host/", "cli/src/commands/demo.rs"];
    let mut bad = offenders("unsafe ", &allowed);
    bad.extend(offenders("unsafe{", &allowed));
    assert!(
        bad.is_empty(),
        "unsafe outside plugin-host:\n{}",
        bad.join("\n")
    );
    for krate in ["core", "store", "publish", "engine"] {
        let lib = std::fs::read_to_string(pipeline().join(krate).join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "{krate}/src/lib.rs must forbid unsafe code"
        );
    }
    let main = std::fs::read_to_string(pipeline().join("cli/src/main.rs")).unwrap();
    assert!(
        main.contains("#![deny(unsafe_code)]"),
        "cli denies unsafe code"
    );
}

#[test]
fn core_does_no_io_beyond_config_files_and_fsio() {
    let io_files = [
        "core/src/config/mod.rs",
        "core/src/config/objectives.rs",
        "core/src/fsio.rs",
    ];
    let mut bad = Vec::new();
    for (file, code) in sources() {
        if !file.starts_with("core/") || io_files.contains(&file.as_str()) {
            continue;
        }
        for needle in [
            "std::fs",
            "File::",
            "std::net",
            "std::process",
            "OpenOptions",
        ] {
            if code.contains(needle) {
                bad.push(format!("{file}: {needle}"));
            }
        }
    }
    for (file, code) in sources() {
        if file.starts_with("core/") && code.contains("env::var") {
            bad.push(format!("{file}: reads an environment variable"));
        }
    }
    assert!(bad.is_empty(), "I/O in eqpipe-core:\n{}", bad.join("\n"));
}

#[test]
fn the_host_crates_depend_one_way() {
    // cli -> engine -> {publish, plugin-host} -> store -> core (Cargo
    // refuses cycles; this holds the direction, so no lower crate grows a
    // dependency on a higher one).
    let order = ["core", "store", "plugin-host", "publish", "engine", "cli"];
    let allowed: &[(&str, &[&str])] = &[
        ("core", &[]),
        ("store", &["core"]),
        ("plugin-host", &["core", "store"]),
        ("publish", &["core", "store"]),
        ("engine", &["core", "store", "plugin-host", "publish"]),
        ("cli", &["core", "store", "engine"]),
    ];
    for (krate, deps) in allowed {
        let toml = std::fs::read_to_string(pipeline().join(krate).join("Cargo.toml")).unwrap();
        for other in order {
            let name = if other == "cli" {
                continue;
            } else {
                format!("eqpipe-{other}")
            };
            let uses = toml.lines().any(|l| {
                l.trim_start().starts_with(&format!("{name}."))
                    || l.trim_start().starts_with(&format!("{name} ="))
            });
            if uses && !deps.contains(&other) {
                panic!("{krate} depends on {name}, against the one-way order");
            }
        }
    }
}
