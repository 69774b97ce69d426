//! The conformance vectors against a 3-node cluster (nodes on a manual clock, stores created
//! by the vectors), through the same Rust driver as the in-process run.

mod common;

#[path = "../../core/tests/conformance/driver.rs"]
mod driver;
#[path = "../../core/tests/conformance/shapes.rs"]
mod shapes;

use clustron_conformance::Driver;

#[test]
fn conformance_vectors_on_a_three_node_cluster() {
    let cluster = common::Cluster::start(3, "base", &["--clock", "manual", "--allow-create-stores"], false);
    let target = driver::Target::Cluster(cluster.seed_list());
    clustron_conformance::run_all("cluster", |vector| {
        driver::RustDriver::new(vector, &target).map(|driver| Box::new(driver) as Box<dyn Driver>)
    });
}
