//! The conformance vectors (`tests/conformance/*.json`) against an in-process store through
//! the public Rust API. `CONFORMANCE_FILTER=substring` runs only matching vectors.

mod driver;
mod shapes;

use clustron_conformance::Driver;

#[test]
fn conformance_vectors_in_proc() {
    clustron_conformance::run_all("rust", false, |vector| {
        driver::RustDriver::new(vector, &driver::Target::InProc).map(|driver| Box::new(driver) as Box<dyn Driver>)
    });
}

#[test]
fn error_code_table_is_stable() {
    let table = clustron_conformance::error_codes();
    assert_eq!(table.len(), clustron::ErrorCode::ALL.len(), "every code is in the table and nothing more");
    for ((number, name), code) in table.iter().zip(clustron::ErrorCode::ALL) {
        assert_eq!(*number, code.number() as u64, "{name}");
        assert_eq!(name, code.name());
    }
}
