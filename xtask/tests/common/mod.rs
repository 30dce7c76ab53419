//! Helpers shared by the integration tests that run `cargo xtask` on the fixtures
//! with the fake apr: the workspace root and the workspace's other binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A binary of this workspace next to the xtask binary, built here when missing.
pub fn sibling(name: &str, package: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_xtask")).with_file_name(name);
    if !bin.is_file() {
        let status =
            Command::new(env!("CARGO")).args(["build", "--quiet", "--package", package]).current_dir(workspace()).status().unwrap();
        assert!(status.success(), "building {package} failed");
    }
    bin
}
