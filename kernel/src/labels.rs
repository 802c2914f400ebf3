//! Label rules and label selectors, shared by validation, every store and event filters.

use std::collections::BTreeMap;

use crate::error::quote;

pub const MAX_LABELS: usize = 64;
pub const MAX_VALUE_LEN: usize = 256;
const MAX_NAME_LEN: usize = 63;
const MAX_PREFIX_LEN: usize = 253;
/// Requirements in one selector. A timer has at most [`MAX_LABELS`] labels, so a longer
/// selector says nothing more, and every term is a condition the store must evaluate.
pub const MAX_SELECTOR_TERMS: usize = 64;
/// Bytes of one selector: room for [`MAX_SELECTOR_TERMS`] terms of ordinary length.
pub const MAX_SELECTOR_LEN: usize = 16 * 1024;

/// Keys follow Kubernetes: an optional DNS-subdomain prefix and `/`, then a name of up to 63
/// characters `[A-Za-z0-9._-]` that starts and ends alphanumeric (`minoots.io/region`, `team`).
/// Unlike Kubernetes, the prefix may hold upper-case letters (DNS names are case-insensitive):
/// the original control plane's labels are `ecosystem.nimbusGuardian/policy`.
pub fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && starts_and_ends_alphanumeric(prefix);
        if !ok {
            return Err(format!(
                "label key {}: prefix must be a DNS subdomain",
                quote(key)
            ));
        }
    }
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && starts_and_ends_alphanumeric(name);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "label key {}: name must be 1-63 characters of [A-Za-z0-9._-], starting and ending alphanumeric",
            quote(key)
        ))
    }
}

pub fn check_value(key: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_LEN {
        return Err(format!(
            "label {}: value longer than {MAX_VALUE_LEN} bytes",
            quote(key)
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "label {}: value contains control characters",
            quote(key)
        ));
    }
    Ok(())
}

fn starts_and_ends_alphanumeric(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// `env=prod,team!=core,urgent,!draft`: every requirement must hold. `key!=value` also matches
/// timers without the key, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector of at most [`MAX_SELECTOR_TERMS`] terms and [`MAX_SELECTOR_LEN`]
    /// bytes; the error says what is wrong (callers name the field).
    pub fn parse(selector: &str) -> Result<Self, String> {
        if selector.len() > MAX_SELECTOR_LEN {
            return Err(format!(
                "{} bytes, over the limit of {MAX_SELECTOR_LEN}",
                selector.len()
            ));
        }
        let mut requirements = Vec::new();
        for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if requirements.len() == MAX_SELECTOR_TERMS {
                return Err(format!(
                    "more than {MAX_SELECTOR_TERMS} requirements (terms separated by commas)"
                ));
            }
            let requirement = if let Some((key, value)) = part.split_once("!=") {
                let (key, value) = (key.trim(), value.trim());
                check_key(key)?;
                check_value(key, value)?;
                Requirement::NotEquals(key.to_owned(), value.to_owned())
            } else if let Some((key, value)) = part.split_once('=') {
                let (key, value) = (key.trim(), value.trim().trim_start_matches('='));
                check_key(key)?;
                check_value(key, value)?;
                Requirement::Equals(key.to_owned(), value.to_owned())
            } else if let Some(key) = part.strip_prefix('!') {
                check_key(key.trim())?;
                Requirement::NotExists(key.trim().to_owned())
            } else {
                check_key(part)?;
                Requirement::Exists(part.to_owned())
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::Equals(k, v) => labels.get(k) == Some(v),
                Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::NotExists(k) => !labels.contains_key(k),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kubernetes_rules_but_prefixes_may_hold_capitals() {
        for ok in [
            "team",
            "minoots.io/region",
            "a",
            "A_b-c.d",
            "ecosystem.source",
            // The original control plane's ecosystem labels: a prefix may hold capitals.
            "ecosystem.nimbusGuardian/policy",
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "x-",
            "has space",
            "-UPPER.io/x",
            "under_score.io/x",
            "/x",
            "x/",
            "a/b/c",
            &"k".repeat(64),
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn selector_parses_and_matches() {
        let selector = LabelSelector::parse("env=prod, team!=core,urgent,!draft").unwrap();
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selector.matches(&labels(&[("env", "prod"), ("urgent", "")])));
        assert!(!selector.matches(&labels(&[
            ("env", "prod"),
            ("urgent", ""),
            ("team", "core")
        ])));
        assert!(!selector.matches(&labels(&[("env", "prod"), ("urgent", ""), ("draft", "1")])));
        assert!(!selector.matches(&labels(&[("env", "dev"), ("urgent", "")])));
        assert!(LabelSelector::parse("bad key=1").is_err());
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn selectors_are_bounded_in_terms_and_length() {
        let terms = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            LabelSelector::parse(&terms(MAX_SELECTOR_TERMS))
                .unwrap()
                .requirements
                .len(),
            MAX_SELECTOR_TERMS
        );
        let error = LabelSelector::parse(&terms(999)).unwrap_err();
        assert!(error.contains("more than 64 requirements"), "{error}");
        let error = LabelSelector::parse(&"a".repeat(MAX_SELECTOR_LEN + 1)).unwrap_err();
        assert!(error.contains("over the limit"), "{error}");
        // A bad key is quoted, not echoed whole.
        let error = LabelSelector::parse(&format!("{}=1", "K ".repeat(5_000))).unwrap_err();
        assert!(error.len() < 300, "{error}");
    }
}
