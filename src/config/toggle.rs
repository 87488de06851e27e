//! [`Toggle`]: a layer's section in a config file — absent, `false`, or
//! its settings.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::value::{MapAccessDeserializer, MapDeserializer, StrDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// One layer's setting in a config file:
///
/// | TOML | meaning |
/// | --- | --- |
/// | absent | [`Toggle::Default`]: the stack's default (on, or off for an opt-in layer) |
/// | `bulkhead = false` | [`Toggle::Off`]: left out |
/// | `bulkhead = true` | [`Toggle::On`] with the layer's defaults |
/// | `[server.bulkhead]` with fields | [`Toggle::On`] with those settings |
/// | `timeout = "250ms"` | [`Toggle::On`] for a value written as a string |
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Toggle<T> {
    /// Not set: the stack decides.
    #[default]
    Default,
    /// Left out.
    Off,
    /// On, with these settings.
    On(T),
}

impl<T> Toggle<T> {
    /// The settings, if given.
    pub fn settings(&self) -> Option<&T> {
        match self {
            Toggle::On(value) => Some(value),
            _ => None,
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

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        T::deserialize(StrDeserializer::<E>::new(value)).map(Toggle::On)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Toggle::On)
    }
}

/// A duration written the human way (`"250ms"`, `"2s"`, `"1m 30s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Duration);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        humantime_serde::deserialize(deserializer).map(Limit)
    }
}
