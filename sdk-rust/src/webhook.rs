use std::time::Duration;

use minoots_proto::signing::{Signer, unix_now};

use crate::Error;

/// How far a delivery's `webhook-timestamp` may be from now: the Standard Webhooks default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Verifies a webhook MINOOTS delivered: `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` from `headers` (names case-insensitive), HMAC-SHA256 over exactly `body`,
/// with any of `secrets` (`whsec_<base64>`; give both while rotating), timestamp within five
/// minutes. Fails with [`Error::InvalidSignature`] naming the header at fault.
pub fn verify_webhook<S, K, V>(
    secrets: &[S],
    headers: impl IntoIterator<Item = (K, V)>,
    body: &[u8],
) -> Result<(), Error>
where
    S: AsRef<str>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let signer = Signer::new(secrets).map_err(|message| Error::InvalidArgument {
        field: "secrets".into(),
        message,
    })?;
    let (mut id, mut timestamp, mut signature) = (String::new(), String::new(), String::new());
    for (name, value) in headers {
        let slot = match name.as_ref().to_ascii_lowercase().as_str() {
            "webhook-id" => &mut id,
            "webhook-timestamp" => &mut timestamp,
            "webhook-signature" => &mut signature,
            _ => continue,
        };
        *slot = value.as_ref().to_owned();
    }
    for (part, value) in [
        ("webhook-id", &id),
        ("webhook-timestamp", &timestamp),
        ("webhook-signature", &signature),
    ] {
        if value.is_empty() {
            return Err(Error::InvalidSignature {
                part: part.into(),
                message: "header missing".into(),
            });
        }
    }
    signer.verify(
        &id,
        &timestamp,
        &signature,
        body,
        unix_now(),
        DEFAULT_TOLERANCE,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn accepts_signed_bodies_and_names_what_is_wrong() {
        let signed = Signer::new(&[SECRET])
            .unwrap()
            .sign_now("t1:0", br#"{"type":"timer.fired"}"#)
            .unwrap();
        let headers = signed.headers();
        let headers = || headers.iter().map(|(k, v)| (k.to_uppercase(), v.clone()));
        verify_webhook(&[SECRET], headers(), br#"{"type":"timer.fired"}"#).unwrap();

        let part = |r: Result<(), Error>| match r {
            Err(Error::InvalidSignature { part, .. }) => part,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            part(verify_webhook(&[SECRET], headers(), b"{}")),
            "webhook-signature"
        );
        assert_eq!(
            part(verify_webhook(
                &[SECRET],
                headers().filter(|(k, _)| k != "WEBHOOK-ID"),
                b"{}"
            )),
            "webhook-id"
        );
        assert!(matches!(
            verify_webhook(&["not base64!"], headers(), b"{}"),
            Err(Error::InvalidArgument { field, .. }) if field == "secrets"
        ));
    }
}
