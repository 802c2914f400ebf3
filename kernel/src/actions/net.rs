//! Outbound HTTP for actions, with an SSRF guard: targets that resolve to loopback, private,
//! link-local, shared (CGNAT), multicast or unspecified addresses are refused unless an allow-list
//! entry (an address or CIDR) permits them. The guard runs in the HTTP client's resolver, on the
//! addresses actually connected to, so DNS rebinding cannot slip past it; redirects are not
//! followed, and no proxy is ever used (a proxy would resolve and connect on the kernel's behalf,
//! out of the guard's sight, so `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` are ignored).
//!
//! Also what the HTTP kinds share: the URL check at validation, screening a target before
//! sending, and the signed JSON POST of webhook and HTTP agent deliveries, which reads a
//! receiver's `Retry-After` on HTTP 429 and 503.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{Attempt, Executor, RetryAfter, failed, refused, truncate};
use crate::error::{KernelError, Result};

/// An address or network, `127.0.0.1`, `10.0.0.0/8`, `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: prefix must be 0..={max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an address is not public, if it is not.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (CGNAT)")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
                Some("not routable")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not routable")
            } else {
                None
            }
        }
    }
}

/// Which targets actions may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allow: Vec<Cidr>,
}

impl AddressPolicy {
    /// Parses a comma-separated allow-list (`MINOOTS_WEBHOOK_ALLOW`).
    pub fn from_list(list: &str) -> Result<Self, String> {
        let allow = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match non_public(ip) {
            Some(why) if !self.allow.iter().any(|c| c.contains(ip)) => Err(format!(
                "refused: {ip} is a {why} address (allow it with MINOOTS_WEBHOOK_ALLOW)"
            )),
            _ => Ok(()),
        }
    }

    /// Checks a URL before it is requested: scheme, and the host when it is an address literal
    /// (names are checked by the resolver, after resolution).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "refused: scheme {:?} (http or https only)",
                url.scheme()
            ));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err("refused: the URL has no host".to_owned()),
        }
    }
}

/// Resolves with the system resolver, then drops every address the policy refuses.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} has no address"));
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of webhook and agent actions. Never through a proxy: the guard judges the
/// addresses this client connects to, and through a proxy that would be the proxy's address.
pub fn client(policy: Arc<AddressPolicy>) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("minoots/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("building the action HTTP client")
}

/// Checks, when a timer is scheduled, that a webhook or agent target is an absolute http(s) URL.
pub(crate) fn validate_url(field: &str, url: &str) -> Result<()> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| KernelError::invalid(field, format!("{url:?} is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(KernelError::invalid(
            field,
            "must be an absolute http or https URL",
        ));
    }
    Ok(())
}

/// An error with its causes, which reqwest keeps in `source()`.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Executor {
    /// Parses and screens an outbound URL.
    pub(crate) fn target(&self, url: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        self.inner.config.address_policy.check_url(&url)?;
        Ok(url)
    }

    /// Sends a signed JSON request and reads the answer (truncated).
    pub(crate) async fn post_signed(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Attempt {
        let Some(signed) = self.inner.config.signer.sign_now(key, &body) else {
            return refused(
                "no signing secret is configured (MINOOTS_SIGNING_SECRETS); deliveries are never sent unsigned",
            );
        };
        let mut request = request
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("idempotency-key", key);
        // The receiver continues the trace from this action's span.
        if let Some(traceparent) = crate::trace::current_traceparent() {
            request = request.header("traceparent", traceparent);
        }
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            // The guard refusing an address surfaces here, from the resolver.
            Err(error) if describe(&error).contains("refused: ") => {
                return refused(describe(&error));
            }
            Err(error) => return failed(describe(&error), String::new()),
        };
        let status = response.status();
        // Only where RFC 9110 gives it the meaning "come back later".
        let retry_after = matches!(status.as_u16(), 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let output = truncate(text, self.inner.config.output_limit);
        let detail = format!("HTTP {}", status.as_u16());
        if status.is_success() {
            return Ok((detail, output));
        }
        let mut failure = failed(detail, output);
        if let (Err(failure), Some(value)) = (&mut failure, retry_after) {
            failure.retry_after = RetryAfter::parse(&value);
            // The receiver's text, kept short in results and dead letters.
            let shown = truncate(value.trim().to_owned(), 64);
            failure.detail = format!("{} (Retry-After: {shown})", failure.detail);
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        let policy = AddressPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(policy.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(policy.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
        let policy = AddressPolicy::from_list("127.0.0.1, 10.0.0.0/8").unwrap();
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("127.0.0.2".parse().unwrap()).is_err());
        assert!(policy.check("10.9.9.9".parse().unwrap()).is_ok());
        assert!(
            AddressPolicy::from_list("10.0.0.0/33")
                .unwrap_err()
                .contains("prefix")
        );
        let url = reqwest::Url::parse("file:///etc/passwd").unwrap();
        assert!(policy.check_url(&url).unwrap_err().contains("scheme"));
    }
}
