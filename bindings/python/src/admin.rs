//! `Admin`: operating a cluster (stores, members and access control) from Python, the same calls as
//! `clustron store` and `clustron members`. Every call is a few round trips to the cluster
//! and runs without the GIL. Stores and nodes come back as JSON text (the shapes of
//! `clustron store list --json` and `clustron members list --json`), which the `clustron`
//! package turns into dicts.

use clustron::admin::{node_json, parse_node_id, Cluster, StoreChanges};
use pyo3::prelude::*;

use crate::errors::check;

/// A cluster to administer, reached through a connection string
/// (`clustron://host:port,host:port[/store][?cluster_key=FILE]`; the store part is ignored).
#[pyclass(module = "clustron._native", subclass, frozen)]
pub struct Admin {
    cluster: Cluster,
}

#[pymethods]
impl Admin {
    #[new]
    fn new(target: &str) -> PyResult<Admin> {
        Ok(Admin { cluster: check(Cluster::from_target(target))? })
    }

    /// Every store, as JSON lines.
    fn _stores(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let stores = check(py.detach(|| self.cluster.list_stores()))?;
        Ok(stores.iter().map(|info| info.to_json().to_string()).collect())
    }

    fn _store(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        Ok(check(py.detach(|| self.cluster.store(name)))?.to_json().to_string())
    }

    /// `options`: the JSON form of `clustron::admin::StoreChanges`.
    fn _create_store(&self, py: Python<'_>, name: &str, options: &str) -> PyResult<String> {
        let changes = check(StoreChanges::from_json(options))?;
        Ok(check(py.detach(|| self.cluster.create_store(name, changes.settings(None))))?.to_json().to_string())
    }

    fn _configure_store(&self, py: Python<'_>, name: &str, options: &str) -> PyResult<String> {
        let changes = check(StoreChanges::from_json(options))?;
        Ok(check(py.detach(|| self.cluster.change_store(name, &changes)))?.to_json().to_string())
    }

    fn _drop_store(&self, py: Python<'_>, name: &str, force: bool) -> PyResult<()> {
        check(py.detach(|| self.cluster.drop_store(name, force)))
    }

    fn _members(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let members = check(py.detach(|| self.cluster.members()))?;
        Ok(members.iter().map(|node| node_json(node).to_string()).collect())
    }

    fn _add_member(&self, py: Python<'_>, address: &str) -> PyResult<String> {
        Ok(node_json(&check(py.detach(|| self.cluster.add_member(address)))?).to_string())
    }

    fn _drain_member(&self, py: Python<'_>, node_id: &str) -> PyResult<()> {
        let id = check(parse_node_id(node_id))?;
        check(py.detach(|| self.cluster.drain_member(id)))
    }

    /// Access control: a JSON request (`clustron::admin::Cluster::access_json`), a JSON answer.
    fn _access(&self, py: Python<'_>, request: &str) -> PyResult<String> {
        check(py.detach(|| self.cluster.access_json(request)))
    }

    fn _remove_member(&self, py: Python<'_>, node_id: &str) -> PyResult<()> {
        let id = check(parse_node_id(node_id))?;
        check(py.detach(|| self.cluster.remove_member(id)))
    }
}
