//! Administering a cluster through the C ABI (`clustron_admin_*`), called as a C program would.
//! The lifecycle test needs a cluster (CLUSTRON_NODES, as `make test-bindings-cluster` gives
//! it); the bad-input test runs anywhere, since nothing it passes reaches the network.
#![allow(clippy::undocumented_unsafe_blocks, reason = "every call passes live handles and valid out-parameters")]

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use clustron::admin::*;
use clustron::status::*;
use serde_json::Value;

/// Runs a call; answers its status and error message.
fn run(call: impl FnOnce(*mut *mut clustron_error) -> clustron_status) -> (clustron_status, String) {
    unsafe {
        let mut error: *mut clustron_error = null_mut();
        let status = call(&mut error);
        let message = if error.is_null() {
            String::new()
        } else {
            let text = CStr::from_ptr(clustron_error_message(error)).to_string_lossy().into_owned();
            clustron_error_free(error);
            text
        };
        (status, message)
    }
}

/// Runs a call that answers text; the text parsed as JSON.
fn json(call: impl FnOnce(*mut *mut c_char, *mut *mut clustron_error) -> clustron_status) -> Result<Value, String> {
    let mut text: *mut c_char = null_mut();
    let (status, message) = run(|err| call(&mut text, err));
    if status != clustron_status::CLUSTRON_OK {
        assert!(text.is_null(), "no text on failure");
        return Err(format!("{status:?}: {message}"));
    }
    let parsed = serde_json::from_str(&unsafe { CStr::from_ptr(text) }.to_string_lossy()).expect("JSON text");
    unsafe { clustron_text_free(text) };
    Ok(parsed)
}

fn open(target: &str) -> *mut clustron_admin {
    let target = CString::new(target).unwrap();
    let mut admin = null_mut();
    let (status, message) = run(|err| unsafe { clustron_admin_open(target.as_ptr(), &mut admin, err) });
    assert_eq!(status, clustron_status::CLUSTRON_OK, "{message}");
    admin
}

#[test]
fn a_store_is_created_configured_listed_and_dropped_through_the_c_abi() {
    let Ok(nodes) = std::env::var("CLUSTRON_NODES") else {
        eprintln!("NOT RUN: needs a cluster (CLUSTRON_NODES)");
        return;
    };
    let admin = open(&format!("clustron://{nodes}"));
    let name = CString::new(format!("c-admin-{}", std::process::id())).unwrap();
    let options = CString::new(r#"{"replicas": 2, "max_keys": 3}"#).unwrap();
    let created =
        json(|out, err| unsafe { clustron_admin_create_store(admin, name.as_ptr(), options.as_ptr(), out, err) })
            .expect("created");
    assert_eq!(created["replicas"], 2);
    assert_eq!(created["limits"]["max_keys"], 3);
    assert_eq!(created["placement"].as_array().unwrap().len(), 2);
    let change = CString::new(r#"{"max_keys": null}"#).unwrap();
    let changed =
        json(|out, err| unsafe { clustron_admin_configure_store(admin, name.as_ptr(), change.as_ptr(), out, err) })
            .expect("configured");
    assert_eq!(changed["limits"]["max_keys"], Value::Null);
    assert_eq!(changed["replicas"], 2, "what the options leave out stays");
    let stores = json(|out, err| unsafe { clustron_admin_stores(admin, out, err) }).expect("listed");
    assert!(stores.as_array().unwrap().iter().any(|store| store["store"] == name.to_str().unwrap()));
    let members = json(|out, err| unsafe { clustron_admin_members(admin, out, err) }).expect("members");
    assert_eq!(members.as_array().unwrap().len(), nodes.split(',').count());
    let again = json(|out, err| unsafe { clustron_admin_create_store(admin, name.as_ptr(), null(), out, err) });
    assert!(again.unwrap_err().contains("exists already"));
    let (status, message) = run(|err| unsafe { clustron_admin_drop_store(admin, name.as_ptr(), false, err) });
    assert_eq!(status, clustron_status::CLUSTRON_OK, "{message}");
    let gone = json(|out, err| unsafe { clustron_admin_store(admin, name.as_ptr(), out, err) }).unwrap_err();
    assert!(gone.starts_with("CLUSTRON_NOT_FOUND"), "{gone}");
    unsafe { clustron_admin_free(admin) };
}

#[test]
fn null_pointers_bad_targets_options_and_ids_are_refused_with_invalid_input() {
    let invalid = clustron_status::CLUSTRON_INVALID_INPUT;
    let mut admin = null_mut();
    assert_eq!(run(|err| unsafe { clustron_admin_open(null(), &mut admin, err) }).0, invalid);
    let target = CString::new("clustron://127.0.0.1:9").unwrap();
    assert_eq!(run(|err| unsafe { clustron_admin_open(target.as_ptr(), null_mut(), err) }).0, invalid);
    for bad in ["orders", "clustron://inproc/orders", "clustron://"] {
        let bad = CString::new(bad).unwrap();
        assert_eq!(run(|err| unsafe { clustron_admin_open(bad.as_ptr(), &mut admin, err) }).0, invalid);
    }
    let admin = open("clustron://127.0.0.1:9");
    let name = CString::new("s").unwrap();
    let mut text = null_mut();
    assert_eq!(run(|err| unsafe { clustron_admin_stores(null(), &mut text, err) }).0, invalid);
    assert_eq!(run(|err| unsafe { clustron_admin_stores(admin, null_mut(), err) }).0, invalid);
    assert_eq!(run(|err| unsafe { clustron_admin_store(admin, null(), &mut text, err) }).0, invalid);
    let (status, message) = run(|err| unsafe {
        let options = CString::new(r#"{"replica": 3}"#).unwrap();
        clustron_admin_create_store(admin, name.as_ptr(), options.as_ptr(), &mut text, err)
    });
    assert_eq!(status, invalid);
    assert!(message.contains("unknown field `replica`"), "{message}");
    let not_json = CString::new("replicas=3").unwrap();
    let refused =
        run(|err| unsafe { clustron_admin_configure_store(admin, name.as_ptr(), not_json.as_ptr(), &mut text, err) });
    assert_eq!(refused.0, invalid);
    let bad_id = CString::new("not-hex").unwrap();
    assert_eq!(run(|err| unsafe { clustron_admin_drain_member(admin, bad_id.as_ptr(), err) }).0, invalid);
    assert_eq!(run(|err| unsafe { clustron_admin_remove_member(admin, null(), err) }).0, invalid);
    assert!(text.is_null(), "nothing written on failure");
    unsafe {
        clustron_text_free(null_mut());
        clustron_admin_free(null_mut());
        clustron_admin_free(admin);
    }
}
