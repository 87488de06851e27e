//! [`Toggle`]: one layer of a stack — the stack's default, left out, or
//! given settings.

use buttress_core::config::ConfigError;
use buttress_core::layer::{BuildEnv, LayerConfig};

/// One layer's place in a stack, in code and in a config file alike:
///
/// | in code | in TOML | meaning |
/// | --- | --- | --- |
/// | `Toggle::Default` | absent | the stack's default: on with the stack's settings, or off for an opt-in layer |
/// | `Toggle::Off` | `bulkhead = false` | left out |
/// | `Toggle::On(config)`, or just `config` | `bulkhead = true`, or a `[server.bulkhead]` table | on, with these settings (`true`: the layer's own defaults) |
///
/// Stack setters take `impl Into<Toggle<C>>`, so a config (or, for the
/// timeout, a `Duration`) turns a layer on and `Toggle::Off` leaves it
/// out.
///
/// ```
/// use buttress::stack::{ServerStack, Toggle};
/// use buttress::limit::BulkheadConfig;
/// use std::time::Duration;
///
/// let stack = ServerStack::new("shop")
///     .bulkhead(BulkheadConfig { max_concurrent: 128, ..BulkheadConfig::default() })
///     .adaptive_limit(Toggle::Off)
///     .timeout(Duration::from_secs(2));
/// assert!(stack.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Toggle<C> {
    /// Not set: the stack decides.
    #[default]
    Default,
    /// Left out.
    Off,
    /// On, with these settings.
    On(C),
}

impl<C> From<C> for Toggle<C> {
    fn from(config: C) -> Self {
        Toggle::On(config)
    }
}

impl From<std::time::Duration> for Toggle<buttress_core::timeout::TimeoutConfig> {
    fn from(limit: std::time::Duration) -> Self {
        Toggle::On(limit.into())
    }
}

impl<C> Toggle<C> {
    /// The settings, if given.
    pub fn settings(&self) -> Option<&C> {
        match self {
            Toggle::On(config) => Some(config),
            _ => None,
        }
    }
}

impl<C: LayerConfig + Clone> Toggle<C> {
    /// The settings the layer is built with: given ones, the stack's
    /// `default` (`None` for an opt-in layer), or none when left out.
    pub fn resolve(&self, default: impl FnOnce() -> Option<C>) -> Option<C> {
        match self {
            Toggle::Default => default(),
            Toggle::Off => None,
            Toggle::On(config) => Some(config.clone()),
        }
    }

    /// Checks given settings; an error names `section` and the field.
    pub fn validate(&self, section: &str) -> Result<(), ConfigError> {
        match self {
            Toggle::On(config) => config.validate().map_err(|e| e.in_section(section)),
            _ => Ok(()),
        }
    }

    /// Builds the layer in `env` with the default classifier, if it is on.
    pub fn build_in(
        &self,
        env: &BuildEnv,
        section: &str,
        default: impl FnOnce() -> Option<C>,
    ) -> Result<Option<C::Layer>, ConfigError> {
        self.resolve(default)
            .map(|config| config.build_in(env))
            .transpose()
            .map_err(|e| e.in_section(section))
    }
}

#[cfg(feature = "serde")]
mod de {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::value::{MapAccessDeserializer, MapDeserializer, StrDeserializer};
    use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
    use serde::{Serialize, Serializer};

    use super::Toggle;

    /// Written back as it is read: given settings as their table, `Off`
    /// as `false`, and the stack's default as nothing (a TOML table leaves
    /// the key out).
    impl<T: Serialize> Serialize for Toggle<T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Toggle::Default => serializer.serialize_none(),
                Toggle::Off => serializer.serialize_bool(false),
                Toggle::On(config) => config.serialize(serializer),
            }
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(ToggleVisitor(PhantomData))
        }
    }

    struct ToggleVisitor<T>(PhantomData<fn() -> T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ToggleVisitor<T> {
        type Value = Toggle<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("`false`, `true`, or the layer's settings")
        }

        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            if !on {
                return Ok(Toggle::Off);
            }
            // `true`: the layer's own defaults, as from an empty table.
            let empty = MapDeserializer::<_, E>::new(std::iter::empty::<(&str, &str)>());
            T::deserialize(empty).map(Toggle::On)
        }

        // A layer whose settings can be one string (`timeout = "2s"`).
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            T::deserialize(StrDeserializer::<E>::new(value)).map(Toggle::On)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Toggle::On)
        }
    }
}
