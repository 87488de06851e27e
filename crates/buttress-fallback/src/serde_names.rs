//! Reasons and methods in a config file, written by name: `"circuit_open"`
//! (the reason's label), `"GET"`.

pub(crate) mod reasons {
    use buttress_core::Reason;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        reasons: &Option<Vec<Reason>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        reasons
            .as_ref()
            .map(|reasons| reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>())
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<Reason>>, D::Error> {
        let Some(names) = Option::<Vec<String>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        names
            .iter()
            .map(|name| {
                Reason::ALL
                    .into_iter()
                    .find(|reason| reason.as_str() == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                        D::Error::custom(format!(
                            "unknown reason `{name}`, expected one of {}",
                            known.join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

pub(crate) mod methods {
    use http::Method;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        methods: &[Method],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Method>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|name| {
                Method::from_bytes(name.as_bytes())
                    .map_err(|_| D::Error::custom(format!("`{name}` is not an HTTP method")))
            })
            .collect()
    }
}
