//! The guide's lifespan: `static/data.txt` exists exactly while a server runs.
//!
//! Several instances may share one static directory (two ports, one working directory). Each
//! holds a shared advisory lock on `.data.txt.lock` beside the file for its whole life; on the
//! way out, the instance that can turn its lock exclusive is the last one and removes the file.
//! The kernel drops the lock of an instance that was killed, so the next start takes its file
//! over, and a start that fails never gets here: everything that can fail is done first.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the guide's lifespan writes (no trailing newline).
pub const DATA_FILE_CONTENTS: &str = "This is a test file served by FastAPI.";
pub(crate) const DATA_FILE_NAME: &str = "data.txt";
/// Beside `data.txt`; held (shared) by every instance serving it.
const LOCK_FILE_NAME: &str = ".data.txt.lock";
/// How long a start waits for an instance that is removing the file right now.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The created file; removing it (and its directory, if we created that) happens in
/// [`StaticData::remove`] or, on any other exit path, when the value is dropped, unless another
/// instance still serves it.
#[derive(Debug)]
pub(crate) struct StaticData {
    file: PathBuf,
    lock_path: PathBuf,
    /// Our shared lock on `lock_path`, held until cleanup.
    lock: Option<File>,
    /// Set when the directory did not exist before, so cleanup leaves foreign directories alone.
    created_dir: Option<PathBuf>,
    removed: bool,
}

impl StaticData {
    /// Creates `dir` if needed, joins the instances serving it, and writes `dir/data.txt`.
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
        let mut data = Self {
            file: dir.join(DATA_FILE_NAME),
            lock_path: dir.join(LOCK_FILE_NAME),
            lock: None,
            created_dir,
            removed: false,
        };
        // A failure below drops `data`, which removes what we made.
        let (lock, remade_dir) = join(dir, &data.lock_path)?;
        data.lock = Some(lock);
        if remade_dir {
            // The instance that made it removed it while we waited; it is ours now.
            data.created_dir = Some(dir.to_path_buf());
        }
        write_atomically(&data.file, DATA_FILE_CONTENTS.as_bytes())?;
        tracing::debug!(path = %data.file.display(), "created the static data file");
        Ok(data)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.file
    }

    /// Removes the file and the directory we created, unless another instance still serves
    /// them.
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
        let Some(lock) = self.lock.take() else {
            // We never joined, so the file was never ours; only our directory is.
            return self.remove_our_dir();
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(
                    path = %self.file.display(),
                    "another duplex still serves the static data file; leaving it"
                );
                return Ok(());
            }
            Err(TryLockError::Error(err)) => return Err(with_path(err, "lock", &self.lock_path)),
        }
        // Exclusive now. If the path no longer names our lock file, the instance that removed
        // it has cleaned up already, and a newer one may be serving its own file by now.
        if !names_file(&self.lock_path, &lock) {
            return Ok(());
        }
        remove_if_present(&self.file)?;
        // Unlinked while we hold it: a start that opened it meanwhile sees that and retries.
        remove_if_present(&self.lock_path)?;
        drop(lock);
        self.remove_our_dir()?;
        tracing::debug!(path = %self.file.display(), "removed the static data file");
        Ok(())
    }

    fn remove_our_dir(&self) -> io::Result<()> {
        let Some(dir) = &self.created_dir else {
            return Ok(());
        };
        // Someone may have put files there meanwhile (another instance too); theirs to keep.
        match std::fs::remove_dir(dir) {
            Err(err)
                if !matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
                ) =>
            {
                Err(with_path(err, "remove directory", dir))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for StaticData {
    fn drop(&mut self) {
        if let Err(err) = self.remove_inner() {
            tracing::warn!(error = %err, "lifespan cleanup failed");
        }
    }
}

/// A shared lock on the lock file at `path` in `dir`, which is still that path's file once held:
/// an instance cleaning up unlinks it under its exclusive lock, and may remove `dir` after, so
/// then we start over, making `dir` again if need be (`true`: we made it).
fn join(dir: &Path, path: &Path) -> io::Result<(File, bool)> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut remade_dir = false;
    loop {
        let opened = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path);
        let file = match opened {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound && Instant::now() < deadline => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| with_path(err, "create directory", dir))?;
                remade_dir = true;
                continue;
            }
            Err(err) => return Err(with_path(err, "open", path)),
        };
        match file.try_lock_shared() {
            Ok(()) if names_file(path, &file) => return Ok((file, remade_dir)),
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {}
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{} is held by another duplex removing its data file for over {LOCK_WAIT:?}",
                        path.display()
                    ),
                ));
            }
            Err(TryLockError::Error(err)) => return Err(with_path(err, "lock", path)),
        }
        // Cleanup takes milliseconds; a start blocked by one is rare.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `path` still names the open `file` (not a newer file created after ours was unlinked).
fn names_file(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(at_path), Ok(ours)) => at_path.dev() == ours.dev() && at_path.ino() == ours.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// Writes through a temporary file and a rename, so an instance serving the file meanwhile
/// never reads it half-written.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension(format!("txt.{}.tmp", std::process::id()));
    std::fs::write(&temporary, contents).map_err(|err| with_path(err, "write", &temporary))?;
    std::fs::rename(&temporary, path).map_err(|err| {
        let _ = std::fs::remove_file(&temporary);
        with_path(err, "write", path)
    })
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(with_path(err, "remove", path)),
        _ => Ok(()),
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
    fn the_file_stays_until_the_last_instance_leaves() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("static");
        let first = StaticData::create(&dir)?;
        let second = StaticData::create(&dir)?;
        first.remove()?;
        assert_eq!(std::fs::read_to_string(second.path())?, DATA_FILE_CONTENTS);
        let file = second.path().to_path_buf();
        second.remove()?;
        assert!(!file.exists());
        assert!(!dir.join(LOCK_FILE_NAME).exists());
        Ok(())
    }

    #[test]
    fn a_file_whose_owner_died_is_taken_over() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        // What a killed instance leaves: the file and an unlocked lock file.
        std::fs::write(root.path().join(DATA_FILE_NAME), "stale")?;
        std::fs::write(root.path().join(LOCK_FILE_NAME), "")?;
        let data = StaticData::create(root.path())?;
        assert_eq!(std::fs::read_to_string(data.path())?, DATA_FILE_CONTENTS);
        let file = data.path().to_path_buf();
        data.remove()?;
        assert!(!file.exists());
        Ok(())
    }

    #[test]
    fn a_start_waits_for_an_instance_removing_its_file() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        // Another instance holds the lock exclusively, as while it removes the file.
        let lock = File::create(root.path().join(LOCK_FILE_NAME))?;
        lock.lock()?;
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(lock);
        });
        let data = StaticData::create(root.path())?;
        assert_eq!(std::fs::read_to_string(data.path())?, DATA_FILE_CONTENTS);
        let _ = release.join();
        Ok(())
    }

    /// The instance that made the directory removes it after its lock file; a start that was
    /// waiting on that lock makes both again and owns the directory from then on.
    #[test]
    fn a_start_outlives_the_removal_of_the_directory_it_waited_on() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("static");
        std::fs::create_dir(&dir)?;
        let lock = File::create(dir.join(LOCK_FILE_NAME))?;
        lock.lock()?;
        let cleanup_dir = dir.clone();
        // Both gone before the lock is let go, so the waiting start cannot slip a new lock file
        // into the directory first (the product ignores that case: the directory stays).
        let cleanup = std::thread::spawn(move || -> io::Result<()> {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::remove_file(cleanup_dir.join(LOCK_FILE_NAME))?;
            std::fs::remove_dir(&cleanup_dir)?;
            drop(lock);
            Ok(())
        });
        let data = StaticData::create(&dir)?;
        assert!(matches!(cleanup.join(), Ok(Ok(()))));
        assert_eq!(std::fs::read_to_string(data.path())?, DATA_FILE_CONTENTS);
        data.remove()?;
        assert!(
            !dir.exists(),
            "the directory it made again is its to remove"
        );
        Ok(())
    }

    #[test]
    fn files_others_put_in_our_directory_are_kept() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("static");
        let data = StaticData::create(&dir)?;
        std::fs::write(dir.join("theirs.txt"), "keep")?;
        data.remove()?;
        assert!(!dir.join(DATA_FILE_NAME).exists());
        assert_eq!(std::fs::read_to_string(dir.join("theirs.txt"))?, "keep");
        Ok(())
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_named_in_the_error() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        let file = root.path().join("a-file");
        std::fs::write(&file, "")?;
        let err = StaticData::create(&file.join("static")).err();
        let message = err.map(|err| err.to_string()).unwrap_or_default();
        assert!(message.starts_with("cannot create directory"), "{message}");
        assert!(message.contains("a-file"), "{message}");
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
