//! Tenants, staff users and API keys from the command line, and the plumbing
//! every database command shares.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::Subcommand;
use gridcrm::{
    audit::Actor,
    config::Config,
    db::{self, Database},
    staff::{Role, db as staff_db, model},
    tenants::{self, TenantInput},
    web::error::FieldErrors,
};

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with the default reference lists.
    Create {
        /// Company code used at login, e.g. "hangzhou".
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        time_zone: String,
        /// Leading digits of the tenant's account numbers.
        #[arg(long, default_value = "01")]
        account_prefix: String,
        /// The operator's own tenant, whose users may be platform admins.
        #[arg(long)]
        platform: bool,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        /// counter_staff, account_manager, supervisor, tenant_admin or platform_admin.
        #[arg(long)]
        role: String,
        /// Name shown in pages and the audit log (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key and print it once.
    Create {
        #[arg(long)]
        tenant: String,
        /// The role the key acts with.
        #[arg(long)]
        role: String,
        /// What the key is for, e.g. "95598 call centre".
        #[arg(long, default_value = "api")]
        name: String,
    },
}

pub type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs an admin command against the database and always shuts it down after.
pub async fn with_database(
    config: &Config,
    f: impl for<'a> FnOnce(&'a Database) -> BoxFuture<'a>,
) -> anyhow::Result<()> {
    let database = Database::open(config, config.database_url.is_none()).await?;
    let result = f(&database).await;
    database.close().await;
    result
}

pub fn field_errors(what: &str, errors: &FieldErrors) -> anyhow::Error {
    let list: Vec<String> = errors.iter().map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.code)).collect();
    anyhow::anyhow!("{what}: {}", list.join(", "))
}

pub async fn tenant_command(database: &Database, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { slug, name, time_zone, account_prefix, platform } => {
            let input = TenantInput {
                slug: &slug,
                name: &name,
                time_zone: &time_zone,
                account_prefix: &account_prefix,
                is_platform: platform,
            };
            let valid = tenants::validate(&input).map_err(|e| field_errors("invalid tenant", &e))?;
            match tenants::create(&database.app, &valid, &Actor::command_line("tenant create")).await {
                Ok(id) => println!("created tenant {} ({id})", valid.slug),
                Err(tenants::CreateError::Invalid(e)) => {
                    return Err(field_errors("tenant not created", &e));
                }
                Err(tenants::CreateError::Db(e)) => return Err(e.into()),
            }
        }
        TenantCommand::List => {
            for t in tenants::list(&database.app).await? {
                println!(
                    "{:<20} {:<30} {}{}",
                    t.slug,
                    t.name,
                    t.time_zone,
                    if t.is_platform { " (platform)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    Ok(password)
}

pub async fn tenant_id(database: &Database, slug: &str) -> anyhow::Result<(uuid::Uuid, bool)> {
    let row = sqlx::query!("SELECT id, is_platform FROM tenants WHERE slug = $1", slug)
        .fetch_optional(&database.app)
        .await?
        .with_context(|| format!("no tenant with the code {slug:?}"))?;
    Ok((row.id, row.is_platform))
}

/// The company named by `--tenant`, or every company (not the platform).
pub async fn tenants_or_every(database: &Database, slug: Option<String>) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    Ok(match slug {
        Some(slug) => vec![(tenant_id(database, &slug).await?.0, slug)],
        None => sqlx::query!("SELECT id, slug FROM tenants WHERE NOT is_platform ORDER BY slug")
            .fetch_all(&database.app)
            .await?
            .into_iter()
            .map(|t| (t.id, t.slug))
            .collect(),
    })
}

pub async fn user_command(database: &Database, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create { tenant, username, role, display_name } = command;
    let (tenant_id, is_platform) = tenant_id(database, &tenant).await?;
    let mut errors = FieldErrors::default();
    let username = model::parse_username(&username, &mut errors);
    let role = Role::parse(&role);
    match role {
        None => errors.add("role", "unknown_code"),
        Some(Role::PlatformAdmin) if !is_platform => errors.add("role", "platform_role_outside_platform"),
        Some(Role::MeterSystem) => errors.add("role", "api_key_only_role"),
        Some(_) => {}
    }
    let password = read_password()?;
    model::check_password(&password, "password", &mut errors);
    if !errors.is_empty() {
        return Err(field_errors("user not created", &errors));
    }
    let role = role.unwrap_or(Role::CounterStaff);
    let display_name = display_name.unwrap_or_else(|| username.clone());
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let new = staff_db::NewUser {
        tenant_id,
        username: &username,
        display_name: &display_name,
        team: "",
        role,
        password: &password,
        locale: None,
    };
    gridcrm::staff::create_user(&mut tx, &Actor::command_line("user create"), new)
        .await?
        .with_context(|| format!("user {username} already exists"))?;
    tx.commit().await?;
    println!("created user {username} ({}) in {tenant}", role.as_str());
    Ok(())
}

pub async fn apikey_command(database: &Database, command: ApiKeyCommand) -> anyhow::Result<()> {
    let ApiKeyCommand::Create { tenant, role, name } = command;
    let (tenant_id, _) = tenant_id(database, &tenant).await?;
    let role = Role::parse(&role).filter(|r| Role::API_KEY_ROLES.contains(r)).with_context(|| {
        let roles: Vec<_> = Role::API_KEY_ROLES.iter().map(|r| r.as_str()).collect();
        format!("--role {role:?} is not one of {}", roles.join(", "))
    })?;
    let mut tx = db::begin_tenant(&database.app, tenant_id, None).await?;
    let key =
        gridcrm::staff::create_api_key(&mut tx, &Actor::command_line("apikey create"), tenant_id, &name, role).await?;
    tx.commit().await?;
    eprintln!("API key for {tenant} ({}); it is shown only this once:", role.as_str());
    println!("{key}");
    Ok(())
}
