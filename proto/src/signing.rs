//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, the exact bytes delivered, base64, sent as
//! `webhook-signature: v1,<sig>` with one entry per active secret, so a receiver keeps verifying
//! while secrets rotate.
//!
//! Secrets are `whsec_<base64 key>`, the form the published `standardwebhooks` libraries take.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// The development secret `--dev` uses when none is configured. Never for production.
pub const DEV_SECRET: &str = "whsec_bWlub290cy1sb2NhbC1kZXZlbG9wbWVudC1zZWNyZXQ=";

/// Headers of a signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub id: String,
    pub timestamp: i64,
    /// Space-separated `v1,<base64>` entries.
    pub signature: String,
}

impl Signed {
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}

#[derive(Clone, Default)]
pub struct Signer {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("secrets", &self.keys.len())
            .finish()
    }
}

impl Signer {
    /// Parses secrets (`whsec_` prefix optional, base64 key of at least 16 bytes). The first signs
    /// first; every one signs.
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> Result<Self, String> {
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| {
                let text = secret.as_ref().trim();
                let encoded = text.strip_prefix("whsec_").unwrap_or(text);
                let key = STANDARD.decode(encoded).map_err(|_| {
                    format!(
                        "signing secret #{}: not base64 (expected whsec_<base64>)",
                        i + 1
                    )
                })?;
                if key.len() < 16 {
                    return Err(format!(
                        "signing secret #{}: {} bytes; use at least 16 random bytes",
                        i + 1,
                        key.len()
                    ));
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { keys })
    }

    /// Splits a comma- or space-separated list, as `MINOOTS_SIGNING_SECRETS` holds it.
    pub fn from_list(list: &str) -> Result<Self, String> {
        let secrets: Vec<&str> = list
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Self::new(&secrets)
    }

    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Signs `body` as delivered with `id` at `timestamp` (Unix seconds); None without secrets.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Option<Signed> {
        if self.keys.is_empty() {
            return None;
        }
        let signature = self
            .keys
            .iter()
            .map(|key| {
                let mac = signed_content(key, id, &timestamp.to_string(), body);
                format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
            })
            .collect::<Vec<_>>()
            .join(" ");
        Some(Signed {
            id: id.to_owned(),
            timestamp,
            signature,
        })
    }

    /// Signs with the current time.
    pub fn sign_now(&self, id: &str, body: &[u8]) -> Option<Signed> {
        self.sign(id, unix_now(), body)
    }

    /// Checks a delivery as a receiver does: the timestamp within `tolerance` of `now` (Unix
    /// seconds), and at least one `v1,` entry of `signature` made by one of these secrets over
    /// exactly `body`. Compared in constant time.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
        tolerance: std::time::Duration,
    ) -> Result<(), VerifyError> {
        if self.keys.is_empty() {
            return Err(VerifyError::new("secrets", "no secret to verify with"));
        }
        if id.is_empty() {
            return Err(VerifyError::new("webhook-id", "missing"));
        }
        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::new("webhook-timestamp", "not Unix seconds"))?;
        if sent.abs_diff(now) > tolerance.as_secs() {
            return Err(VerifyError::new(
                "webhook-timestamp",
                format!("{sent} is more than {}s from now", tolerance.as_secs()),
            ));
        }
        let candidates: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::new("webhook-signature", "no v1 signature"));
        }
        let matched = self.keys.iter().any(|key| {
            candidates.iter().any(|candidate| {
                signed_content(key, id, timestamp.trim(), body)
                    .verify_slice(candidate)
                    .is_ok()
            })
        });
        if matched {
            Ok(())
        } else {
            Err(VerifyError::new(
                "webhook-signature",
                "no signature matches the body with these secrets",
            ))
        }
    }
}

/// HMAC-SHA256 over `{id}.{timestamp}.{body}`, the content Standard Webhooks signs.
fn signed_content(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> hmac::Hmac<Sha256> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why a delivery failed verification; `part` names the header (or `secrets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub part: &'static str,
    pub message: String,
}

impl VerifyError {
    fn new(part: &'static str, message: impl Into<String>) -> Self {
        Self {
            part,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}

impl std::error::Error for VerifyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test suite.
        let signer = Signer::new(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
        let signed = signer
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(
            signed.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn every_active_secret_signs_and_bad_secrets_are_named() {
        let signer = Signer::from_list(&format!(
            "{DEV_SECRET}, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        ))
        .unwrap();
        let signed = signer.sign("id", 1, b"{}").unwrap();
        assert_eq!(signed.signature.split(' ').count(), 2);
        assert!(Signer::default().sign("id", 1, b"{}").is_none());
        assert!(Signer::new(&["whsec_!!"]).unwrap_err().contains("#1"));
        assert!(Signer::new(&["whsec_c2hvcnQ="]).unwrap_err().contains("16"));
    }

    #[test]
    fn verifies_rotated_secrets_and_refuses_tampering_and_stale_deliveries() {
        let old = Signer::new(&[DEV_SECRET]).unwrap();
        let both = Signer::from_list(&format!(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw {DEV_SECRET}"
        ))
        .unwrap();
        let signed = both.sign("msg_1", 1_000, b"{\"a\":1}").unwrap();
        let ten_min = std::time::Duration::from_secs(300);
        let check = |signer: &Signer, body: &[u8], now: i64| {
            signer.verify("msg_1", "1000", &signed.signature, body, now, ten_min)
        };
        assert_eq!(check(&old, b"{\"a\":1}", 1_010), Ok(()));
        assert_eq!(
            check(&old, b"{\"a\":2}", 1_010).unwrap_err().part,
            "webhook-signature"
        );
        assert_eq!(
            check(&old, b"{\"a\":1}", 2_000).unwrap_err().part,
            "webhook-timestamp"
        );
        let other = Signer::new(&["whsec_c2hvcnQtYnV0LWxvbmctZW5vdWdoLWtleQ=="]).unwrap();
        assert!(check(&other, b"{\"a\":1}", 1_010).is_err());
    }
}
