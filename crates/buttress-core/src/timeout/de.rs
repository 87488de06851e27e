//! `Deserialize` for [`TimeoutConfig`]: a table, or the limit alone as a
//! human duration (`timeout = "2s"`), the way stacks write it.

use std::fmt;
use std::time::Duration;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::TimeoutConfig;

/// The table form, field for field.
#[derive(Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Table {
    name: Option<String>,
    #[serde(with = "humantime_serde")]
    limit: Option<Duration>,
}

impl<'de> Deserialize<'de> for TimeoutConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = TimeoutConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"2s\", or a table with `limit` and `name`")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<TimeoutConfig, E> {
        let limit = humantime_serde::re::humantime::parse_duration(value)
            .map_err(|e| E::custom(format!("invalid duration {value:?}: {e}")))?;
        Ok(TimeoutConfig::from(limit))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TimeoutConfig, A::Error> {
        let table = Table::deserialize(MapAccessDeserializer::new(map))?;
        Ok(TimeoutConfig {
            name: table.name,
            limit: table.limit,
        })
    }
}
