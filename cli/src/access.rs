//! `clustron user`, `role`, `token` and `whoami`: access control of a cluster (see
//! `clustron::auth` for the model and the grant syntax). Secrets are printed once, by
//! `token create`, and written nowhere else.

use std::time::Duration;

use clap::Subcommand;
use clustron::auth::{Grant, Identity, Role, TokenInfo, User};
use serde_json::json;

use crate::admin::Target;
use crate::exit::{CliError, Outcome};

/// What `clustron user` does.
#[derive(Subcommand)]
pub enum UserAction {
    /// Lists the users and their roles.
    List,
    /// Adds a user holding the roles given.
    Add {
        name: String,
        /// A role it holds (repeat for more).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Replaces the roles a user holds.
    Roles {
        name: String,
        /// A role it holds (repeat for more; none: no role).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Removes a user and revokes its tokens.
    Remove { name: String },
}

/// What `clustron role` does.
#[derive(Subcommand)]
pub enum RoleAction {
    /// Lists the roles and their grants.
    List,
    /// Adds a role with grants: PERMISSIONS@STORE[:PREFIX|:[START,END)], permissions read,
    /// write, coordinate, watch, search, admin or all; STORE a name or * (every store).
    Add {
        name: String,
        /// A grant (repeat for more).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
    /// Adds grants to a role.
    Grant { name: String, grants: Vec<String> },
    /// Takes grants from a role (as `role list` shows them).
    Revoke { name: String, grants: Vec<String> },
    /// Removes a role; users holding it lose it.
    Remove { name: String },
}

/// What `clustron token` does.
#[derive(Subcommand)]
pub enum TokenAction {
    /// Lists tokens (of one user, or all): ids, users, expiry; never secrets.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Creates a token of a user and prints its secret: the only time it is shown.
    Create {
        user: String,
        /// It stops working after this long (e.g. 30d, 12h); default: until revoked.
        #[arg(long, value_parser = crate::client::parse_duration)]
        ttl: Option<Duration>,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Revokes a token (its id, as `token list` shows it): every node refuses it when this returns.
    Revoke { id: String },
}

fn grants(texts: &[String]) -> Result<Vec<Grant>, CliError> {
    texts.iter().map(|text| Grant::parse(text).map_err(|error| CliError::usage(error.message().to_owned()))).collect()
}

fn grant_texts(grants: &[Grant]) -> Vec<String> {
    grants.iter().map(ToString::to_string).collect()
}

fn done(target: &Target, what: serde_json::Value, text: String) -> Outcome {
    if target.json {
        println!("{what}");
    } else {
        println!("{text}");
    }
    Outcome::Done
}

pub fn user(target: &Target, action: UserAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    Ok(match action {
        UserAction::List => {
            for User { name, roles } in cluster.users()? {
                if target.json {
                    println!("{}", json!({"user": name, "roles": roles}));
                } else {
                    println!("{name}\t{}", roles.join(","));
                }
            }
            Outcome::Done
        }
        UserAction::Add { name, roles } => {
            cluster.add_user(&name, &roles)?;
            done(target, json!({"added": name}), format!("added user {name}"))
        }
        UserAction::Roles { name, roles } => {
            cluster.set_user_roles(&name, &roles)?;
            done(target, json!({"user": name, "roles": roles}), format!("user {name} holds {}", roles.join(",")))
        }
        UserAction::Remove { name } => {
            cluster.remove_user(&name)?;
            done(target, json!({"removed": name}), format!("removed user {name} and its tokens"))
        }
    })
}

pub fn role(target: &Target, action: RoleAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    Ok(match action {
        RoleAction::List => {
            for Role { name, grants } in cluster.roles()? {
                if target.json {
                    println!("{}", json!({"role": name, "grants": grant_texts(&grants)}));
                } else {
                    println!("{name}\t{}", grant_texts(&grants).join(" "));
                }
            }
            Outcome::Done
        }
        RoleAction::Add { name, grants: texts } => {
            cluster.add_role(&name, &grants(&texts)?)?;
            done(target, json!({"added": name}), format!("added role {name}"))
        }
        RoleAction::Grant { name, grants: texts } => {
            cluster.grant(&name, &grants(&texts)?)?;
            done(target, json!({"role": name, "granted": texts}), format!("granted {} to {name}", texts.join(" ")))
        }
        RoleAction::Revoke { name, grants: texts } => {
            cluster.revoke(&name, &grants(&texts)?)?;
            done(target, json!({"role": name, "revoked": texts}), format!("revoked {} from {name}", texts.join(" ")))
        }
        RoleAction::Remove { name } => {
            cluster.remove_role(&name)?;
            done(target, json!({"removed": name}), format!("removed role {name}"))
        }
    })
}

fn token_json(info: &TokenInfo) -> serde_json::Value {
    json!({"id": info.id, "user": info.user, "created_ms": info.created_ms, "expires_ms": info.expires_ms,
           "description": info.description})
}

pub fn token(target: &Target, action: TokenAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    Ok(match action {
        TokenAction::List { user } => {
            for info in cluster.tokens(user.as_deref())? {
                if target.json {
                    println!("{}", token_json(&info));
                } else {
                    let expires = info.expires_ms.map_or_else(|| "never".to_owned(), |ms| format!("{ms}"));
                    println!("{}\t{}\texpires {expires}\t{}", info.id, info.user, info.description);
                }
            }
            Outcome::Done
        }
        TokenAction::Create { user, ttl, description, out } => {
            let token = cluster.create_token(&user, ttl, &description)?;
            match out {
                Some(path) => {
                    token.secret.write_to_file(&path)?;
                    done(
                        target,
                        json!({"id": token.info.id, "file": path.display().to_string()}),
                        format!("token {} of {user} written to {}", token.info.id, path.display()),
                    )
                }
                None if target.json => {
                    let mut shown = token_json(&token.info);
                    shown["secret"] = json!(token.secret.expose());
                    println!("{shown}");
                    Outcome::Done
                }
                None => {
                    println!("{}", token.secret.expose());
                    eprintln!("token {} of {user}: the secret above is shown this once", token.info.id);
                    Outcome::Done
                }
            }
        }
        TokenAction::Revoke { id } => {
            cluster.revoke_token(&id)?;
            done(target, json!({"revoked": id}), format!("revoked token {id}"))
        }
    })
}

pub fn whoami(target: &Target) -> Result<Outcome, CliError> {
    let Identity { auth, user, token, grants } = target.cluster()?.whoami()?;
    if target.json {
        println!("{}", json!({"auth": auth, "user": user, "token": token, "grants": grant_texts(&grants)}));
    } else if !auth {
        println!("access control is off on this cluster: every client may do everything");
    } else {
        match (user, token) {
            (Some(user), Some(token)) => println!("{user} (token {token}): {}", grant_texts(&grants).join(" ")),
            _ => println!("no token: this cluster refuses every request but this one"),
        }
    }
    Ok(Outcome::Done)
}
