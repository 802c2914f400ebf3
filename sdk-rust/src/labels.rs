//! Labels as people type them (`team=core,env=prod`, one per line, or a JSON object), parsed
//! once for the CLI, the GitHub Action, the Slack bot and the bindings.

use std::collections::BTreeMap;

use crate::Error;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: field.into(),
        message: message.into(),
    }
}

/// `key=value` entries separated by commas or newlines (`team=core, env=prod`), or a JSON object
/// of strings (`{"team": "core"}`). Keys and values are trimmed, empty entries skipped, and a
/// value may itself contain `=`. An entry without a key is an [`Error::InvalidArgument`] for
/// `labels` naming the entry; a JSON value that is not a string names `labels.<key>`.
///
/// ```
/// let labels = minoots::parse_labels("team=core, env=prod").unwrap();
/// assert_eq!(labels["env"], "prod");
/// assert!(minoots::parse_labels("team=core,oops").is_err());
/// ```
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, Error> {
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid("labels", format!("not valid JSON ({e})")))?;
        let Some(object) = value.as_object() else {
            return Err(invalid("labels", "expected a JSON object"));
        };
        return object
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(v) => Ok((key.clone(), v.clone())),
                _ => Err(invalid(format!("labels.{key}"), "must be a string")),
            })
            .collect();
    }
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(invalid("labels", format!("{entry:?} is not key=value"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> (String, String) {
        match parse_labels(text) {
            Err(Error::InvalidArgument { field, message }) => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pairs_by_comma_or_line_trimmed_with_equals_in_values() {
        let labels = parse_labels(" team = core,\nenv=prod,, query=a=b \n").unwrap();
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [("env", "prod"), ("query", "a=b"), ("team", "core")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(parse_labels("").unwrap().is_empty());
        assert_eq!(parse_labels("empty=").unwrap()["empty"], "");
    }

    #[test]
    fn json_objects_of_strings() {
        let labels = parse_labels(r#"{"kind": "gate", "team": "core"}"#).unwrap();
        assert_eq!(labels["kind"], "gate");
        assert_eq!(message(r#"{"n": 1}"#).0, "labels.n");
        assert_eq!(message("{oops").0, "labels");
    }

    #[test]
    fn a_bad_entry_is_named() {
        assert_eq!(
            message("team=core,oops"),
            ("labels".into(), r#""oops" is not key=value"#.into())
        );
        assert_eq!(message("=v").1, r#""=v" is not key=value"#);
    }
}
