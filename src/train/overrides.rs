//! `train --set KEY=VALUE`: change any training setting by its dotted path in the checkpoint's
//! `settings` JSON (e.g. `lr.time_per_spacing=0.2`, `densify.end_fraction=0.5`), so a schedule can be tried
//! without a flag per knob. Unknown keys and values of the wrong type are errors, never ignored.

use super::TrainConfig;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("--set {0}: expected KEY=VALUE")]
    Syntax(String),
    #[error("--set {key}: no such setting (known here: {known})")]
    UnknownKey { key: String, known: String },
    #[error("--set {key}={value}: {reason}")]
    BadValue { key: String, value: String, reason: String },
}

/// Applies `KEY=VALUE` overrides in order. VALUE is read as JSON (numbers, booleans, arrays), or as
/// a string when it is not valid JSON.
pub fn apply_overrides(config: &TrainConfig, overrides: &[String]) -> Result<TrainConfig, OverrideError> {
    let mut json = serde_json::to_value(config).expect("TrainConfig serialises");
    for item in overrides {
        let (key, raw) = item.split_once('=').ok_or_else(|| OverrideError::Syntax(item.clone()))?;
        let (key, raw) = (key.trim(), raw.trim());
        if key.is_empty() {
            return Err(OverrideError::Syntax(item.clone()));
        }
        let value: Value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        let slot = slot_mut(&mut json, key)?;
        if std::mem::discriminant(slot) != std::mem::discriminant(&value) {
            return Err(OverrideError::BadValue {
                key: key.to_string(),
                value: raw.to_string(),
                reason: format!("expected a value like {slot}"),
            });
        }
        *slot = value;
        // Deserialise after each item so the error names the override that broke it.
        serde_json::from_value::<TrainConfig>(json.clone()).map_err(|e| OverrideError::BadValue {
            key: key.to_string(),
            value: raw.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(serde_json::from_value(json).expect("checked after each override"))
}

fn slot_mut<'a>(json: &'a mut Value, key: &str) -> Result<&'a mut Value, OverrideError> {
    let mut node = json;
    for part in key.split('.') {
        let known = match &*node {
            Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
            _ => String::new(),
        };
        node = match node {
            Value::Object(map) if map.contains_key(part) => map.get_mut(part).expect("checked"),
            _ => return Err(OverrideError::UnknownKey { key: key.to_string(), known }),
        };
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> Result<TrainConfig, OverrideError> {
        apply_overrides(&TrainConfig::default(), &items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn nested_and_top_level_settings_change() {
        let c =
            set(&["lr.time_per_spacing=0.2", "densify.end_fraction=0.5", "iterations=7", "carve_init=false"]).unwrap();
        assert_eq!(c.lr.time_per_spacing, 0.2);
        assert_eq!(c.densify.end_fraction, 0.5);
        assert_eq!(c.iterations, 7);
        assert!(!c.carve_init);
        // Untouched settings keep their defaults.
        assert_eq!(c.lr.color, TrainConfig::default().lr.color);
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_syntax_are_errors() {
        let e = set(&["lr.tiem_per_spacing=0.2"]).unwrap_err();
        assert!(matches!(e, OverrideError::UnknownKey { .. }) && e.to_string().contains("time_per_spacing"), "{e}");
        assert!(matches!(set(&["iterations=fast"]), Err(OverrideError::BadValue { .. })));
        assert!(matches!(set(&["iterations=-3"]), Err(OverrideError::BadValue { .. })));
        assert!(matches!(set(&["carve_init=1"]), Err(OverrideError::BadValue { .. })));
        assert!(matches!(set(&["lr.time"]), Err(OverrideError::Syntax(_))));
        assert!(matches!(set(&["=3"]), Err(OverrideError::Syntax(_))));
    }
}
