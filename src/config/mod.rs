//! A whole service in one TOML file (features `serde` and `stack`):
//! `[server]`, the server stack, and `[clients.<name>]`, one client stack
//! per dependency. Config is data: every table is a stack's or a layer's
//! own config type, deserialized directly.
//!
//! Every table denies unknown fields, durations are written the human way
//! (`"250ms"`, `"30s"`), and every layer's settings are checked as the
//! file loads. An error names the field by its full path and says what is
//! wrong with it, so a typo reads as
//! `clients.inventory.breaker.wiat: unknown field ... (line 14)`.
//!
//! ```
//! use buttress::config::ServiceConfig;
//!
//! let config = ServiceConfig::from_toml(r#"
//!     [server]
//!     name = "shop"
//!     timeout = "5s"
//!
//!     [clients.inventory]
//!     uri = "http://127.0.0.1:8081"
//!     timeout = "300ms"
//!     [clients.inventory.breaker]
//!     wait = "10s"
//! "#).unwrap();
//! let server = config.build_server().unwrap();
//! let inventory = config.build_client("inventory").unwrap();
//! assert_eq!(config.client_uri("inventory").unwrap().unwrap().port_u16(), Some(8081));
//! assert_eq!(server.name(), "shop");
//! assert!(inventory.breaker().is_some());
//!
//! let err = ServiceConfig::from_toml("[clients.inventory]\ntimeout = \"soon\"").unwrap_err();
//! assert_eq!(err.field(), "clients.inventory.timeout");
//! ```
//!
//! `examples/service.toml` shows every section.

mod path;
mod reload;

pub use self::reload::{ReloadStatus, Reloader};

use std::collections::BTreeMap;
use std::path::Path;

use buttress_core::config::ConfigError;
use serde::Deserialize;

use crate::stack::{ClientLayer, ClientStack, ClientStackConfig, ServerLayer, ServerStack};
use buttress_core::layer::DefaultClassifier;
use buttress_fallback::FallbackLayer;
use buttress_retry::BufferBody;

/// A service: its server stack and its dependencies' client stacks.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// `[server]`: the server stack, one sub-table per layer.
    pub server: ServerStack,
    /// `[clients.<name>]`: each dependency's client stack, by name.
    pub clients: BTreeMap<String, ClientStackConfig>,
}

impl ServiceConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(source: &str) -> Result<Self, ConfigError> {
        let config: ServiceConfig = toml::from_str(source).map_err(|e| toml_error(source, &e))?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML, as a file would give it (a layer left at its
    /// stack's default is left out).
    ///
    /// ```
    /// use buttress::config::ServiceConfig;
    ///
    /// let config = ServiceConfig::from_toml("[server]\nbulkhead = false\n").unwrap();
    /// let text = config.to_toml();
    /// assert!(text.contains("bulkhead = false"), "{text}");
    /// assert_eq!(ServiceConfig::from_toml(&text).unwrap().to_toml(), text);
    /// ```
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot be written as TOML: {e}\n"))
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path.display().to_string(), format!("cannot be read: {e}"))
        })?;
        Self::from_toml(&source)
    }

    /// Checks every section; the error's field is its full path
    /// (`server.adaptive_limit.max_limit`, `clients.inventory.breaker.wait`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate().map_err(|e| e.in_section("server"))?;
        for (name, client) in &self.clients {
            if name.is_empty() {
                return Err(ConfigError::new(
                    "clients",
                    "a dependency's name must not be empty",
                ));
            }
            client
                .validate()
                .map_err(|e| e.in_section(&format!("clients.{name}")))?;
        }
        Ok(())
    }

    /// Builds the server stack.
    pub fn build_server(&self) -> Result<ServerLayer, ConfigError> {
        self.server.build().map_err(|e| e.in_section("server"))
    }

    /// The client stack for the dependency `name`, to adjust in code
    /// (a classifier, a replay policy) before building.
    pub fn client_stack(&self, name: &str) -> Result<ClientStack, ConfigError> {
        let config = self.clients.get(name).ok_or_else(|| {
            ConfigError::new(
                format!("clients.{name}"),
                "no such dependency in the config",
            )
        })?;
        Ok(ClientStack::from_config(name, config.clone()))
    }

    /// Builds the client stack for the dependency `name`.
    pub fn build_client(&self, name: &str) -> Result<ClientLayer, ConfigError> {
        self.client_stack(name)?
            .build()
            .map_err(|e| e.in_section(&format!("clients.{name}")))
    }

    /// Builds the client stack for the dependency `name` with the fallback
    /// its `[clients.<name>.fallback]` section describes.
    pub fn build_client_with_fallback(
        &self,
        name: &str,
    ) -> Result<ClientLayer<BufferBody, DefaultClassifier, FallbackLayer>, ConfigError> {
        let section = format!("clients.{name}");
        let stack = self.client_stack(name)?;
        let fallback = stack
            .config()
            .fallback
            .clone()
            .ok_or_else(|| ConfigError::new(format!("{section}.fallback"), "is missing"))?;
        stack
            .fallback(fallback)
            .build()
            .map_err(|e| e.in_section(&section))
    }

    /// The dependency `name`'s URI, if the config gives one.
    pub fn client_uri(&self, name: &str) -> Result<Option<http::Uri>, ConfigError> {
        let section = format!("clients.{name}");
        let config = self
            .clients
            .get(name)
            .ok_or_else(|| ConfigError::new(section.clone(), "no such dependency in the config"))?;
        config
            .uri
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| ConfigError::new(format!("{section}.uri"), format!("{e}")))
    }
}

/// A TOML or serde error as a [`ConfigError`] naming the field at fault.
fn toml_error(source: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return ConfigError::new("(document)", message.to_owned());
    };
    let line = source[..span.start.min(source.len())].matches('\n').count() + 1;
    let field = path::path_at(source, &span, message).unwrap_or_else(|| "(document)".to_owned());
    ConfigError::new(field, format!("{message} (line {line})"))
}
