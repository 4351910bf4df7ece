//! The shape of the code, checked from its `use` lines: no module depends on
//! another that depends back on it (directly or round a circle), and the
//! engine, the event contract and the reducer never reach into a face.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of the library with the modules it refers to.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/engine/walk/mod.rs` → `engine::walk`; `src/lib.rs` → `crate`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None, // the binary
        Some("lib") if parts.len() == 1 => return Some("crate".into()),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts.join("::"))
}

/// The code without comments and without `#[cfg(test)] mod … { … }` blocks
/// (their `super` is the file's own module).
fn code_only(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    loop {
        let at = [
            "#[cfg(test)]\nmod ",
            "#[cfg(test)]\npub(super) mod ",
            "#[cfg(test)]\npub(crate) mod ",
        ]
        .iter()
        .filter_map(|p| out.find(p))
        .min();
        let Some(at) = at else {
            return out;
        };
        let open = at + out[at..].find('{').unwrap();
        let mut depth = 0;
        let mut end = open;
        for (i, ch) in out[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_string()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// Paths the code names: every `use` tree, and `crate::…` / `super::…` paths
/// written inline.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        let stmt: String = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        paths.extend(expand(&stmt));
        rest = &rest[end..];
    }
    for root in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                paths.push(tail[..end].trim_end_matches(':').to_string());
            }
            rest = &rest[i + root.len()..];
        }
    }
    paths
}

/// The module a path lands in: the longest prefix that is a module.
fn resolve(from: &str, path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from == "crate" {
        vec![]
    } else {
        from.split("::").collect()
    };
    match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
            base.clear();
        }
        Some("super") => {
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        Some("self") => {
            segs.remove(0);
        }
        // A path from a child module (2018 paths), else another crate or std.
        Some(first) => {
            let child = if base.is_empty() {
                first.to_string()
            } else {
                format!("{}::{first}", base.join("::"))
            };
            if !modules.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    let mut full = base;
    full.extend(segs);
    (0..=full.len()).rev().find_map(|n| {
        let m = if n == 0 {
            "crate".to_string()
        } else {
            full[..n].join("::")
        };
        modules.contains(&m).then_some(m)
    })
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter_map(|f| Some((module_of(&src, &f)?, f)))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g = Graph::new();
    for (m, f) in &files {
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        let deps = g.entry(m.clone()).or_default();
        let mut named = named_paths(&code);
        // `walk::walk(…)` written inline in a parent names its child module.
        let prefix = if m == "crate" {
            String::new()
        } else {
            format!("{m}::")
        };
        for child in modules.iter().filter_map(|c| c.strip_prefix(&prefix)) {
            if child.contains("::") || m == "crate" && child == "crate" {
                continue;
            }
            let token = format!("{child}::");
            let mut rest = code.as_str();
            while let Some(i) = rest.find(&token) {
                let before = rest[..i].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    named.push(token.trim_end_matches(':').to_string());
                }
                rest = &rest[i + token.len()..];
            }
        }
        for p in named {
            if let Some(to) = resolve(m, &p, &modules)
                && to != *m
                && to != "crate"
            {
                deps.insert(to);
            }
        }
    }
    g
}

/// Strongly connected groups of more than one module (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(t: &mut T<'g>, v: &'g str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut group = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                t.out.push(group);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_module_depends_on_itself_round_a_circle() {
    let g = graph();
    assert!(
        g.len() > 40,
        "the source tree was read ({} modules)",
        g.len()
    );
    let found = cycles(&g);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn the_top_level_modules_do_not_depend_on_each_other_round_a_circle() {
    let mut top = Graph::new();
    for (m, deps) in graph() {
        let head = |s: &str| s.split("::").next().unwrap().to_string();
        let entry = top.entry(head(&m)).or_default();
        entry.extend(deps.iter().map(|d| head(d)).filter(|d| *d != head(&m)));
    }
    let found = cycles(&top);
    assert!(
        found.is_empty(),
        "cycles between top-level modules: {found:#?}"
    );
}

/// The engine's layers: a folder of `src/engine` (or a file at its top)
/// with all it holds, `engine::copy::files` → `engine::copy`.
fn engine_layer(m: &str) -> Option<String> {
    let mut parts = m.split("::");
    (parts.next() == Some("engine")).then(|| match parts.next() {
        Some(layer) => format!("engine::{layer}"),
        None => "engine".to_string(),
    })
}

#[test]
fn no_folder_of_the_engine_depends_back_on_another() {
    let mut layers = Graph::new();
    for (m, deps) in graph() {
        let Some(from) = engine_layer(&m) else {
            continue;
        };
        let entry = layers.entry(from.clone()).or_default();
        entry.extend(
            deps.iter()
                .filter_map(|d| engine_layer(d))
                .filter(|d| *d != from),
        );
    }
    for folder in [
        "copy", "data", "meta", "os", "plan", "read", "trust", "walk", "write",
    ] {
        assert!(
            layers.contains_key(&format!("engine::{folder}")),
            "engine::{folder} was read ({:?})",
            layers.keys()
        );
    }
    let found = cycles(&layers);
    assert!(
        found.is_empty(),
        "folders of the engine that depend on each other: {found:#?}"
    );
    // The system calls sit under everything and use nothing of the engine.
    assert_eq!(
        layers["engine::os"],
        BTreeSet::new(),
        "engine::os uses nothing above it"
    );
}

#[test]
fn the_engine_the_events_and_the_reducer_know_no_face() {
    let g = graph();
    let faces = ["tui", "batch", "cli", "summary"];
    for (m, deps) in &g {
        let core = m.starts_with("engine")
            || [
                "event", "progress", "error", "config", "paths", "format", "exit",
            ]
            .contains(&m.as_str());
        if !core {
            continue;
        }
        for d in deps {
            assert!(
                !faces
                    .iter()
                    .any(|f| d == f || d.starts_with(&format!("{f}::"))),
                "{m} uses {d}, a face"
            );
        }
    }
}

#[test]
fn the_checker_sees_a_circle_when_there_is_one() {
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(cycles(&g), [["a", "b", "c"]]);
    let modules: BTreeSet<String> = [
        "engine",
        "engine::walk",
        "engine::walk::tree",
        "engine::job",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let from = "engine::walk::tree";
    assert_eq!(
        resolve(from, "super::super::job::Item", &modules).as_deref(),
        Some("engine::job")
    );
    assert_eq!(
        resolve(from, "super::Filter", &modules).as_deref(),
        Some("engine::walk")
    );
    assert_eq!(
        resolve(from, "crate::engine::job::Job", &modules).as_deref(),
        Some("engine::job")
    );
    assert_eq!(
        resolve("engine", "walk::Filter", &modules).as_deref(),
        Some("engine::walk")
    );
    assert_eq!(resolve("engine", "rayon::ThreadPool", &modules), None);
    assert_eq!(
        expand("super::{a, b::{C, D}, self}"),
        ["super::a", "super::b::C", "super::b::D", "super"]
    );
}
