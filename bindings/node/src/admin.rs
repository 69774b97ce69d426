//! `NativeAdmin`: operating a cluster (stores, members and access control), the same calls as `clustron store`
//! and `clustron members`. Each call is a few round trips that block, so it runs on a
//! blocking thread of the addon's runtime and settles a Promise; the event loop goes on.
//! Stores and nodes come back as JSON text (the shapes of `clustron store list --json` and
//! `clustron members list --json`), which the facade parses.

use std::sync::Arc;

use clustron::admin::{node_json, parse_node_id, Cluster, StoreChanges, StoreInfo};
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::Env;
use napi_derive::napi;

use crate::calls::rejection;
use crate::errors::{check, error, Result};

/// A cluster to administer, reached through a connection string
/// (`clustron://host:port,host:port[/store][?cluster_key=FILE]`; the store part is ignored).
#[napi]
pub struct NativeAdmin {
    cluster: Arc<Cluster>,
}

/// Runs `work` on a blocking thread; a Promise of its result.
fn blocking<'env, T, W>(env: &'env Env, cluster: &Arc<Cluster>, work: W) -> Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    W: FnOnce(&Cluster) -> clustron::Result<T> + Send + 'static,
{
    let cluster = Arc::clone(cluster);
    env.spawn_future(async move {
        let outcome = tokio::task::spawn_blocking(move || work(&cluster)).await;
        let outcome = outcome.map_err(|failure| {
            clustron::Error::new(clustron::ErrorCode::Internal, format!("an admin call failed: {failure}"))
        });
        check(outcome.and_then(|result| result)).map_err(rejection)
    })
    .map_err(|failure| error(clustron::Error::new(clustron::ErrorCode::Internal, failure.reason)))
}

impl NativeAdmin {
    /// What creating and configuring share: the options read at once, the store as JSON.
    fn store_call<'env>(
        &self,
        env: &'env Env,
        name: String,
        options: &str,
        run: impl FnOnce(&Cluster, &str, StoreChanges) -> clustron::Result<StoreInfo> + Send + 'static,
    ) -> Result<PromiseRaw<'env, String>> {
        let changes = check(StoreChanges::from_json(options))?;
        blocking(env, &self.cluster, move |cluster| Ok(run(cluster, &name, changes)?.to_json().to_string()))
    }
}

#[napi]
impl NativeAdmin {
    #[napi(constructor)]
    pub fn new(target: String) -> Result<NativeAdmin> {
        Ok(NativeAdmin { cluster: Arc::new(check(Cluster::from_target(&target))?) })
    }

    /// Every store, as JSON text each.
    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn stores<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<String>>> {
        blocking(env, &self.cluster, |cluster| {
            Ok(cluster.list_stores()?.iter().map(|info| info.to_json().to_string()).collect())
        })
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn store<'env>(&self, env: &'env Env, name: String) -> Result<PromiseRaw<'env, String>> {
        blocking(env, &self.cluster, move |cluster| Ok(cluster.store(&name)?.to_json().to_string()))
    }

    /// `options`: the JSON form of `clustron::admin::StoreChanges`.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn create_store<'env>(
        &self,
        env: &'env Env,
        name: String,
        options: String,
    ) -> Result<PromiseRaw<'env, String>> {
        self.store_call(env, name, &options, |cluster, name, changes| {
            cluster.create_store(name, changes.settings(None))
        })
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn configure_store<'env>(
        &self,
        env: &'env Env,
        name: String,
        options: String,
    ) -> Result<PromiseRaw<'env, String>> {
        self.store_call(env, name, &options, |cluster, name, changes| cluster.change_store(name, &changes))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn drop_store<'env>(&self, env: &'env Env, name: String, force: bool) -> Result<PromiseRaw<'env, ()>> {
        blocking(env, &self.cluster, move |cluster| cluster.drop_store(&name, force))
    }

    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn members<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<String>>> {
        blocking(env, &self.cluster, |cluster| {
            Ok(cluster.members()?.iter().map(|node| node_json(node).to_string()).collect())
        })
    }

    #[napi(ts_return_type = "Promise<string>")]
    pub fn add_member<'env>(&self, env: &'env Env, address: String) -> Result<PromiseRaw<'env, String>> {
        blocking(env, &self.cluster, move |cluster| Ok(node_json(&cluster.add_member(&address)?).to_string()))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn drain_member<'env>(&self, env: &'env Env, node_id: String) -> Result<PromiseRaw<'env, ()>> {
        let id = check(parse_node_id(&node_id))?;
        blocking(env, &self.cluster, move |cluster| cluster.drain_member(id))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn remove_member<'env>(&self, env: &'env Env, node_id: String) -> Result<PromiseRaw<'env, ()>> {
        let id = check(parse_node_id(&node_id))?;
        blocking(env, &self.cluster, move |cluster| cluster.remove_member(id))
    }

    /// Access control: a JSON request (`clustron::admin::Cluster::access_json`), a JSON answer.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn access<'env>(&self, env: &'env Env, request: String) -> Result<PromiseRaw<'env, String>> {
        blocking(env, &self.cluster, move |cluster| cluster.access_json(&request))
    }
}
