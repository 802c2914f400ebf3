//! API keys, roles, tenants and per-key rate limits.
//!
//! A key is sent as `x-api-key: <secret>` or `Authorization: Bearer <secret>`. Only the SHA-256
//! digest of a secret is stored; a presented secret is hashed, looked up by digest, and the
//! digests are compared in constant time. Keys are random 256-bit secrets, so a fast hash is the
//! right tool (there is nothing to brute-force), and the lookup by digest reveals nothing about
//! the secret through timing.
//!
//! Each key belongs to one tenant and carries roles. `x-tenant-id` (or a `tenant_id` field) must
//! name the key's tenant, unless the key has `tenant.admin`, which may act for any tenant.
//!
//! [`layer`] applies this at the router: each route declares the role it needs, the layer
//! authenticates, charges the rate limit, checks the role and puts the [`Principal`] in the
//! request; a handler then only asks the principal which tenant the request acts for
//! ([`Principal::target`]), since that may depend on a field of the request body.

mod error;
pub mod layer;

pub use error::AuthError;
pub use layer::{principal, require};

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http::HeaderMap;
use minoots_kernel::{
    KernelError, Micros,
    error::{Kind, quote},
    store::{ApiKey, Store},
};

use crate::{
    backend::Target,
    grpc::kernel::{TENANT_HEADER, resolve_tenant_parts},
};
use sha2::{Digest as _, Sha256};

pub const API_KEY_HEADER: &str = "x-api-key";
pub const REGION_HEADER: &str = "x-minoots-region";

/// The key `--dev` seeds, for tenant [`DEV_TENANT`].
pub const DEV_KEY: &str = "local-dev-key";
pub const DEV_TENANT: &str = "tenant-local";

/// Key ids are `key_` and 32 hex digits; longer ones are refused before the store is asked.
const MAX_KEY_ID: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Get, list and stream timers.
    TimerRead,
    /// Schedule timers.
    TimerWrite,
    /// Cancel timers.
    TimerCancel,
    /// Act for any tenant and manage keys and limits.
    TenantAdmin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::TimerRead,
        Role::TimerWrite,
        Role::TimerCancel,
        Role::TenantAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimerRead => "timer.read",
            Self::TimerWrite => "timer.write",
            Self::TimerCancel => "timer.cancel",
            Self::TenantAdmin => "tenant.admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?} (timer.read, timer.write, timer.cancel or tenant.admin)"
                )
            })
    }
}

/// Requests per second and burst of one rate-limit tier; `None` rate means unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tier {
    pub per_second: Option<f64>,
    pub burst: f64,
}

/// Auth settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Tiers by name. `unlimited` always exists.
    pub tiers: HashMap<String, Tier>,
    /// Tier of keys created without one.
    pub default_tier: String,
    /// How long a looked-up key is trusted before the store is read again. Revocations through
    /// the admin API apply at once; others (another gateway, the CLI) within this time.
    pub key_cache_ttl: Duration,
    /// Keep rate-limit buckets in the key store instead of this process, so that gateways
    /// sharing one database enforce each key's rate together (split and cluster deployments).
    pub shared_rate_limits: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tiers: parse_tiers("standard=1000:2000").expect("valid default tiers"),
            default_tier: "standard".to_owned(),
            key_cache_ttl: Duration::from_secs(5),
            shared_rate_limits: false,
        }
    }
}

/// Parses `name=PER_SECOND[:BURST]` entries separated by commas, e.g. `standard=100:200,pro=1000`.
/// The burst defaults to twice the rate. `unlimited` is always defined.
pub fn parse_tiers(text: &str) -> Result<HashMap<String, Tier>, String> {
    let mut tiers = HashMap::from([(
        "unlimited".to_owned(),
        Tier {
            per_second: None,
            burst: 0.0,
        },
    )]);
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, limit) = entry.split_once('=').ok_or_else(|| {
            format!("rate limit tier {entry:?}: expected name=PER_SECOND[:BURST]")
        })?;
        let (rate, burst) = match limit.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (limit, None),
        };
        let number = |text: &str| {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| {
                    format!("rate limit tier {name:?}: {text:?} is not a positive number")
                })
        };
        let per_second = number(rate)?;
        let burst = burst.map(number).transpose()?.unwrap_or(per_second * 2.0);
        tiers.insert(
            name.trim().to_owned(),
            Tier {
                per_second: Some(per_second),
                burst: burst.max(1.0),
            },
        );
    }
    Ok(tiers)
}

/// Who a verified key belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub tenant: String,
    pub roles: Vec<Role>,
    pub tier: String,
    /// The digest the key was found by, to look it up again (a stream re-checks its key).
    pub digest: String,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The tenant and region a request of this principal acts for: the key's own tenant, or for
    /// a tenant.admin key the `x-tenant-id` header, else `field` (the request's tenant_id), else
    /// the key's. A plain key naming another tenant is refused.
    pub fn target(&self, headers: &HeaderMap, field: &str) -> Result<Target, AuthError> {
        let header_tenant = header(headers, TENANT_HEADER);
        let tenant = if self.has(Role::TenantAdmin) {
            // An admin acts for the tenant the request names, else for its own.
            Some(resolve_tenant_parts(header_tenant, field)?)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| self.tenant.clone())
        } else {
            for (named, source) in [(header_tenant, "x-tenant-id"), (Some(field), "tenant_id")] {
                if let Some(named) = named.filter(|n| !n.is_empty() && *n != self.tenant) {
                    return Err(AuthError::PermissionDenied(format!(
                        "{source} names tenant {}, but this API key belongs to another tenant",
                        quote(named)
                    )));
                }
            }
            self.tenant.clone()
        };
        Ok(Target {
            tenant,
            region: header(headers, REGION_HEADER).map(str::to_owned),
        })
    }
}

/// A created key and its secret, which is shown this once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Auth {
    store: Arc<dyn Store>,
    config: AuthConfig,
    /// digest -> (key, when it was read).
    cache: Mutex<HashMap<String, (ApiKey, Instant)>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Ids of keys revoked through this gateway; each revocation bumps `revocations`, which
    /// wakes the streams watching their key.
    revoked_here: Mutex<HashSet<String>>,
    revocations: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Equal in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn new_secret() -> String {
    format!(
        "mk_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Micros)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The secret a request presents: `x-api-key`, else `Authorization: Bearer`.
fn presented_secret(headers: &HeaderMap) -> Result<&str, AuthError> {
    if let Some(key) = header(headers, API_KEY_HEADER) {
        return Ok(key);
    }
    match header(headers, "authorization") {
        Some(value) => value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                AuthError::Unauthenticated(
                    "the Authorization header must be `Bearer <api key>`".to_owned(),
                )
            }),
        None => Err(AuthError::Unauthenticated(
            "missing API key: send the x-api-key header or Authorization: Bearer <key>".to_owned(),
        )),
    }
}

impl Auth {
    pub fn new(store: Arc<dyn Store>, config: AuthConfig) -> Result<Self, String> {
        if !config.tiers.contains_key(&config.default_tier) {
            return Err(format!(
                "the default rate limit tier {:?} is not defined",
                config.default_tier
            ));
        }
        Ok(Self {
            store,
            config,
            cache: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            revoked_here: Mutex::new(HashSet::new()),
            revocations: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Resolves (with the refusal to send) once the key behind `principal` is revoked: at once
    /// for a revocation through this gateway, and for one made elsewhere (another gateway, the
    /// CLI) within the key cache TTL, when the stream re-reads its key. A stream opened with the
    /// key ends then. A store that cannot be read keeps the stream open: it was admitted.
    pub fn revocation(
        self: &Arc<Self>,
        principal: &Principal,
    ) -> impl Future<Output = AuthError> + Send + 'static {
        let auth = self.clone();
        let (key_id, digest) = (principal.key_id.clone(), principal.digest.clone());
        let mut revocations = self.revocations.subscribe();
        let recheck = self
            .config
            .key_cache_ttl
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        async move {
            let revoked = || AuthError::Unauthenticated("this API key was revoked".to_owned());
            loop {
                tokio::select! {
                    changed = revocations.changed() => {
                        if changed.is_ok() {
                            if auth.revoked_here.lock().unwrap().contains(&key_id) {
                                return revoked();
                            }
                            continue;
                        }
                        // The Auth is gone: the server is stopping, streams end with it.
                        std::future::pending::<()>().await;
                    }
                    () = tokio::time::sleep(recheck) => {}
                }
                match auth.store.find_api_key(&digest).await {
                    Ok(Some(key)) if key.revoked_at.is_none() => {}
                    Ok(_) => return revoked(),
                    Err(error) => {
                        tracing::debug!(%error, "re-reading an API key for an open stream failed")
                    }
                }
            }
        }
    }

    /// Authenticates the request, charges its key's rate limit and checks `role` (`None`: any
    /// valid key). What the layer runs for every request.
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        role: Option<Role>,
    ) -> Result<Principal, AuthError> {
        let principal = self.authenticate(headers).await?;
        self.charge(&principal).await?;
        if let Some(role) = role
            && !principal.has(role)
            && !principal.has(Role::TenantAdmin)
        {
            return Err(AuthError::PermissionDenied(format!(
                "this API key lacks the role {}",
                role.as_str()
            )));
        }
        Ok(principal)
    }

    /// [`Auth::admit`] and [`Principal::target`] in one step, for callers outside a router.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        role: Role,
        field: &str,
    ) -> Result<Target, AuthError> {
        self.admit(headers, Some(role))
            .await?
            .target(headers, field)
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let secret = presented_secret(headers)?;
        let digest = digest(secret);
        let cached = {
            let cache = self.cache.lock().unwrap();
            cache
                .get(&digest)
                .filter(|(_, at)| at.elapsed() < self.config.key_cache_ttl)
                .map(|(key, _)| key.clone())
        };
        let key = match cached {
            Some(key) => Some(key),
            None => {
                let found = self.store.find_api_key(&digest).await?;
                if let Some(key) = &found {
                    self.cache
                        .lock()
                        .unwrap()
                        .insert(digest.clone(), (key.clone(), Instant::now()));
                }
                found
            }
        };
        let key = key
            .filter(|k| constant_time_eq(k.digest.as_bytes(), digest.as_bytes()))
            .ok_or_else(|| AuthError::Unauthenticated("unknown API key".to_owned()))?;
        if key.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated(
                "this API key was revoked".to_owned(),
            ));
        }
        Ok(Principal {
            digest: key.digest.clone(),
            roles: key.roles.iter().filter_map(|r| r.parse().ok()).collect(),
            key_id: key.id,
            tenant: key.tenant_id,
            tier: key.tier,
        })
    }

    /// Takes one token from the key's bucket, or says when the next one is due. With shared
    /// rate limits the bucket is in the store; if the store cannot be reached, this process's
    /// bucket stands in.
    async fn charge(&self, principal: &Principal) -> Result<(), AuthError> {
        // A tier removed from the configuration falls back to the default tier.
        let tier = self
            .config
            .tiers
            .get(&principal.tier)
            .or_else(|| self.config.tiers.get(&self.config.default_tier))
            .copied();
        let Some(Tier {
            per_second: Some(rate),
            burst,
        }) = tier
        else {
            return Ok(());
        };
        if self.config.shared_rate_limits {
            let bucket = format!("api-key:{}", principal.key_id);
            match self
                .store
                .take_rate_token(&bucket, rate, burst, now_micros())
                .await
            {
                Ok(token) => {
                    return match token.wait(rate) {
                        None => Ok(()),
                        Some(wait) => Err(AuthError::RateLimited {
                            retry_after_ms: (wait as u64).div_ceil(1_000).max(1),
                        }),
                    };
                }
                Err(error) => {
                    tracing::warn!(%error, "shared rate limit unavailable; using this process's")
                }
            }
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets.entry(principal.key_id.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Err(AuthError::RateLimited {
                retry_after_ms: (wait * 1_000.0).ceil().max(1.0) as u64,
            })
        }
    }

    /// Creates a key. Its secret is returned once and never stored.
    pub async fn create_key(
        &self,
        tenant: &str,
        name: &str,
        roles: &[Role],
        tier: Option<&str>,
    ) -> Result<CreatedKey, KernelError> {
        let secret = new_secret();
        self.insert_key(tenant, name, roles, tier, &secret, None)
            .await
            .map(|key| CreatedKey { key, secret })
    }

    async fn insert_key(
        &self,
        tenant: &str,
        name: &str,
        roles: &[Role],
        tier: Option<&str>,
        secret: &str,
        id: Option<String>,
    ) -> Result<ApiKey, KernelError> {
        minoots_kernel::validate::tenant_id(tenant)?;
        if roles.is_empty() {
            return Err(KernelError::invalid("roles", "name at least one role"));
        }
        let tier = tier.unwrap_or(&self.config.default_tier);
        if !self.config.tiers.contains_key(tier) {
            let mut known: Vec<&str> = self.config.tiers.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(KernelError::invalid(
                "tier",
                format!("unknown tier {tier:?} (known: {})", known.join(", ")),
            ));
        }
        if name.len() > 200 {
            return Err(KernelError::invalid("name", "at most 200 bytes"));
        }
        let mut role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        role_names.sort_unstable();
        role_names.dedup();
        let key = ApiKey {
            id: id.unwrap_or_else(|| format!("key_{}", uuid::Uuid::now_v7().simple())),
            tenant_id: tenant.to_owned(),
            name: name.to_owned(),
            roles: role_names,
            tier: tier.to_owned(),
            digest: digest(secret),
            created_at: now_micros(),
            revoked_at: None,
        };
        self.store.put_api_key(&key).await?;
        Ok(key)
    }

    pub async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>, KernelError> {
        self.store.list_api_keys(tenant).await
    }

    /// Revokes a key; this gateway refuses it from now on.
    pub async fn revoke_key(&self, id: &str) -> Result<ApiKey, KernelError> {
        if id.len() > MAX_KEY_ID {
            return Err(KernelError::invalid(
                "id",
                format!("{} is not an API key id", quote(id)),
            ));
        }
        let key = self
            .store
            .revoke_api_key(id, now_micros())
            .await?
            .ok_or_else(|| KernelError::not_found(Kind::ApiKey, id))?;
        self.cache.lock().unwrap().remove(&key.digest);
        self.revoked_here.lock().unwrap().insert(key.id.clone());
        self.revocations.send_modify(|n| *n += 1);
        Ok(key)
    }

    /// `--dev`: makes sure [`DEV_KEY`] exists for [`DEV_TENANT`] with every role, unlimited.
    /// Returns whether it was created now.
    pub async fn seed_dev_key(&self) -> Result<bool, KernelError> {
        if self.store.find_api_key(&digest(DEV_KEY)).await?.is_some() {
            return Ok(false);
        }
        self.insert_key(
            DEV_TENANT,
            "development key (--dev)",
            &Role::ALL,
            Some("unlimited"),
            DEV_KEY,
            Some("key_local_dev".to_owned()),
        )
        .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minoots_kernel::store::MemoryStore;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn auth(tiers: &str) -> Auth {
        let config = AuthConfig {
            tiers: parse_tiers(tiers).unwrap(),
            ..AuthConfig::default()
        };
        Auth::new(Arc::new(MemoryStore::new()), config).unwrap()
    }

    #[tokio::test]
    async fn keys_are_checked_by_role_and_tenant() {
        let auth = auth("standard=1000");
        let reader = auth
            .create_key("acme", "ci", &[Role::TimerRead], None)
            .await
            .unwrap();
        assert!(reader.secret.starts_with("mk_") && reader.secret.len() > 60);
        assert_ne!(
            reader.key.digest, reader.secret,
            "only the digest is stored"
        );
        let h = headers(&[(API_KEY_HEADER, &reader.secret)]);
        assert_eq!(
            auth.authorize(&h, Role::TimerRead, "")
                .await
                .unwrap()
                .tenant,
            "acme"
        );
        assert!(matches!(
            auth.authorize(&h, Role::TimerWrite, "").await,
            Err(AuthError::PermissionDenied(m)) if m.contains("timer.write")
        ));
        let bearer = format!("Bearer {}", reader.secret);
        let h = headers(&[("authorization", &bearer), (TENANT_HEADER, "globex")]);
        assert!(matches!(
            auth.authorize(&h, Role::TimerRead, "").await,
            Err(AuthError::PermissionDenied(m)) if m.contains("x-tenant-id")
        ));
        let h = headers(&[("authorization", &bearer)]);
        assert!(matches!(
            auth.authorize(&h, Role::TimerRead, "globex").await,
            Err(AuthError::PermissionDenied(m)) if m.contains("tenant_id")
        ));
        for h in [
            headers(&[]),
            headers(&[(API_KEY_HEADER, "nope")]),
            headers(&[("authorization", "Basic abc")]),
        ] {
            assert!(matches!(
                auth.authorize(&h, Role::TimerRead, "").await,
                Err(AuthError::Unauthenticated(_))
            ));
        }

        assert!(auth.seed_dev_key().await.unwrap());
        assert!(
            !auth.seed_dev_key().await.unwrap(),
            "seeding twice is harmless"
        );
        let h = headers(&[(API_KEY_HEADER, DEV_KEY), (TENANT_HEADER, "globex")]);
        assert_eq!(
            auth.authorize(&h, Role::TimerCancel, "")
                .await
                .unwrap()
                .tenant,
            "globex"
        );
        let h = headers(&[(API_KEY_HEADER, DEV_KEY)]);
        assert_eq!(
            auth.authorize(&h, Role::TimerRead, "")
                .await
                .unwrap()
                .tenant,
            DEV_TENANT
        );

        auth.revoke_key(&reader.key.id).await.unwrap();
        let h = headers(&[(API_KEY_HEADER, &reader.secret)]);
        assert!(matches!(
            auth.authorize(&h, Role::TimerRead, "").await,
            Err(AuthError::Unauthenticated(m)) if m.contains("revoked")
        ));
        assert!(matches!(
            auth.create_key("acme", "x", &[Role::TimerRead], Some("gold")).await,
            Err(KernelError::InvalidArgument { field, .. }) if field == "tier"
        ));
        assert!(matches!(
            auth.create_key("acme", "x", &[], None).await,
            Err(KernelError::InvalidArgument { field, .. }) if field == "roles"
        ));
    }

    #[tokio::test]
    async fn the_rate_limit_is_a_token_bucket_per_key() {
        let auth = auth("standard=1000,slow=1:3");
        let key = auth
            .create_key("acme", "ci", &[Role::TimerRead], Some("slow"))
            .await
            .unwrap();
        let other = auth
            .create_key("acme", "ci2", &[Role::TimerRead], Some("slow"))
            .await
            .unwrap();
        let h = headers(&[(API_KEY_HEADER, &key.secret)]);
        for _ in 0..3 {
            auth.authorize(&h, Role::TimerRead, "").await.unwrap();
        }
        match auth.authorize(&h, Role::TimerRead, "").await {
            Err(AuthError::RateLimited { retry_after_ms }) => {
                assert!((1..=1_000).contains(&retry_after_ms), "{retry_after_ms}")
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        let h = headers(&[(API_KEY_HEADER, &other.secret)]);
        auth.authorize(&h, Role::TimerRead, "")
            .await
            .expect("buckets are per key");
    }

    #[tokio::test]
    async fn gateways_sharing_a_store_share_each_keys_rate_limit() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let config = AuthConfig {
            tiers: parse_tiers("slow=1:4").unwrap(),
            default_tier: "slow".to_owned(),
            shared_rate_limits: true,
            ..AuthConfig::default()
        };
        let gateways = [
            Auth::new(store.clone(), config.clone()).unwrap(),
            Auth::new(store, config).unwrap(),
        ];
        let key = gateways[0]
            .create_key("acme", "ci", &[Role::TimerRead], None)
            .await
            .unwrap();
        let h = headers(&[(API_KEY_HEADER, &key.secret)]);
        // A burst of 4 across both gateways, not 4 on each.
        let mut admitted = 0;
        for i in 0..8 {
            if gateways[i % 2]
                .authorize(&h, Role::TimerRead, "")
                .await
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 4);
        assert!(matches!(
            gateways[1].authorize(&h, Role::TimerRead, "").await,
            Err(AuthError::RateLimited { retry_after_ms }) if (1..=1_000).contains(&retry_after_ms)
        ));
    }

    #[tokio::test]
    async fn a_revoked_key_ends_what_watches_it() {
        let auth = Arc::new(auth("standard=1000"));
        let key = auth
            .create_key("acme", "ci", &[Role::TimerRead], None)
            .await
            .unwrap();
        let h = headers(&[(API_KEY_HEADER, &key.secret)]);
        let principal = auth.admit(&h, None).await.unwrap();
        let watch = tokio::spawn(auth.revocation(&principal));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!watch.is_finished());
        auth.revoke_key(&key.key.id).await.unwrap();
        let error = tokio::time::timeout(Duration::from_secs(1), watch)
            .await
            .expect("ends at once when revoked here")
            .unwrap();
        assert!(matches!(error, AuthError::Unauthenticated(m) if m.contains("revoked")));
    }

    #[test]
    fn tiers_parse_and_bad_ones_name_the_problem() {
        let tiers = parse_tiers("standard=100:150, pro=1000").unwrap();
        assert_eq!(
            tiers["standard"],
            Tier {
                per_second: Some(100.0),
                burst: 150.0
            }
        );
        assert_eq!(tiers["pro"].burst, 2000.0);
        assert!(tiers["unlimited"].per_second.is_none());
        assert!(
            parse_tiers("standard")
                .unwrap_err()
                .contains("name=PER_SECOND")
        );
        assert!(
            parse_tiers("standard=fast")
                .unwrap_err()
                .contains("\"fast\"")
        );
    }
}
