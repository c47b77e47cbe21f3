//! Headless Chromium through playwright-core (`tests/browser/`): what every
//! browser test needs before it starts a script.

use super::repo_root;
use std::path::{Path, PathBuf};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A missing peer fails the test (a browser test never passes unrun).
pub fn missing(what: &str, fix: &str) -> bool {
    panic!("{what} is missing: {fix}");
}

/// The script folder with playwright-core installed (a missing peer panics).
pub fn ready() -> Option<PathBuf> {
    if !Path::new(CHROMIUM).exists() && missing("chromium", "apt-get install -y chromium") {
        return None;
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
        && missing("node", "apt-get install -y nodejs npm")
    {
        return None;
    }
    let dir = repo_root().join("tests/browser");
    let installed = ["playwright-core", "axe-core"]
        .iter()
        .all(|m| dir.join("node_modules").join(m).exists());
    if !installed {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    Some(dir)
}
