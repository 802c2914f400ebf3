//! `minoots keys create|list|revoke`: API keys, directly in the store.

use clap::Subcommand;
use minoots_gateway::{
    admin::key_json,
    auth::{Auth, Role},
    setup::{StoreArgs, open_store},
};
use minoots_kernel::{Clock as _, SystemClock};

use super::args::AuthArgs;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown this once).
    Create {
        /// Tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// Roles: timer.read, timer.write, timer.cancel, tenant.admin (repeat or comma-separate)
        /// [default: timer.read,timer.write,timer.cancel].
        #[arg(long = "role", value_delimiter = ',')]
        roles: Vec<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Rate-limit tier.
        #[arg(long)]
        tier: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        auth: AuthArgs,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            tenant,
            roles,
            name,
            tier,
            json,
            store,
            auth,
        } => {
            let roles = if roles.is_empty() {
                vec![Role::TimerRead, Role::TimerWrite, Role::TimerCancel]
            } else {
                roles
                    .iter()
                    .map(|r| r.parse::<Role>().map_err(anyhow::Error::msg))
                    .collect::<anyhow::Result<_>>()?
            };
            let auth =
                Auth::new(open_store(&store).await?, auth.config()?).map_err(anyhow::Error::msg)?;
            let created = auth
                .create_key(&tenant, &name, &roles, tier.as_deref())
                .await?;
            if json {
                let mut out = key_json(&created.key);
                out["secret"] = created.secret.into();
                println!("{out}");
            } else {
                println!("id:     {}", created.key.id);
                println!("tenant: {}", created.key.tenant_id);
                println!("roles:  {}", created.key.roles.join(","));
                println!("tier:   {}", created.key.tier);
                println!("secret: {}", created.secret);
                eprintln!("the secret is shown this once; only its SHA-256 digest is stored");
            }
        }
        KeysCommand::List {
            tenant,
            json,
            store,
        } => {
            let keys = open_store(&store)
                .await?
                .list_api_keys(tenant.as_deref())
                .await?;
            if json {
                let keys: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", serde_json::Value::from(keys));
            } else {
                println!(
                    "{:<40} {:<20} {:<8} {:<10} ROLES",
                    "ID", "TENANT", "STATE", "TIER"
                );
                for key in keys {
                    let state = if key.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<40} {:<20} {:<8} {:<10} {}",
                        key.id,
                        key.tenant_id,
                        state,
                        key.tier,
                        key.roles.join(",")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, store } => {
            let at = SystemClock::new().now();
            match open_store(&store).await?.revoke_api_key(&id, at).await? {
                Some(_) => println!("revoked {id}"),
                None => anyhow::bail!("no API key with id {id:?}"),
            }
        }
    }
    Ok(())
}
