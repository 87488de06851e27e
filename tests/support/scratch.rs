//! A scratch directory for the tests that write files (config reloads),
//! removed when the test ends, pass or fail.

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temporary directory, named after
/// the test and this process, deleted with everything in it on drop (a
/// panicking test unwinds through the drop too).
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates `buttress-<test>-<pid>`, emptied first if a crashed run
    /// of the same process ID left it behind.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("buttress-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch { dir }
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `text` to `name` inside the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("a scratch file");
        path
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
