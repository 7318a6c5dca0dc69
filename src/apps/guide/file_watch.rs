//! Change notification for one file: whether anything touched it since the watch began, asked
//! with one non-blocking read that finds nothing (Linux `inotify`), where a `stat` cost about
//! 1.4 µs of kernel time per request.
//!
//! The kernel queues an event inside the call that makes the change, so a change that has
//! returned before the question is asked is always in the answer: as fresh as a `stat`, on the
//! paths and file systems [`Watch::new`] accepts.

use std::io;
use std::path::{Path, PathBuf};

/// Watches a file, the directory that names it and every directory above.
#[derive(Debug)]
pub(crate) struct Watch {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
}

/// File systems whose every change passes through this kernel, so inotify hears of it
/// (`linux/magic.h`): ext2/3/4, XFS, Btrfs, tmpfs, overlayfs (a container's root), F2FS. On a
/// network or FUSE file system a change made elsewhere raises no event; those are left to `stat`.
#[cfg(target_os = "linux")]
const LOCAL_FILE_SYSTEMS: [i128; 6] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x794C_7630,
    0xF2F5_2010,
];

impl Watch {
    /// Starts watching `path`: what is written to the file, its times, modes and links (a
    /// rename over it or a removal drops one); any entry created, moved or removed in its
    /// directory, and the directory's own modes; and each directory above it being moved.
    /// Refused (the caller then asks `stat`) where a watch could miss a change: a path through
    /// a symlink or `..` (re-pointing a link touches nothing a watch holds), or a file system
    /// not in [`LOCAL_FILE_SYSTEMS`]. Not seen either way, as with `stat`'s times: writes
    /// through a shared `mmap`; and, unlike `stat`, a file system mounted over the path.
    #[cfg(target_os = "linux")]
    pub(crate) fn new(path: &Path) -> io::Result<Self> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
        let absolute = std::path::absolute(path)?;
        if std::fs::canonicalize(&absolute)? != absolute {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the path goes through a symlink or `..`",
            ));
        }
        let file_system = rustix::fs::statfs(&absolute)?.f_type;
        if !LOCAL_FILE_SYSTEMS.contains(&i128::from(file_system)) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("file system {file_system:#x} may change without telling this kernel"),
            ));
        }
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        // From the top down, each directory before what it holds: a swap above a watch made
        // later shows on one made earlier. The root cannot be moved.
        let mut above: Vec<&Path> = absolute.ancestors().skip(2).collect();
        above.pop();
        for dir in above.into_iter().rev() {
            inotify::add_watch(
                &fd,
                dir,
                WatchFlags::MOVE_SELF | WatchFlags::DELETE_SELF | WatchFlags::ONLYDIR,
            )?;
        }
        if let Some(dir) = absolute.parent() {
            inotify::add_watch(
                &fd,
                dir,
                WatchFlags::CREATE
                    | WatchFlags::DELETE
                    | WatchFlags::MOVED_FROM
                    | WatchFlags::MOVED_TO
                    | WatchFlags::ATTRIB
                    | WatchFlags::MOVE_SELF
                    | WatchFlags::DELETE_SELF
                    | WatchFlags::ONLYDIR,
            )?;
        }
        inotify::add_watch(
            &fd,
            &absolute,
            WatchFlags::MODIFY
                | WatchFlags::ATTRIB
                | WatchFlags::MOVE_SELF
                | WatchFlags::DELETE_SELF,
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// Without `inotify`, nothing is watched and callers `stat` the file instead.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new(path: &Path) -> io::Result<Self> {
        let _ = path;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this watch is of `path` (the same spelling: a byte comparison, not a path walk).
    pub(crate) fn is_of(&self, path: &Path) -> bool {
        self.path.as_os_str() == path.as_os_str()
    }

    /// Whether anything was reported since the watch began. Once it says yes the watch has
    /// done its job (the file it follows may be gone): drop it and start a new one. An error
    /// (the queue cannot be read) is an answer the caller must treat as yes.
    #[cfg(target_os = "linux")]
    pub(crate) fn changed(&self) -> io::Result<bool> {
        use std::mem::MaybeUninit;
        // Room for one event with the longest name (16 + 256 bytes); the kernel refuses a read
        // too small for the next event.
        let mut buf = [MaybeUninit::<u8>::uninit(); 512];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::AGAIN) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn changed(&self) -> io::Result<bool> {
        Ok(true)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Each kind of change is reported; reading the file is not.
    #[test]
    fn every_kind_of_change_is_reported() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir()?;
        let top = root.path().join("top");
        let dir = top.join("static");
        let path = dir.join("data.txt");
        let other = root.path().join("other.txt");
        let moved = root.path().join("moved");
        let remake = || -> io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, "version 1")
        };
        let changes: [(&str, &dyn Fn() -> io::Result<()>); 11] = [
            ("a write", &|| std::fs::write(&path, "version 2")),
            ("an append", &|| {
                use std::io::Write as _;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)?
                    .write_all(b"!")
            }),
            ("a truncation", &|| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .map(drop)
            }),
            ("a new mtime", &|| {
                std::fs::File::options()
                    .write(true)
                    .open(&path)?
                    .set_modified(std::time::SystemTime::UNIX_EPOCH)
            }),
            ("a new mode", &|| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            }),
            ("a replacement by rename", &|| {
                std::fs::write(&other, "replaced")?;
                std::fs::rename(&other, &path)
            }),
            ("a symlink put in its place", &|| {
                std::fs::write(&other, "elsewhere")?;
                let link = dir.join("link");
                std::os::unix::fs::symlink(&other, &link)?;
                std::fs::rename(&link, &path)
            }),
            ("a removal", &|| std::fs::remove_file(&path)),
            ("the directory's new mode", &|| {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            }),
            ("the directory swapped for another", &|| {
                std::fs::rename(&dir, &moved)?;
                remake()
            }),
            ("a directory above swapped for another", &|| {
                std::fs::rename(&top, &moved)?;
                remake()
            }),
        ];
        for (what, change) in changes {
            // Nothing of the last round may be touched once the watch is made: removing the
            // old file would raise the event a missing watch should have.
            let _ = std::fs::remove_dir_all(&moved);
            let _ = std::fs::remove_file(&path);
            remake()?;
            let watch = Watch::new(&path)?;
            let _ = std::fs::read(&path)?;
            assert!(!watch.changed()?, "before {what}");
            change()?;
            assert!(watch.changed()?, "{what} was not reported");
        }
        Ok(())
    }

    /// Re-pointing a symlink on the path touches nothing a watch could hold: such a path is
    /// left to `stat`.
    #[test]
    fn a_path_through_a_symlink_is_not_watched() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let real = root.path().join("release-1");
        std::fs::create_dir(&real)?;
        std::fs::write(real.join("data.txt"), "x")?;
        let current = root.path().join("current");
        std::os::unix::fs::symlink(&real, &current)?;
        let refused = Watch::new(&current.join("data.txt")).err();
        assert_eq!(
            refused.map(|err| err.kind()),
            Some(io::ErrorKind::Unsupported)
        );
        let dotted = real.join("..").join("release-1").join("data.txt");
        assert!(Watch::new(&dotted).is_err());
        assert!(Watch::new(&real.join("data.txt")).is_ok());
        Ok(())
    }

    #[test]
    fn a_missing_file_cannot_be_watched() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("absent.txt");
        assert!(Watch::new(&path).is_err());
        Ok(())
    }

    #[test]
    fn a_watch_knows_its_path_by_spelling() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data.txt");
        std::fs::write(&path, "x")?;
        let watch = Watch::new(&path)?;
        assert!(watch.is_of(&path));
        assert!(!watch.is_of(&dir.path().join("other.txt")));
        Ok(())
    }
}
