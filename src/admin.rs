//! What an operator does from the command line besides serving: the schema,
//! staff accounts (create, update, disable, enable) and digital-intake tokens.

use crate::api::auth;
use crate::config::{read_text, SipConfig};
use crate::store::{Role, Store};
use std::path::Path;

/// `migrate`: creates or upgrades the database schema.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    Store::connect(database_url).await?;
    println!("database schema is up to date");
    Ok(())
}

/// `audit verify`: recomputes the audit log's hash chain. Prints how many rows
/// it checked; fails naming the first row that does not fit.
pub async fn audit_verify(database_url: &str) -> anyhow::Result<()> {
    let store = Store::connect(database_url).await?;
    let report = store.verify_audit_chain().await?;
    store.close().await;
    if let Some(broken) = report.broken {
        anyhow::bail!(
            "audit chain broken at {broken} ({} rows verified before it)",
            report.chained
        );
    }
    println!(
        "audit chain intact: {} rows verified ({} rows from before the chain not covered)",
        report.chained, report.before_chain
    );
    Ok(())
}

/// The digest realm of `sip.toml` in `config_dir` (SIP passwords are stored for it).
pub fn sip_realm(config_dir: &Path) -> anyhow::Result<String> {
    let path = config_dir.join("sip.toml");
    Ok(SipConfig::parse(&read_text(&path)?, &path)?.sip_realm)
}

/// `intake-token`: prints a new bearer token and the line for `intake-clients.toml`.
pub fn intake_token(name: &str) -> anyhow::Result<()> {
    auth::validate_username(name).map_err(anyhow::Error::msg)?;
    let token = auth::new_token();
    println!("token (give to the client system, shown once): {token}");
    println!();
    println!("[[client]]");
    println!("name = \"{name}\"");
    println!("token_sha256 = \"{}\"", auth::sha256_hex(&token));
    Ok(())
}

/// The care unit `create-user --unit` names, checked against `units.toml` in
/// `config_dir`: `(id, stored form)`; `None` (no `--unit`) is the default unit.
pub fn user_unit(
    config_dir: &Path,
    unit: Option<&str>,
) -> anyhow::Result<(String, Option<String>)> {
    let units = crate::config::read_units(config_dir)?;
    let id = match unit {
        Some(id) => units
            .require("--unit", id)
            .map_err(anyhow::Error::msg)?
            .id
            .clone(),
        None => units.default_unit().id.clone(),
    };
    let stored = units.stored(&id).map(str::to_string);
    Ok((id, stored))
}

/// `create-user`: hashes the password (argon2id) and stores the account in
/// care unit `unit` (from [`user_unit`]; on `update` only when `--unit` was
/// given); with `sip` = (realm, SIP password) also stores the digest HA1 for
/// the desk phone.
pub async fn create_user(
    database_url: &str,
    username: &str,
    role: &str,
    update: bool,
    sip: Option<(String, String)>,
    unit: Option<(String, Option<String>)>,
) -> anyhow::Result<()> {
    auth::validate_username(username).map_err(anyhow::Error::msg)?;
    let role: Role = role
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown role {role:?}: expected nurse or supervisor"))?;
    let password = match std::env::var("PE_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        anyhow::bail!(
            "password too short: use at least {} characters (set PE_PASSWORD or pipe it on stdin)",
            auth::MIN_PASSWORD_CHARS
        );
    }
    let sip_ha1 = match &sip {
        Some((_, pw)) if pw.chars().count() < auth::MIN_PASSWORD_CHARS => anyhow::bail!(
            "SIP password too short: use at least {} characters",
            auth::MIN_PASSWORD_CHARS
        ),
        Some((realm, pw)) => Some(crate::sip::digest::ha1(username, realm, pw)),
        None => None,
    };
    let hash = auth::hash_password(&password)?;
    let store = Store::connect(database_url).await?;
    let done = if update {
        store.update_user(username, &hash, role).await?
    } else {
        store
            .create_user(username, &hash, role, chrono::Utc::now())
            .await?
    };
    if done {
        if let Some(ha1) = &sip_ha1 {
            store.set_sip_ha1(username, Some(ha1)).await?;
        }
        if let Some((_, stored)) = &unit {
            store.set_user_unit(username, stored.as_deref()).await?;
        }
        let action = if update {
            "user.updated"
        } else {
            "user.created"
        };
        let entry = crate::store::AuditRecord::new(
            chrono::Utc::now(),
            "cli",
            action,
            None,
            format!(
                "user={username} role={role} sip_phone={}{}",
                sip_ha1.is_some(),
                unit.as_ref()
                    .map(|(id, _)| format!(" unit={id}"))
                    .unwrap_or_default()
            ),
            None,
        );
        store.audit(&entry).await?;
    }
    store.close().await;
    let in_unit = unit
        .as_ref()
        .map(|(id, _)| format!(" in unit {id}"))
        .unwrap_or_default();
    match (done, update) {
        (true, false) => println!("created {role} {username}{in_unit}"),
        (true, true) => println!("updated {username}: role {role}, new password, sessions ended"),
        (false, false) => anyhow::bail!("user {username} exists: use --update to change it"),
        (false, true) => anyhow::bail!("no user {username}: leave out --update to create it"),
    }
    if let Some((realm, _)) = &sip {
        println!("SIP desk-phone password set for {username} in realm {realm}");
    }
    Ok(())
}

/// `disable-user` / `enable-user`: disabling ends the account's sessions at
/// once (every node checks the store on each request). Audited.
pub async fn set_disabled(
    database_url: &str,
    username: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let store = Store::connect(database_url).await?;
    let done = store.set_user_disabled(username, disabled).await?;
    if done {
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        let entry = crate::store::AuditRecord::new(
            chrono::Utc::now(),
            "cli",
            action,
            None,
            format!("user={username}"),
            None,
        );
        store.audit(&entry).await?;
    }
    store.close().await;
    match (done, disabled) {
        (false, _) => anyhow::bail!("no user {username}: check the name (create-user makes one)"),
        (true, true) => println!("disabled {username}: sessions ended, sign-in and SIP refused"),
        (true, false) => println!("enabled {username}"),
    }
    Ok(())
}
