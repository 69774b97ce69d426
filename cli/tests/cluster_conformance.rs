//! The conformance vectors against a 5-node cluster whose stores have 3 replicas each (nodes
//! on a manual clock, stores created by the vectors with the default replication factor), so
//! requests meet nodes that hold no replica of their store; through the same Rust driver as
//! the in-process run.

mod common;

#[path = "../../core/tests/conformance/driver.rs"]
mod driver;
#[path = "../../core/tests/conformance/shapes.rs"]
mod shapes;

use clustron_conformance::Driver;

#[test]
fn conformance_vectors_on_a_five_node_cluster_with_three_replicas_per_store() {
    let cluster = common::Cluster::start(5, "base", &["--clock", "manual", "--allow-create-stores"], false);
    let target = driver::Target::Cluster(cluster.seed_list());
    clustron_conformance::run_all("cluster", true, |vector| {
        driver::RustDriver::new(vector, &target).map(|driver| Box::new(driver) as Box<dyn Driver>)
    });
}
