//! The layering of `src/` (README, Architecture): sans-IO cores at the
//! bottom import only cores; each shell room imports cores and the rooms
//! listed before it; nothing imports the wiring (`service`). Reads the
//! sources, so a bad `use crate::...` fails here with its file and line.

use std::fs;
use std::path::{Path, PathBuf};

/// Bytes and time in, events out: no sockets, no clock, no files.
const CORES: &[&str] = &[
    "case", "identity", "ivr", "lockout", "media", "queue", "sdp", "sip", "triage",
];

/// The shell, bottom up: a room may import the cores and the rooms above it
/// in this list, never one below it.
const SHELL: &[&str] = &[
    "store",
    "sms",
    "listing",
    "config",
    "supervisor",
    "live",
    "readiness",
    "sweeper",
    "media::engine",
    "booking",
    "webrtc",
    "telephony",
    "dialer",
    "api",
    "fhir",
    "admin",
    "service",
];

/// Imports that are forbidden inside a room: (file, module it must not name).
const FORBIDDEN: &[(&str, &str)] = &[
    // The driver starts calls through the `CallHandler` it is given.
    ("src/telephony/driver.rs", "inbound"),
    ("src/telephony/driver.rs", "outbound"),
];

#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    text: String,
    why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}\n    {}",
            self.file, self.line, self.why, self.text
        )
    }
}

/// The room a source file belongs to (`media::engine` is a room of its own).
fn room_of(file: &str) -> String {
    let rel = file.trim_start_matches("src/");
    let mut parts = rel.split('/');
    let first = parts.next().unwrap_or_default().trim_end_matches(".rs");
    if first == "media" && parts.next() == Some("engine") {
        return "media::engine".to_string();
    }
    first.to_string()
}

/// The room a `crate::` path names.
fn room_named(path: &str) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or_default();
    if first == "media" && parts.next() == Some("engine") {
        return "media::engine".to_string();
    }
    first.to_string()
}

fn rank(room: &str) -> Option<usize> {
    SHELL.iter().position(|r| *r == room)
}

/// Test-only code may reach anywhere: test files, and what follows a file's
/// first `#[cfg(test)]`.
fn is_test_file(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or_default();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || name == "bench.rs"
        || file.contains("/tests/")
}

/// Every `crate::x` a line names, outside comments.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let path: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if !path.is_empty() {
            out.push(path);
        }
        rest = after;
    }
    out
}

/// The layering violations in one file's text.
fn check(file: &str, text: &str) -> Vec<Violation> {
    if is_test_file(file) {
        return Vec::new();
    }
    let room = room_of(file);
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let mut flag = |why: String| {
            found.push(Violation {
                file: file.to_string(),
                line: i + 1,
                text: line.trim().to_string(),
                why,
            })
        };
        for (f, name) in FORBIDDEN {
            let named = line.contains(&format!("super::{name}"))
                || line.contains(&format!("telephony::{name}"));
            if *f == file && named && !line.trim_start().starts_with("//") {
                flag(format!("{file} must not import {name}"));
            }
        }
        for path in crate_paths(line) {
            let target = room_named(&path);
            if target == room {
                continue;
            }
            let target_is_core = CORES.contains(&target.as_str());
            if CORES.contains(&room.as_str()) {
                if !target_is_core {
                    flag(format!("core `{room}` imports shell `{target}`"));
                }
                continue;
            }
            if target_is_core {
                continue;
            }
            match (rank(&room), rank(&target)) {
                (Some(me), Some(them)) if them < me => {}
                (Some(_), Some(_)) => flag(format!(
                    "`{room}` imports `{target}`, which sits above it (layers: {})",
                    SHELL.join(" < ")
                )),
                (None, _) => flag(format!("`{room}` is in no layer: add it to CORES or SHELL")),
                (_, None) => flag(format!(
                    "`{target}` is in no layer: add it to CORES or SHELL"
                )),
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Core-to-core imports as edges, for the circle check.
fn core_edges(files: &[(String, String)]) -> Vec<(String, String)> {
    let mut edges = Vec::new();
    for (file, text) in files {
        let room = room_of(file);
        if is_test_file(file) || !CORES.contains(&room.as_str()) {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines() {
            for path in crate_paths(line) {
                let target = room_named(&path);
                if target != room && CORES.contains(&target.as_str()) {
                    edges.push((room.clone(), target));
                }
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// A circle among the cores, as the list of rooms on it.
fn find_circle(edges: &[(String, String)]) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &[(String, String)],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.iter().any(|d| d == node) {
            return None;
        }
        path.push(node.to_string());
        for (_, to) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(c) = visit(to, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.push(node.to_string());
        None
    }
    let mut done = Vec::new();
    for core in CORES {
        if let Some(c) = visit(core, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rust_files(&root.join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let rel = p
                .strip_prefix(root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            Some((rel, fs::read_to_string(&p).ok()?))
        })
        .collect()
}

#[test]
fn src_keeps_its_layers() {
    let files = sources();
    assert!(files.len() > 50, "read {} files from src/", files.len());
    let violations: Vec<String> = files
        .iter()
        .flat_map(|(file, text)| check(file, text))
        .map(|v| v.to_string())
        .collect();
    assert!(
        violations.is_empty(),
        "imports that break the layering:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_top_level_room_has_a_layer() {
    let mut rooms: Vec<String> = sources()
        .iter()
        .map(|(file, _)| room_of(file))
        .filter(|r| r != "lib" && r != "main")
        .collect();
    rooms.sort();
    rooms.dedup();
    for room in rooms {
        assert!(
            CORES.contains(&room.as_str()) || rank(&room).is_some(),
            "src/{room} is in no layer: add it to CORES or SHELL in tests/architecture.rs"
        );
    }
}

#[test]
fn cores_import_each_other_without_circles() {
    let edges = core_edges(&sources());
    assert!(
        find_circle(&edges).is_none(),
        "circle among the cores: {:?}",
        find_circle(&edges)
    );
}

#[test]
fn a_planted_core_import_of_the_store_is_named_with_file_and_line() {
    let text = "//! queue\nuse chrono::Utc;\nuse crate::store::Store;\n";
    let found = check("src/queue/order.rs", text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "src/queue/order.rs");
    assert_eq!(found[0].line, 3);
    assert!(found[0].why.contains("core `queue` imports shell `store`"));
}

#[test]
fn a_planted_upward_import_and_an_import_of_the_wiring_are_refused() {
    let up = check("src/store/claims.rs", "use crate::api::ApiState;\n");
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(up[0].why.contains("`store` imports `api`"), "{}", up[0]);
    let wiring = check("src/api/mod.rs", "    let x = crate::service::start;\n");
    assert_eq!(wiring.len(), 1, "{wiring:?}");
    assert!(
        wiring[0].why.contains("`api` imports `service`"),
        "{}",
        wiring[0]
    );
    let engine = check(
        "src/media/player.rs",
        "use crate::media::engine::MediaEngine;\n",
    );
    assert_eq!(engine.len(), 1, "{engine:?}");
}

#[test]
fn the_driver_may_not_name_the_inbound_call() {
    let found = check(
        "src/telephony/driver.rs",
        "use super::inbound::InboundCalls;\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].why.contains("must not import inbound"));
}

#[test]
fn comments_and_test_code_are_not_imports() {
    let text = "// crate::api is mentioned here\nfn f() {}\n#[cfg(test)]\nmod tests { use crate::api::ApiState; }\n";
    assert!(check("src/queue/mod.rs", text).is_empty());
    assert!(check("src/queue/tests.rs", "use crate::store::Store;\n").is_empty());
}

#[test]
fn a_planted_circle_among_cores_is_found() {
    let edges = vec![
        ("ivr".to_string(), "triage".to_string()),
        ("triage".to_string(), "ivr".to_string()),
    ];
    let circle = find_circle(&edges).expect("circle");
    assert_eq!(circle.first(), circle.last());
    assert!(circle.contains(&"ivr".to_string()) && circle.contains(&"triage".to_string()));
}
