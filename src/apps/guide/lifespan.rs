//! The guide's lifespan: `static/data.txt` exists exactly while the server runs.

use std::io;
use std::path::{Path, PathBuf};

/// What the guide's lifespan writes (no trailing newline).
pub const DATA_FILE_CONTENTS: &str = "This is a test file served by FastAPI.";
pub(crate) const DATA_FILE_NAME: &str = "data.txt";

/// The created file; removing it (and its directory, if we created that) happens in
/// [`StaticData::remove`] or, on any other exit path, when the value is dropped.
#[derive(Debug)]
pub(crate) struct StaticData {
    file: PathBuf,
    /// Set when the directory did not exist before, so cleanup leaves foreign directories alone.
    created_dir: Option<PathBuf>,
    removed: bool,
}

impl StaticData {
    /// Creates `dir` if needed and writes `dir/data.txt`.
    ///
    /// # Errors
    /// The I/O error, with the path in its message.
    pub(crate) fn create(dir: &Path) -> io::Result<Self> {
        let created_dir = if dir.is_dir() {
            None
        } else {
            std::fs::create_dir_all(dir).map_err(|err| with_path(err, "create directory", dir))?;
            Some(dir.to_path_buf())
        };
        let file = dir.join(DATA_FILE_NAME);
        let data = Self {
            file,
            created_dir,
            removed: false,
        };
        std::fs::write(&data.file, DATA_FILE_CONTENTS)
            .map_err(|err| with_path(err, "write", &data.file))?;
        tracing::debug!(path = %data.file.display(), "created the static data file");
        // A failure above drops `data`, which removes the directory we made.
        Ok(data)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.file
    }

    /// Removes the file and the directory we created.
    ///
    /// # Errors
    /// The first I/O error other than "already gone" or "directory not empty".
    pub(crate) fn remove(mut self) -> io::Result<()> {
        self.remove_inner()
    }

    fn remove_inner(&mut self) -> io::Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        match std::fs::remove_file(&self.file) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                return Err(with_path(err, "remove", &self.file));
            }
            _ => {}
        }
        if let Some(dir) = &self.created_dir {
            // Someone may have put files there meanwhile; theirs to keep.
            match std::fs::remove_dir(dir) {
                Err(err)
                    if !matches!(
                        err.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
                    ) =>
                {
                    return Err(with_path(err, "remove directory", dir));
                }
                _ => {}
            }
        }
        tracing::debug!(path = %self.file.display(), "removed the static data file");
        Ok(())
    }
}

impl Drop for StaticData {
    fn drop(&mut self) {
        if let Err(err) = self.remove_inner() {
            tracing::warn!(error = %err, "lifespan cleanup failed");
        }
    }
}

fn with_path(err: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot {action} {}: {err}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lives_until_removed_and_our_directory_goes_with_it() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("static");
        let data = StaticData::create(&dir)?;
        assert_eq!(std::fs::read_to_string(data.path())?, DATA_FILE_CONTENTS);
        data.remove()?;
        assert!(!dir.exists());
        Ok(())
    }

    #[test]
    fn an_existing_directory_is_kept() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let data = StaticData::create(root.path())?;
        let file = data.path().to_path_buf();
        drop(data);
        assert!(!file.exists());
        assert!(root.path().is_dir());
        Ok(())
    }
}
