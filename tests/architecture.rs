//! The module layering of `src/lib.rs`, enforced: every path a module uses into another top-level module
//! must point to a lower layer, so dependencies point one way and no cycle can come back; and inside a
//! module, its files must not use each other in a cycle.
//!
//! Paths are read from the source text: `crate::a::b`, grouped `crate::{a::X, b::{Y, Z}}`, and
//! `super::` (resolved against the file's place, so `super::x` in a top-level file is the crate's `x`).
//! The checker itself is tested on planted sources (an upward import, a grouped one, one through
//! `super::`, a private module, a cycle between two files), so a blind spot shows as a failing test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layer of each top-level module (higher layers may use lower ones, never the reverse).
const LAYERS: &[(&str, u32)] = &[
    ("atomic_file", 0),
    ("browser", 0),
    ("camera", 0),
    ("gpu", 0),
    ("metrics", 0),
    ("weights", 1),
    ("machine", 1),
    ("video", 1),
    ("dataset", 1),
    ("gaussians", 1),
    ("render", 2),
    ("export", 3),
    ("generate", 3),
    ("interpolate", 3),
    ("train", 4),
    ("pipeline", 5),
    ("gpu_check", 5),
    ("app", 6),
    // The binary's modules (`src/main.rs`): above the library, which cannot name them.
    ("cli", 7),
    ("commands", 8),
];

/// Modules of the binary crate, not declared in `lib.rs`.
const BINARY: &[&str] = &["cli", "commands"];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|l| l.1)
}

/// One source file: its module path (`["render", "raster"]`; a `mod.rs` is its folder's path) and text.
struct Source {
    module: Vec<String>,
    text: String,
}

/// Every `.rs` file under `src` (the crate root files `lib.rs` and `main.rs` excluded).
fn read_tree(src: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().to_string()).collect();
            let file = module.pop().unwrap();
            match file.as_str() {
                "lib.rs" | "main.rs" if module.is_empty() => continue,
                "mod.rs" => {}
                other => module.push(other.trim_end_matches(".rs").to_string()),
            }
            out.push(Source { module, text: std::fs::read_to_string(&path).unwrap() });
        }
    }
    out
}

/// Comments removed (a path named in prose is not a use).
fn code_only(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// A file's production code: its unit-test module (by convention last, after `#[cfg(test)]`) may
/// exercise sibling files together, which is no dependency of the module's code.
fn production(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |i| &text[..i])
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The paths after `prefix` (`crate::`, `super::`) in `code`, as segment lists; a group `{a::X, b}`
/// gives one path per member.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        // `super::super::` is read from its first `super::`.
        if prefix == "super::" && code[..i].ends_with("super::") {
            continue;
        }
        let mut supers = 0;
        let mut rest = &code[i + prefix.len()..];
        while prefix == "super::" && rest.starts_with("super::") {
            supers += 1;
            rest = &rest["super::".len()..];
        }
        for mut path in expand(rest) {
            let ups = vec!["super".to_string(); supers];
            path.splice(0..0, ups);
            out.push(path);
        }
    }
    out
}

/// `a::b::X`, `a::{b, c::D}` or `{a::X, b}` at the start of `rest` → each full path (segments only).
fn expand(rest: &str) -> Vec<Vec<String>> {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut members = Vec::new();
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    members.push(&inner[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    members.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return members.into_iter().filter(|m| !m.trim().is_empty()).flat_map(expand).collect();
    }
    let head = ident(rest);
    if head.is_empty() {
        return Vec::new();
    }
    let after = &rest[head.len()..];
    match after.strip_prefix("::") {
        Some(tail) => {
            let tails = expand(tail);
            if tails.is_empty() {
                vec![vec![head]]
            } else {
                tails.into_iter().map(|t| std::iter::once(head.clone()).chain(t).collect()).collect()
            }
        }
        None => vec![vec![head]],
    }
}

/// Every path a file uses, made absolute (from the crate root; the binary's `efficient4d::` paths name
/// the library's modules the same way).
fn absolute_paths(source: &Source) -> Vec<Vec<String>> {
    let code = code_only(&source.text);
    let mut out = paths_after(&code, "crate::");
    out.extend(paths_after(&code, "efficient4d::"));
    for path in paths_after(&code, "super::") {
        // `super` is the parent of the file's module; each further `super` one more up.
        let ups = 1 + path.iter().take_while(|s| *s == "super").count();
        if ups > source.module.len() {
            continue;
        }
        let base = &source.module[..source.module.len() - ups];
        out.push(base.iter().cloned().chain(path.into_iter().skip(ups - 1)).collect());
    }
    out
}

/// Upward or sideways edges between top-level modules: `from (layer) uses to (layer)`.
fn layering_violations(sources: &[Source]) -> (BTreeSet<(String, String)>, Vec<String>) {
    let mut edges = BTreeSet::new();
    for s in sources {
        let from = &s.module[0];
        for path in absolute_paths(s) {
            let to = &path[0];
            if to != from && layer(to).is_some() {
                edges.insert((from.clone(), to.clone()));
            }
        }
    }
    let bad = edges
        .iter()
        .filter(|(from, to)| layer(from).unwrap_or(u32::MAX) <= layer(to).unwrap())
        .map(|(from, to)| format!("{from} (layer {:?}) uses {to} (layer {:?})", layer(from), layer(to)))
        .collect();
    (edges, bad)
}

/// Cycles between files of one module: each file's edges go to the sibling files (not the module's
/// own `mod.rs`, whose re-exports and shared items every child may use) whose module its paths name.
/// Unit-test modules are left out ([`production`]); the layering above counts them.
fn file_cycles(sources: &[Source]) -> Vec<String> {
    let files: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for s in sources {
        let code = Source { module: s.module.clone(), text: production(&s.text).to_string() };
        for path in absolute_paths(&code) {
            // The longest prefix of the path that is a file: the file it uses.
            let Some(target) = (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| files.contains(p)) else {
                continue;
            };
            let siblings = target.len() == s.module.len()
                && target.len() >= 2
                && target[..target.len() - 1] == s.module[..s.module.len() - 1];
            if siblings && target != s.module {
                graph.entry(s.module.clone()).or_default().insert(target);
            }
        }
    }
    let mut cycles = Vec::new();
    for (a, targets) in &graph {
        for b in targets {
            if a < b && graph.get(b).is_some_and(|back| back.contains(a)) {
                cycles.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    // Longer cycles: a path from a target back to its source.
    for (a, targets) in &graph {
        for b in targets {
            let mut seen = BTreeSet::new();
            let mut stack = vec![b.clone()];
            while let Some(n) = stack.pop() {
                if &n == a && !cycles.iter().any(|c| c.contains(&a.join("::"))) {
                    cycles.push(format!("{} -> {} -> ... -> {}", a.join("::"), b.join("::"), a.join("::")));
                    break;
                }
                if seen.insert(n.clone()) {
                    stack.extend(graph.get(&n).into_iter().flatten().cloned());
                }
            }
        }
    }
    cycles
}

/// The top-level modules `lib.rs` declares, public or not.
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .map(str::trim)
        .filter_map(|l| {
            let l = l.strip_prefix("pub ").or_else(|| l.strip_prefix("pub(crate) ")).unwrap_or(l);
            Some(l.strip_prefix("mod ")?.strip_suffix(';')?.to_string())
        })
        .collect()
}

#[test]
fn modules_depend_downward_only_and_no_files_of_a_module_form_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared = declared_modules(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let unlayered: Vec<&String> = declared.iter().filter(|m| layer(m).is_none()).collect();
    assert!(unlayered.is_empty(), "modules without a layer: {unlayered:?}");
    assert_eq!(declared.len() + BINARY.len(), LAYERS.len(), "{declared:?}");
    let main = std::fs::read_to_string(src.join("main.rs")).unwrap();
    assert_eq!(declared_modules(&main), BINARY, "the binary's modules");
    let sources = read_tree(&src);
    let (edges, upward) = layering_violations(&sources);
    assert!(upward.is_empty(), "dependencies against the layering:\n{}", upward.join("\n"));
    // The check sees real edges (it would pass vacuously on a parser that found none).
    assert!(edges.contains(&("pipeline".to_string(), "train".to_string())));
    let cycles = file_cycles(&sources);
    assert!(cycles.is_empty(), "files of one module using each other:\n{}", cycles.join("\n"));
}

fn planted(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(module, text)| Source { module: module.split("::").map(String::from).collect(), text: text.to_string() })
        .collect()
}

#[test]
fn the_checker_sees_every_kind_of_planted_upward_use() {
    for (what, file, text) in [
        ("a plain path", "render::raster", "use crate::train::TrainConfig;"),
        ("a grouped import", "render::raster", "use crate::{camera::Camera, train::TrainConfig};"),
        ("a nested group", "render", "use crate::{camera::{Camera, rig}, pipeline::{Event}};"),
        ("an inline path", "video", "fn f() { let _ = crate::app::App::new; }"),
        ("super:: from a top-level file", "gpu", "use super::pipeline::Control;"),
        ("super::super:: from a nested file", "render::bench::x", "use super::super::super::app::App;"),
        ("the library naming the binary", "app", "use crate::commands::dispatch;"),
        ("the binary's path to the library, sideways", "cli", "use efficient4d::commands::x;"),
    ] {
        let (_, bad) = layering_violations(&planted(&[(file, text)]));
        assert_eq!(bad.len(), 1, "{what}: {bad:?}");
    }
    // Allowed: downward, within the module, and names in comments.
    let ok = planted(&[
        ("train", "use crate::{render::Rasterizer, gaussians::{Gaussians4d}};\nuse super::pipeline_like;"),
        ("render::raster", "use super::gpu_sizes::X; // crate::app::App is not used"),
    ]);
    assert!(layering_violations(&ok).1.is_empty());
    // A private module of lib.rs is declared like a public one.
    assert_eq!(declared_modules("pub mod a;\nmod b;\npub(crate) mod c;\n"), ["a", "b", "c"]);
}

#[test]
fn the_checker_finds_a_planted_cycle_between_files_of_a_module() {
    let two = planted(&[
        ("render::raster", "use super::gpu_sizes::TileSizes;"),
        ("render::gpu_sizes", "use crate::render::raster::Rasterizer;"),
        ("render", "pub use raster::Rasterizer;"),
    ]);
    assert_eq!(file_cycles(&two).len(), 1, "{:?}", file_cycles(&two));
    let three = planted(&[
        ("render::a", "use super::b::X;"),
        ("render::b", "use super::c::Y;"),
        ("render::c", "use crate::render::{a::Z};"),
    ]);
    assert!(!file_cycles(&three).is_empty());
    // Children using their module's root (re-exports, shared items) is not a cycle, nor is a unit test
    // using a sibling.
    let root = planted(&[("render::raster", "use super::Shared;"), ("render", "pub use raster::Rasterizer;")]);
    assert!(file_cycles(&root).is_empty());
    let test_only = planted(&[
        ("train::init", "use super::carve::Carver;"),
        ("train::carve", "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::train::init::initial;\n}"),
    ]);
    assert!(file_cycles(&test_only).is_empty());
}
