//! What a server accepts connections on: TCP sockets (one per address a host name resolves
//! to), or a Unix domain socket whose file is ours for as long as the server runs.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound socket, ready to accept.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixSocket),
}

impl Listener {
    /// Where it listens.
    ///
    /// # Errors
    /// The socket's error.
    pub(crate) fn endpoint(&self) -> io::Result<Endpoint> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(Endpoint::Tcp),
            Self::Unix(socket) => Ok(Endpoint::Unix(socket.path.clone())),
        }
    }

    pub(super) async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                let local = stream.local_addr().unwrap_or(peer);
                Ok(Accepted::Tcp {
                    stream,
                    local,
                    peer,
                })
            }
            Self::Unix(socket) => {
                let (stream, _) = socket.listener.accept().await?;
                Ok(Accepted::Unix(stream))
            }
        }
    }
}

/// A connection just accepted.
pub(super) enum Accepted {
    Tcp {
        stream: TcpStream,
        local: SocketAddr,
        peer: SocketAddr,
    },
    Unix(UnixStream),
}

/// A byte stream a connection runs on, TCP or Unix.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A bound Unix domain socket.
#[derive(Debug)]
pub(crate) struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
}

/// The socket file of a [`UnixSocket`]: removed when this is dropped, if it is still the file
/// we bound. Held apart from the listener, by whoever outlives the server (so a forced stop
/// removes it too).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// The file's device and inode, so a file someone put there after us is left alone.
    identity: Option<(u64, u64)>,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.identity.is_some()
            && identity(&self.path) == self.identity
            && let Err(err) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove the socket file");
        }
    }
}

/// Why a Unix socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum UnixSocketError {
    #[error("{}: a server is listening there already", .0.display())]
    InUse(PathBuf),
    #[error("{}: exists and is not a socket; not replacing it", .0.display())]
    NotASocket(PathBuf),
    #[error("cannot listen on {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
}

impl UnixSocket {
    /// Binds `path` with permissions `mode`. A socket file left by a crashed server (nothing
    /// accepts on it) is replaced; one a live server accepts on is refused, and so is anything
    /// that is not a socket.
    ///
    /// # Errors
    /// [`UnixSocketError`].
    pub(crate) fn bind(path: &Path, mode: u32) -> Result<(Self, SocketFile), UnixSocketError> {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let bind_error = |source| UnixSocketError::Bind {
            path: path.to_path_buf(),
            source,
        };
        if let Ok(existing) = std::fs::symlink_metadata(path) {
            if !existing.file_type().is_socket() {
                return Err(UnixSocketError::NotASocket(path.to_path_buf()));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(UnixSocketError::InUse(path.to_path_buf())),
                // Refused: nobody accepts there any more.
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing a stale socket file");
                    std::fs::remove_file(path).map_err(bind_error)?;
                }
                // Not ours to judge (e.g. no permission to connect): leave it alone.
                Err(source) => return Err(bind_error(source)),
            }
        }
        let listener = UnixListener::bind(path).map_err(bind_error)?;
        let file = SocketFile {
            path: path.to_path_buf(),
            identity: identity(path),
        };
        // A failure from here on drops `file`, which removes it again.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(bind_error)?;
        let socket = Self {
            listener,
            path: path.to_path_buf(),
        };
        Ok((socket, file))
    }
}

/// The device and inode of the file at `path`.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}
