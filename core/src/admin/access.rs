//! Access control from outside the cluster: who a token is, users, roles, grants and
//! tokens (`clustron user|role|token`), and the JSON requests of the C ABI and bindings.

use std::time::Duration;

use serde_json::{json, Value};

use super::{parse_node_id, Cluster, CATALOGUE};
use crate::auth::{Grant, Identity, NewToken, Role, TokenInfo, User};
use crate::net::wire::{AuthOp, AuthReply, ClientBody, ClientReply};
use crate::{Error, Result};

impl Cluster {
    fn auth(&self, op: AuthOp) -> Result<AuthReply> {
        let store = if matches!(op, AuthOp::WhoAmI) { "" } else { CATALOGUE };
        match self.client()?.request(store, ClientBody::Auth(op))? {
            ClientReply::Auth(reply) => Ok(reply),
            other => Err(Error::internal(format!("expected an access control answer, got {other:?}"))),
        }
    }

    fn auth_done(&self, op: AuthOp) -> Result<()> {
        match self.auth(op)? {
            AuthReply::Done => Ok(()),
            other => Err(Error::internal(format!("expected done, got {other:?}"))),
        }
    }

    /// Who the cluster takes this handle's token for, and whether it checks tokens at all.
    pub fn whoami(&self) -> Result<Identity> {
        match self.auth(AuthOp::WhoAmI)? {
            AuthReply::Identity(identity) => Ok(identity),
            other => Err(Error::internal(format!("expected an identity, got {other:?}"))),
        }
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>> {
        match self.auth(AuthOp::ListUsers)? {
            AuthReply::Users(users) => Ok(users),
            other => Err(Error::internal(format!("expected users, got {other:?}"))),
        }
    }

    /// Adds a user holding `roles` (which must exist).
    pub fn add_user(&self, name: &str, roles: &[String]) -> Result<()> {
        self.auth_done(AuthOp::AddUser { name: name.to_owned(), roles: roles.to_vec() })
    }

    /// Replaces the roles a user holds.
    pub fn set_user_roles(&self, name: &str, roles: &[String]) -> Result<()> {
        self.auth_done(AuthOp::SetUserRoles { name: name.to_owned(), roles: roles.to_vec() })
    }

    /// Removes a user and revokes its tokens.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.auth_done(AuthOp::RemoveUser { name: name.to_owned() })
    }

    /// Every role.
    pub fn roles(&self) -> Result<Vec<Role>> {
        match self.auth(AuthOp::ListRoles)? {
            AuthReply::Roles(roles) => Ok(roles),
            other => Err(Error::internal(format!("expected roles, got {other:?}"))),
        }
    }

    /// Adds a role with grants (`PERMISSIONS@STORE[:KEYS]`, see [`crate::auth`]).
    pub fn add_role(&self, name: &str, grants: &[Grant]) -> Result<()> {
        self.auth_done(AuthOp::AddRole { name: name.to_owned(), grants: grants.to_vec() })
    }

    /// Adds grants to a role.
    pub fn grant(&self, role: &str, grants: &[Grant]) -> Result<()> {
        self.auth_done(AuthOp::GrantRole { name: role.to_owned(), grants: grants.to_vec() })
    }

    /// Takes grants from a role (each must be one it holds, as `roles` lists it).
    pub fn revoke(&self, role: &str, grants: &[Grant]) -> Result<()> {
        self.auth_done(AuthOp::RevokeRole { name: role.to_owned(), grants: grants.to_vec() })
    }

    /// Removes a role; the users holding it lose it.
    pub fn remove_role(&self, name: &str) -> Result<()> {
        self.auth_done(AuthOp::RemoveRole { name: name.to_owned() })
    }

    /// The tokens of `user` (or every token): never their secrets.
    pub fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        match self.auth(AuthOp::ListTokens { user: user.map(str::to_owned) })? {
            AuthReply::Tokens(tokens) => Ok(tokens),
            other => Err(Error::internal(format!("expected tokens, got {other:?}"))),
        }
    }

    /// A new token of `user`, valid for `ttl` (none: until revoked). Its secret is in the
    /// answer and nowhere else: the cluster keeps a hash of it.
    pub fn create_token(&self, user: &str, ttl: Option<Duration>, description: &str) -> Result<NewToken> {
        let ttl_ms = ttl.map(|ttl| ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64);
        let op = AuthOp::CreateToken { user: user.to_owned(), ttl_ms, description: description.to_owned() };
        match self.auth(op)? {
            AuthReply::Token(token) => Ok(token),
            other => Err(Error::internal(format!("expected a token, got {other:?}"))),
        }
    }

    /// Revokes a token (its id, as `tokens` lists it, or the token itself): every node
    /// refuses it from the moment this returns.
    pub fn revoke_token(&self, id: &str) -> Result<()> {
        self.auth_done(AuthOp::RevokeToken { id: id.to_owned() })
    }

    /// Access control as JSON, for the bindings: one request `{"op": ..., ...}`, one JSON
    /// answer. `op` is `whoami`, `users`, `add_user` (`name`, `roles`), `set_user_roles`
    /// (`name`, `roles`), `remove_user` (`name`), `roles`, `add_role` (`name`, `grants`: grant
    /// texts), `grant` / `revoke` (`role`, `grants`), `remove_role` (`name`), `tokens`
    /// (`user`?), `create_token` (`user`, `ttl_ms`?, `description`?: answers the secret
    /// once), `revoke_token` (`id`) or `revoke_member` (`id`, hex). Changes answer `null`.
    pub fn access_json(&self, request: &str) -> Result<String> {
        let request: Value = serde_json::from_str(request)
            .map_err(|error| Error::invalid(format!("an access request is a JSON object: {error}")))?;
        let text = |name: &str| -> Result<String> {
            request.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
                Error::invalid(format!("{:?} needs {name:?} (a string)", request.get("op").unwrap_or(&Value::Null)))
            })
        };
        let list = |name: &str| -> Result<Vec<String>> {
            match request.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| Error::invalid(format!("{name:?} holds strings")))
                    })
                    .collect(),
                Some(_) => Err(Error::invalid(format!("{name:?} is a list of strings"))),
            }
        };
        let grants = || -> Result<Vec<Grant>> { list("grants")?.iter().map(|text| Grant::parse(text)).collect() };
        let token_json = |info: &TokenInfo| {
            json!({"id": info.id, "user": info.user, "created_ms": info.created_ms, "expires_ms": info.expires_ms,
                   "description": info.description})
        };
        let op = text("op")?;
        let answer = match op.as_str() {
            "whoami" => {
                let Identity { auth, user, token, grants } = self.whoami()?;
                let grants: Vec<String> = grants.iter().map(ToString::to_string).collect();
                json!({"auth": auth, "user": user, "token": token, "grants": grants})
            }
            "users" => Value::Array(
                self.users()?.into_iter().map(|user| json!({"name": user.name, "roles": user.roles})).collect(),
            ),
            "roles" => Value::Array(
                self.roles()?
                    .into_iter()
                    .map(|role| {
                        let grants: Vec<String> = role.grants.iter().map(ToString::to_string).collect();
                        json!({"name": role.name, "grants": grants})
                    })
                    .collect(),
            ),
            "tokens" => {
                let user = request.get("user").and_then(Value::as_str);
                Value::Array(self.tokens(user)?.iter().map(token_json).collect())
            }
            "create_token" => {
                let ttl = match request.get("ttl_ms") {
                    None | Some(Value::Null) => None,
                    Some(value) => Some(Duration::from_millis(
                        value
                            .as_u64()
                            .filter(|ms| *ms > 0)
                            .ok_or_else(|| Error::invalid("\"ttl_ms\" is a positive number"))?,
                    )),
                };
                let description = request.get("description").and_then(Value::as_str).unwrap_or("");
                let token = self.create_token(&text("user")?, ttl, description)?;
                let mut shown = token_json(&token.info);
                shown["secret"] = json!(token.secret.expose());
                shown
            }
            "add_user" => self.add_user(&text("name")?, &list("roles")?).map(|()| Value::Null)?,
            "set_user_roles" => self.set_user_roles(&text("name")?, &list("roles")?).map(|()| Value::Null)?,
            "remove_user" => self.remove_user(&text("name")?).map(|()| Value::Null)?,
            "add_role" => self.add_role(&text("name")?, &grants()?).map(|()| Value::Null)?,
            "grant" => self.grant(&text("role")?, &grants()?).map(|()| Value::Null)?,
            "revoke" => self.revoke(&text("role")?, &grants()?).map(|()| Value::Null)?,
            "remove_role" => self.remove_role(&text("name")?).map(|()| Value::Null)?,
            "revoke_token" => self.revoke_token(&text("id")?).map(|()| Value::Null)?,
            "revoke_member" => self.revoke_member(parse_node_id(&text("id")?)?).map(|()| Value::Null)?,
            other => return Err(Error::invalid(format!("unknown access request {other:?}"))),
        };
        Ok(answer.to_string())
    }
}
