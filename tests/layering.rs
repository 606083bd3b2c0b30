//! The house stays as built: every import in `src/` points down the layers
//! (DESIGN.md), never up and never sideways between siblings.
//!
//! ```text
//! wire     frame, mask, utf8, close, token, error, time, entropy, buffer
//!   ^
//! extensions/                 (the extension grammar, permessage-deflate)
//!   ^
//! handshake/                  (HTTP/1.1, RFC 8441, proxies; negotiates extensions)
//!   ^
//! engine   connection/, config, event, assemble
//!   ^
//! adapters adapter (the shared core), io/, embedded/ (io and embedded never
//!          import each other)
//! ```
//!
//! Extensions sit below the handshake because negotiating them is part of
//! the opening handshake (RFC 6455 §9.1), while the extension grammar and
//! permessage-deflate itself know nothing of HTTP. The test reads every
//! file under `src/`, drops comments, resolves `crate::` and `super::`
//! paths to the top-level module they name, and fails on any that points
//! up or sideways. `crate::SomeType` (a root re-export) is refused too: it
//! would hide which module an item comes from.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of each top-level module; a higher number may import a lower
/// one (or its own layer's modules, except the pairs in `SIBLINGS`).
const LAYERS: &[(&str, u8)] = &[
    ("frame", 0),
    ("mask", 0),
    ("utf8", 0),
    ("close", 0),
    ("token", 0),
    ("error", 0),
    ("time", 0),
    ("entropy", 0),
    ("buffer", 0),
    ("extensions", 1),
    ("handshake", 2),
    ("connection", 3),
    ("config", 3),
    ("event", 3),
    ("assemble", 3),
    ("adapter", 4),
    ("io", 4),
    ("embedded", 4),
];

/// Same-layer modules that must not import each other.
const SIBLINGS: &[(&str, &str)] = &[("io", "embedded"), ("embedded", "io")];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `io/tokio/inner.rs` is
/// `[io, tokio, inner]`, a `mod.rs` names its folder.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments (line comments, doc comments and
/// block comments) and without the contents of string literals.
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut in_str) = (0, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_str {
            if c == b'\\' && i + 1 < bytes.len() {
                i += 2;
                continue;
            }
            in_str = c != b'"';
            out.push(if in_str { ' ' } else { '"' });
            i += 1;
        } else if c == b'"' && (i == 0 || bytes[i - 1] != b'\'') {
            in_str = true;
            out.push('"');
            i += 1;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            while i + 1 < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Every path in `code` that starts with `crate::` or `super::`, as the
/// top-level module it names (or `Err` with the root item it names).
/// `here` is the file's module path; inline modules (`mod x86 { .. }`) are
/// followed, so their `super::` names the file's own module.
fn referenced_modules(code: &str, here: &[String]) -> Vec<Result<String, String>> {
    let mut found = Vec::new();
    // Inline modules open at a brace depth: (name, depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut previous = String::new();
    let mut word = String::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            if previous == "mod" && !word.contains(':') {
                // `mod name {` opens an inline module; `mod name;` a file.
                let mut rest = chars.clone();
                while rest.peek().is_some_and(|c| c.is_whitespace()) {
                    rest.next();
                }
                if rest.peek() == Some(&'{') {
                    inline.push((word.clone(), depth + 1));
                }
            }
            let mut module: Vec<String> = here.to_vec();
            module.extend(inline.iter().map(|(name, _)| name.clone()));
            if let Some(top) = resolve(&word, &module) {
                found.push(top);
            }
            previous = std::mem::take(&mut word);
        }
        match c {
            '{' => depth += 1,
            '}' => {
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    found
}

/// The top-level module a `crate::`/`super::` path names, from `module`.
fn resolve(word: &str, module: &[String]) -> Option<Result<String, String>> {
    let segments: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
    let resolved: Vec<String> = match *segments.first()? {
        "crate" => segments[1..].iter().map(|s| s.to_string()).collect(),
        "super" => {
            let ups = segments.iter().take_while(|s| **s == "super").count();
            let mut base = module.to_vec();
            for _ in 0..ups {
                base.pop();
            }
            base.extend(segments[ups..].iter().map(|s| s.to_string()));
            base
        }
        _ => return None,
    };
    let top = resolved.first()?;
    Some(match top.starts_with(char::is_uppercase) {
        true => Err(top.clone()),
        false => Ok(top.clone()),
    })
}

#[test]
fn imports_only_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let here = module_path(&src, file);
        let Some(top) = here.first() else {
            continue; // lib.rs re-exports every layer at the root.
        };
        let own = layer(top)
            .unwrap_or_else(|| panic!("{}: module {top} has no layer in LAYERS", file.display()));
        let code = strip_comments(&fs::read_to_string(file).unwrap());
        for target in referenced_modules(&code, &here) {
            let rel = file.strip_prefix(&src).unwrap().display().to_string();
            match target {
                Err(item) => violations.push(format!(
                    "{rel}: `crate::{item}` names a root re-export; use its module path"
                )),
                Ok(target) if target == *top => {}
                Ok(target) => {
                    *seen.entry(format!("{top} -> {target}")).or_default() += 1;
                    let Some(theirs) = layer(&target) else {
                        violations.push(format!("{rel}: `{target}` has no layer"));
                        continue;
                    };
                    if theirs > own {
                        violations.push(format!(
                            "{rel}: {top} (layer {own}) imports {target} (layer {theirs}), up the layers"
                        ));
                    }
                    if SIBLINGS.contains(&(top.as_str(), target.as_str())) {
                        violations.push(format!("{rel}: {top} imports its sibling {target}"));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
    // The test must see the arrows it guards, or it guards nothing.
    for arrow in [
        "handshake -> extensions",
        "connection -> handshake",
        "io -> connection",
        "embedded -> adapter",
    ] {
        assert!(
            seen.contains_key(arrow),
            "expected to see {arrow}: {seen:?}"
        );
    }
}

/// The checker itself: an upward import and a root re-export are caught,
/// comments and strings are ignored, `super` climbs as Rust does.
#[test]
fn the_checker_sees_what_it_should() {
    let here = vec!["handshake".to_string(), "http".to_string()];
    let code = strip_comments(
        "use crate::connection::Connection; // crate::io::blocking\n\
         /* crate::embedded */ use super::super::io::Error; fn f() -> crate::Config {}\n\
         let s = \"crate::assemble\"; use super::server::Accept;\n\
         mod inner { use super::super::accept::AcceptKey; fn g() { if x { } } }\n\
         use super::super::frame::Opcode;",
    );
    let found = referenced_modules(&code, &here);
    assert_eq!(
        found,
        vec![
            Ok("connection".to_string()),
            Ok("io".to_string()),
            Err("Config".to_string()),
            Ok("handshake".to_string()),
            Ok("handshake".to_string()),
            Ok("frame".to_string()),
        ]
    );
}
