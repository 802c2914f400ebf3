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
                let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC takes keys of any length");
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.sign(id, now, body)
    }
}

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
}
