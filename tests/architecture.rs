//! The module layering of `src/lib.rs`, enforced: every `crate::X` a module uses must sit in a lower
//! layer, so dependencies point one way and no cycle can come back.

use std::collections::BTreeSet;
use std::path::Path;

/// Layer of each top-level module (higher layers may use lower ones, never the reverse).
const LAYERS: &[(&str, u32)] = &[
    ("atomic_file", 0),
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
    ("cli", 6),
    ("app", 6),
    ("commands", 7),
];

fn layer(module: &str) -> u32 {
    LAYERS.iter().find(|(m, _)| *m == module).unwrap_or_else(|| panic!("module `{module}` has no layer")).1
}

/// `crate::X` paths used in a module's files, X ≠ the module.
fn uses(dir: &Path, module: &str, found: &mut BTreeSet<(String, String)>) {
    let path = dir.join(module);
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut stack = vec![path];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        files
    } else {
        vec![dir.join(format!("{module}.rs"))]
    };
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != module && LAYERS.iter().any(|(m, _)| *m == name) {
                found.insert((module.to_string(), name));
            }
        }
    }
}

#[test]
fn modules_depend_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Every module the library declares has a layer.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';')).collect();
    assert_eq!(declared.len(), LAYERS.len(), "{declared:?}");
    let mut edges = BTreeSet::new();
    for m in &declared {
        layer(m);
        uses(&src, m, &mut edges);
    }
    let upward: Vec<String> = edges
        .iter()
        .filter(|(from, to)| layer(from) <= layer(to))
        .map(|(from, to)| format!("{from} (layer {}) uses {to} (layer {})", layer(from), layer(to)))
        .collect();
    assert!(upward.is_empty(), "dependencies against the layering:\n{}", upward.join("\n"));
    // The check sees real edges (it would pass vacuously on a parser that found none).
    assert!(edges.contains(&("pipeline".to_string(), "train".to_string())));
}
