//! Headless Chromium through playwright-core (`tests/browser/`): what every
//! browser test needs before it starts a script.

use super::repo_root;
use std::path::{Path, PathBuf};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A missing peer fails the test (a browser test never passes unrun).
fn missing(what: &str, fix: &str) -> ! {
    panic!("{what} is missing: {fix}");
}

/// The script folder with playwright-core and axe-core installed.
pub fn ready() -> PathBuf {
    if !Path::new(CHROMIUM).exists() {
        missing("chromium", "apt-get install -y chromium");
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        missing("node", "apt-get install -y nodejs npm");
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
    dir
}

/// `node script` in the browser folder, killed with the test.
pub fn node(dir: &Path, script: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).current_dir(dir).kill_on_drop(true);
    cmd
}

/// Runs a walk that prints `DONE` when every check passed; its output.
pub async fn walk(mut cmd: tokio::process::Command) -> String {
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the browser walk finishes in time")
        .expect("node runs");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{log}");
    assert!(
        out.status.success() && log.lines().any(|l| l == "DONE"),
        "browser walk failed:\n{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    log
}
