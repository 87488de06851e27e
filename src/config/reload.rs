//! [`Reloader`]: a running service's stacks follow its TOML file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use buttress_core::config::ConfigError;

use super::ServiceConfig;
use crate::stack::{ClientLayer, LiveClient, ServerLayer};

/// Keeps a running service's stacks in step with its TOML file: on
/// demand ([`reload`](Self::reload)), when the file changes
/// ([`watch`](Self::watch)), or on `SIGHUP` ([`reload_on_sighup`](Self::reload_on_sighup)).
///
/// A reload reads and validates the whole file, checks every registered
/// stack's new settings, and only then applies them all: new limits,
/// thresholds and timeouts take effect from the next request, requests in
/// flight finish as they started, and each layer keeps its state (an open
/// breaker stays open, a bulkhead's calls in flight stay counted). What a
/// running stack cannot take (see `ServerLayer::reload`) refuses the
/// whole file. A refused file changes nothing: the error, with its field
/// path, is logged, counted (`buttress.config.reload.failures`) and kept
/// for the admin router ([`status`](Self::status)).
///
/// ```
/// use buttress::config::{Reloader, ServiceConfig};
///
/// let dir = std::env::temp_dir().join(format!("buttress-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("service.toml");
/// std::fs::write(&path, "[server.bulkhead]\nmax_concurrent = 10\n").unwrap();
///
/// let config = ServiceConfig::from_path(&path).unwrap();
/// let server = config.build_server().unwrap();
/// let reloader = Reloader::new(&path).server(&server);
///
/// std::fs::write(&path, "[server.bulkhead]\nmax_concurrent = 2\n").unwrap();
/// reloader.reload().unwrap();
/// assert_eq!(server.bulkhead().unwrap().max_concurrent(), 2);
///
/// std::fs::write(&path, "[server.bulkhead]\nmax_concurrent = 0\n").unwrap();
/// let err = reloader.reload().unwrap_err();
/// assert_eq!(err.field(), "server.bulkhead.max_concurrent");
/// assert_eq!(server.bulkhead().unwrap().max_concurrent(), 2);
/// assert_eq!(reloader.status().failed, 1);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    server: Mutex<Option<ServerLayer>>,
    clients: Mutex<BTreeMap<String, LiveClient>>,
    status: Mutex<ReloadStatus>,
    /// Where reloads are announced, if anywhere.
    health: Mutex<Option<buttress_metrics::Health>>,
    /// The text last read, so that a watch reloads only on a change.
    seen: Mutex<Option<String>>,
}

/// What the reloads so far came to.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReloadStatus {
    /// Reloads applied.
    pub applied: u64,
    /// Reloads refused.
    pub failed: u64,
    /// Why the last reload was refused, if it was (cleared by the next
    /// one applied).
    pub last_error: Option<ConfigError>,
}

impl ReloadStatus {
    /// The status as JSON: `{"applied":n,"failed":n,"last_error":…}`,
    /// the error an object with its `field` and `problem`, or `null`.
    ///
    /// ```
    /// let status = buttress::config::ReloadStatus::default();
    /// assert_eq!(status.to_json(), r#"{"applied":0,"failed":0,"last_error":null}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = format!(
            "{{\"applied\":{},\"failed\":{},\"last_error\":",
            self.applied, self.failed
        );
        match &self.last_error {
            Some(error) => {
                out.push_str("{\"field\":");
                buttress_metrics::json_string(&mut out, error.field());
                out.push_str(",\"problem\":");
                buttress_metrics::json_string(&mut out, error.problem());
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push('}');
        out
    }
}

impl Reloader {
    /// A reloader for the file at `path`, with no stack yet.
    pub fn new(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_owned();
        let seen = std::fs::read_to_string(&path).ok();
        Reloader {
            inner: Arc::new(Inner {
                path,
                server: Mutex::new(None),
                clients: Mutex::new(BTreeMap::new()),
                status: Mutex::new(ReloadStatus::default()),
                health: Mutex::new(None),
                seen: Mutex::new(seen),
            }),
        }
    }

    /// Keeps `server` — built from the file's `[server]` table — in step.
    pub fn server(self, server: &ServerLayer) -> Self {
        *lock(&self.inner.server) = Some(server.clone());
        self
    }

    /// Keeps `client` — built from the file's `[clients.<name>]` table —
    /// in step.
    pub fn client<P, C, F>(self, name: impl Into<String>, client: &ClientLayer<P, C, F>) -> Self {
        lock(&self.inner.clients).insert(name.into(), client.live());
        self
    }

    /// Announces every reload, applied or refused, on `health`'s event
    /// feed (the admin router's `/events`).
    pub fn announce_to(self, health: &buttress_metrics::Health) -> Self {
        *lock(&self.inner.health) = Some(health.clone());
        self
    }

    /// The file this reloader reads.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The settings every registered stack runs with now, as one
    /// service config (what `ServiceConfig::to_toml` writes out).
    pub fn running(&self) -> ServiceConfig {
        ServiceConfig {
            server: lock(&self.inner.server)
                .as_ref()
                .map(ServerLayer::config)
                .unwrap_or_default(),
            clients: lock(&self.inner.clients)
                .iter()
                .map(|(name, client)| (name.clone(), client.config()))
                .collect(),
        }
    }

    /// What the reloads so far came to.
    pub fn status(&self) -> ReloadStatus {
        lock(&self.inner.status).clone()
    }

    /// Reads the file and applies it to every registered stack, or
    /// changes nothing and says why (the field path of the first problem).
    pub fn reload(&self) -> Result<(), ConfigError> {
        let source = std::fs::read_to_string(&self.inner.path).map_err(|e| {
            ConfigError::new(
                self.inner.path.display().to_string(),
                format!("cannot be read: {e}"),
            )
        });
        let result = source.and_then(|source| {
            *lock(&self.inner.seen) = Some(source.clone());
            self.apply(&ServiceConfig::from_toml(&source)?)
        });
        self.record(&result);
        result
    }

    /// Checks, then applies, `config` to every registered stack.
    fn apply(&self, config: &ServiceConfig) -> Result<(), ConfigError> {
        let server = lock(&self.inner.server);
        let clients = lock(&self.inner.clients);
        let client_config = |name: &str| {
            config.clients.get(name).ok_or_else(|| {
                ConfigError::new(
                    format!("clients.{name}"),
                    "a running dependency cannot be removed; restart to apply",
                )
            })
        };
        if let Some(server) = server.as_ref() {
            server
                .check_reload(&config.server)
                .map_err(|e| e.in_section("server"))?;
        }
        for (name, client) in clients.iter() {
            client
                .check_reload(client_config(name)?)
                .map_err(|e| e.in_section(&format!("clients.{name}")))?;
        }
        if let Some(server) = server.as_ref() {
            server
                .reload(&config.server)
                .map_err(|e| e.in_section("server"))?;
        }
        for (name, client) in clients.iter() {
            client
                .reload(client_config(name)?)
                .map_err(|e| e.in_section(&format!("clients.{name}")))?;
        }
        Ok(())
    }

    fn record(&self, result: &Result<(), ConfigError>) {
        let mut status = lock(&self.inner.status);
        match result {
            Ok(()) => {
                status.applied += 1;
                status.last_error = None;
                tracing::info!(path = %self.inner.path.display(), "buttress config reloaded");
            }
            Err(error) => {
                status.failed += 1;
                status.last_error = Some(error.clone());
                tracing::warn!(
                    path = %self.inner.path.display(),
                    %error,
                    "buttress config reload refused; the config in force is unchanged"
                );
            }
        }
        buttress_metrics::record_reload(result.is_ok());
        if let Some(health) = lock(&self.inner.health).as_ref() {
            health.announce_reload(result.as_ref().err().map(ToString::to_string));
        }
    }

    /// Whether the file's text differs from what was last read.
    #[cfg(feature = "serve")]
    fn changed(&self) -> bool {
        let now = std::fs::read_to_string(&self.inner.path).ok();
        now.is_some() && *lock(&self.inner.seen) != now
    }

    /// Reloads whenever the file's contents change, checked every
    /// `every` (a second is plenty: a reload is a rare event). Runs until
    /// the returned task is aborted or the runtime stops.
    #[cfg(feature = "serve")]
    pub fn watch(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let reloader = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if reloader.changed() {
                    let _ = reloader.reload();
                }
            }
        })
    }

    /// Reloads on every `SIGHUP`, the Unix convention for "read your
    /// config again". Runs until the returned task is aborted.
    #[cfg(all(unix, feature = "serve"))]
    pub fn reload_on_sighup(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let reloader = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let _ = reloader.reload();
            }
        }))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
