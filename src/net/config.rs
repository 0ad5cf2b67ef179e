//! The server's settings ([`ServerConfig`], from the command line) and why
//! it could not start or run ([`ServerError`]).

use super::files::FileConfig;
use super::tls;
use crate::core;
use crate::protocol::DEFAULT_MAX_FRAME;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Server settings, from the command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Largest accepted frame body.
    pub max_frame: usize,
    /// Queued outbound bytes past which a client is disconnected as a slow consumer.
    pub max_outbound: usize,
    /// Queued outbound bytes past which low-priority frames are dropped.
    pub high_watermark: usize,
    pub core: core::Config,
    /// File transfers and the shared store.
    pub files: FileConfig,
    /// Listen with TLS, with this certificate and key.
    pub tls: Option<tls::TlsFiles>,
    /// How long history is kept.
    pub retention: crate::store::history::Retention,
    /// The browser client (HTTP and WebSocket on the same port).
    pub web: super::web::WebConfig,
    /// Be a node of a cluster through Redis (`--cluster`).
    pub cluster: Option<super::ClusterConfig>,
    /// SO_REUSEPORT: several nodes on one machine share the port.
    pub reuse_port: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 5555,
            data_dir: PathBuf::from("data"),
            max_frame: DEFAULT_MAX_FRAME,
            max_outbound: 4 * 1024 * 1024,
            high_watermark: 1024 * 1024,
            core: core::Config::default(),
            files: FileConfig::default(),
            tls: None,
            retention: crate::store::history::Retention {
                days: 365,
                max_bytes: 10 << 30,
            },
            web: super::web::WebConfig::default(),
            cluster: None,
            reuse_port: false,
        }
    }
}

/// Why the server could not start or run.
#[derive(Debug)]
pub enum ServerError {
    Bind {
        addr: String,
        source: io::Error,
    },
    DataDir {
        path: PathBuf,
        source: io::Error,
    },
    Poll(io::Error),
    Tls(String),
    /// The history database cannot be opened or read.
    History {
        path: PathBuf,
        why: String,
    },
    /// The search index cannot be made, even from scratch.
    SearchIndex {
        path: PathBuf,
        why: String,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {addr}: the address is already in use; stop the other server or pick another port with --port"
            ),
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::DataDir { path, source } => write!(
                f,
                "cannot use data directory {}: {source}; pick another with --data-dir",
                path.display()
            ),
            ServerError::Poll(e) => write!(f, "event loop failed: {e}"),
            ServerError::Tls(e) => write!(f, "{e}"),
            ServerError::History { path, why } => write!(
                f,
                "cannot open the history database {}: {why}; if it is damaged, run `chat-server --check-db --data-dir {}`, then restore it from a backup or move it aside to start with an empty history",
                path.display(),
                path.parent().map_or_else(|| ".".into(), |p| p.display().to_string())
            ),
            ServerError::SearchIndex { path, why } => write!(
                f,
                "cannot make the search index {}: {why}; it is rebuilt from the history whenever it is missing, so check the disk has room and the data directory is writable",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ServerError {}
