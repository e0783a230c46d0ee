//! The crate's layering as a test: which top-level module imports which, read from the source
//! (`crate::x` paths, `use crate::{x, y::…}` groups), must have no cycle, and the toolkit,
//! settings and state import no surface.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("below src");
            let first = relative.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&path).expect("source is text");
            let named = graph.entry(module.clone()).or_default();
            named.extend(crate_paths(&text).into_iter().filter(|m| *m != module));
        }
    }
    graph
}

/// The first segment of every `crate::` path in `text`, groups included.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => found.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            found.push(item);
        } else {
            found.push(rest.to_string());
        }
    }
    found
        .iter()
        .map(|path| {
            let path = path.trim_start();
            let end = path
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(path.len());
            path[..end].to_string()
        })
        .filter(|m| !m.is_empty() && m != "self")
        .collect()
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = imports();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<Vec<&String>> = vec![vec![start]];
        while let Some(route) = pending.pop() {
            let last = route[route.len() - 1];
            for next in graph.get(last).into_iter().flatten() {
                assert!(
                    next != start,
                    "import cycle: {} → {next}",
                    route
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(" → ")
                );
                if seen.insert(next) {
                    let mut longer = route.clone();
                    longer.push(next);
                    pending.push(longer);
                }
            }
        }
    }
}

/// The modules that serve requests, and what composes them.
const SURFACES: [&str; 6] = ["api", "incust", "loymax", "kupikupi", "ecommpay", "cabinet"];
const COMPOSITION: [&str; 5] = ["jobs", "demo", "server", "bench", "cli"];

#[test]
fn the_toolkit_settings_and_state_import_no_surface() {
    let graph = imports();
    for low in [
        "http", "config", "seal_key", "state", "outbox", "secrets", "shutdown",
    ] {
        let named = graph.get(low).cloned().unwrap_or_default();
        for high in SURFACES.iter().chain(&COMPOSITION) {
            assert!(!named.contains(*high), "{low} imports {high}");
        }
    }
}

#[test]
fn a_surface_imports_no_other_surface_and_nothing_that_composes_them() {
    let graph = imports();
    for surface in SURFACES {
        let named = graph.get(surface).cloned().unwrap_or_default();
        for other in SURFACES.iter().chain(&COMPOSITION) {
            // The cabinet shows the customer's pending Kupi-Kupi codes, and registers
            // customers through the Loymax program's registration (one set of steps).
            let allowed = matches!((surface, *other), ("cabinet", "kupikupi" | "loymax"));
            assert!(
                *other == surface || allowed || !named.contains(*other),
                "{surface} imports {other}"
            );
        }
    }
}
