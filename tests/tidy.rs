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
            // `eqpipe.sql`, the DuckDB views' file, is a file name, not a key.
            if line.replace("\"eqpipe.sql\"", "").contains(needle) {
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

/// The host's rooms stay small enough to read: no module over this many
/// lines (its test module aside).
const MAX_MODULE_LINES: usize = 800;
/// Nor a function over this many, unless a `// Long:` comment just above
/// it (or on its first line) says why it reads better whole.
const MAX_FUNCTION_LINES: usize = 120;

#[test]
fn host_modules_stay_under_800_lines() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter_map(|(file, code)| {
            let n = code.lines().count();
            (n > MAX_MODULE_LINES).then(|| format!("{file}: {n} lines"))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "split these modules (at most {MAX_MODULE_LINES} lines each):\n{}",
        bad.join("\n")
    );
}

#[test]
fn long_functions_say_why() {
    let mut bad = Vec::new();
    let mut seen = 0;
    for (file, code) in sources() {
        for f in functions(&code) {
            seen += 1;
            if f.lines <= MAX_FUNCTION_LINES {
                continue;
            }
            let lines: Vec<&str> = code.lines().collect();
            let above = lines[f.start.saturating_sub(8)..=f.start.min(lines.len() - 1) + 1]
                .iter()
                .any(|l| l.trim_start().starts_with("// Long:"));
            if !above {
                bad.push(format!(
                    "{file}:{}: `{}` is {} lines",
                    f.start + 1,
                    f.name,
                    f.lines
                ));
            }
        }
    }
    assert!(seen > 500, "found the host's functions: {seen}");
    assert!(
        bad.is_empty(),
        "split these functions (at most {MAX_FUNCTION_LINES} lines), or say why beside them with a `// Long:` comment:\n{}",
        bad.join("\n")
    );
}

/// A function found in source text: its name, first line (0-based) and
/// length in lines.
struct Function {
    name: String,
    start: usize,
    lines: usize,
}

/// Every `fn` with a body, by matching braces outside comments, strings
/// and character literals.
fn functions(code: &str) -> Vec<Function> {
    let b = code.as_bytes();
    // Per byte: its line, and whether it is code (not comment or literal).
    let mut line = 0usize;
    let mut lines = vec![0usize; b.len()];
    let mut is_code = vec![true; b.len()];
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let skip_to = if b[i..].starts_with(b"//") {
            i + b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .unwrap_or(b.len() - i)
        } else if b[i..].starts_with(b"/*") {
            i + 2 + code[i + 2..].find("*/").map_or(b.len() - i - 2, |p| p + 2)
        } else if b[i] == b'r'
            && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#"))
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_')
        {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                body + code[body..]
                    .find(&close)
                    .map_or(b.len() - body, |p| p + close.len())
            } else {
                i + 1
            }
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if b[i] == b'\'' {
            // A character literal ('x', '\n', '{'), not a lifetime.
            if b.get(i + 1) == Some(&b'\\') {
                i + 2
                    + b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map_or(0, |p| p + 1)
            } else if b.get(i + 2) == Some(&b'\'') {
                i + 3
            } else {
                i + 1
            }
        } else {
            i + 1
        };
        let skip_to = skip_to.min(b.len());
        for k in start..skip_to {
            lines[k] = line;
            is_code[k] = skip_to == start + 1 && !(b[start] == b'\'' || b[start] == b'"');
            if b[k] == b'\n' {
                line += 1;
            }
        }
        i = skip_to.max(start + 1);
    }
    let mut out = Vec::new();
    let mut k = 0;
    while let Some(p) = code[k..].find("fn ") {
        let at = k + p;
        k = at + 3;
        if !is_code[at] || (at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_')) {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body: the first `{` in code before any `;` (a declaration
        // without a body has none), then its match.
        let mut j = at;
        while j < b.len() && !(is_code[j] && (b[j] == b'{' || b[j] == b';')) {
            j += 1;
        }
        if j >= b.len() || b[j] == b';' {
            continue;
        }
        let open = j;
        let mut depth = 0i64;
        while j < b.len() {
            if is_code[j] {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0 {
                break;
            }
            j += 1;
        }
        let end = j.min(b.len() - 1);
        out.push(Function {
            name,
            start: lines[at],
            lines: lines[end] - lines[at] + 1,
        });
        let _ = open;
    }
    out
}
