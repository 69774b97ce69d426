//! Operations as values: `Op` (one read, write or delete of a batch, a bulk call or a
//! transaction branch) and `Compare` (one guard of a compare-then-else transaction).

use clustron::{BatchOp, CompareOp, DeleteItem, DeleteOptions, Key, LeaseId, PutItem};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::convert::{self, type_name};
use crate::docs::{delete_args, put_args};

/// One operation of `Store.batch`, `Store.put_many` / `delete_many` or a `Store.txn` branch.
/// Build it with `Op.get(key)`, `Op.put(key, value, **options)` or
/// `Op.delete(key, **options)`.
#[pyclass(module = "clustron._native", frozen)]
#[derive(Clone, Debug)]
pub struct Op {
    pub(crate) op: BatchOp,
}

#[pymethods]
impl Op {
    /// A read of `key`.
    #[staticmethod]
    fn get(key: &str) -> Op {
        Op { op: BatchOp::Get(Key::from(key)) }
    }

    /// A write of `key` for `Store.batch` and `Store.txn`, with the options of `Store.put`.
    #[doc = put_args!()]
    #[staticmethod]
    #[pyo3(signature = (key, value, *, ttl=None, lease=None, if_absent=false, if_version=None, guard=None, content_type=None, entity=None, labels=None))]
    #[allow(clippy::too_many_arguments, reason = "the keyword options of a put")]
    fn put(
        key: &str,
        value: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        if_absent: bool,
        if_version: Option<u64>,
        guard: Option<&Bound<'_, PyAny>>,
        content_type: Option<String>,
        entity: Option<String>,
        labels: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Op> {
        let (value, text) = convert::value(value)?;
        let options =
            convert::put_options(text, ttl, lease, if_absent, if_version, guard, content_type, entity, labels)?;
        Ok(Op { op: BatchOp::Put(PutItem::with_options(key, value, options)) })
    }

    /// A delete of `key` for `Store.batch` and `Store.txn`, with the options of
    /// `Store.delete`.
    #[doc = delete_args!()]
    #[staticmethod]
    #[pyo3(signature = (key, *, if_version=None, guard=None))]
    fn delete(key: &str, if_version: Option<u64>, guard: Option<&Bound<'_, PyAny>>) -> PyResult<Op> {
        Ok(Op { op: BatchOp::Delete(delete_item(key, if_version, guard)?) })
    }

    /// "get", "put" or "delete".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.op {
            BatchOp::Get(_) => "get",
            BatchOp::Put(_) => "put",
            BatchOp::Delete(_) => "delete",
        }
    }

    /// The key the operation touches.
    #[getter]
    fn key(&self) -> &str {
        self.op.key()
    }

    fn __repr__(&self) -> String {
        format!("Op.{}({:?})", self.kind(), self.key())
    }
}

pub(crate) fn delete_item(
    key: &str,
    if_version: Option<u64>,
    guard: Option<&Bound<'_, PyAny>>,
) -> PyResult<DeleteItem> {
    Ok(DeleteItem::with_options(key, delete_options(if_version, guard)?))
}

pub(crate) fn delete_options(if_version: Option<u64>, guard: Option<&Bound<'_, PyAny>>) -> PyResult<DeleteOptions> {
    let mut options = DeleteOptions::new();
    if let Some(version) = if_version {
        options = options.if_version(version);
    }
    if let Some(guard) = guard {
        options = options.guard(convert::guard(guard)?);
    }
    Ok(options)
}

/// A sequence of `Op` objects.
pub(crate) fn ops(items: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<BatchOp>> {
    let mut ops = Vec::new();
    for item in iterate(items, what)? {
        let item = item?;
        let op = item.cast::<Op>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} takes Op objects (Op.get / Op.put / Op.delete), not {}",
                type_name(&item)
            ))
        })?;
        ops.push(op.get().op.clone());
    }
    Ok(ops)
}

/// The items of `put_many`: `(key, value)` tuples or `Op.put(...)`.
pub(crate) fn put_items(items: &Bound<'_, PyAny>) -> PyResult<Vec<PutItem>> {
    let mut puts = Vec::new();
    for item in iterate(items, "put_many")? {
        let item = item?;
        if let Ok(op) = item.cast::<Op>() {
            match &op.get().op {
                BatchOp::Put(put) => puts.push(put.clone()),
                _ => return Err(PyTypeError::new_err("put_many takes Op.put(...) items, not Op.get / Op.delete")),
            }
            continue;
        }
        let Ok((key, value)) = item.extract::<(String, Bound<'_, PyAny>)>() else {
            return Err(PyTypeError::new_err(format!(
                "put_many takes (key, value) tuples or Op.put(...), not {}",
                type_name(&item)
            )));
        };
        let (value, text) = convert::value(&value)?;
        let options = convert::put_options(text, None, None, false, None, None, None, None, None)?;
        puts.push(PutItem::with_options(key, value, options));
    }
    Ok(puts)
}

/// The items of `delete_many`: keys or `Op.delete(...)`.
pub(crate) fn delete_items(items: &Bound<'_, PyAny>) -> PyResult<Vec<DeleteItem>> {
    if items.cast::<pyo3::types::PyString>().is_ok() {
        return Err(PyTypeError::new_err("delete_many takes a list of keys, not a single str"));
    }
    let mut deletes = Vec::new();
    for item in iterate(items, "delete_many")? {
        let item = item?;
        if let Ok(op) = item.cast::<Op>() {
            match &op.get().op {
                BatchOp::Delete(delete) => deletes.push(delete.clone()),
                _ => return Err(PyTypeError::new_err("delete_many takes keys or Op.delete(...), not Op.get / Op.put")),
            }
            continue;
        }
        let key: String = item.extract().map_err(|_| {
            PyTypeError::new_err(format!("delete_many takes str keys or Op.delete(...), not {}", type_name(&item)))
        })?;
        deletes.push(DeleteItem::new(key));
    }
    Ok(deletes)
}

/// Keys for `get_many`.
pub(crate) fn keys(items: &Bound<'_, PyAny>) -> PyResult<Vec<Key>> {
    if items.cast::<pyo3::types::PyString>().is_ok() {
        return Err(PyTypeError::new_err("get_many takes a list of keys, not a single str"));
    }
    let mut keys = Vec::new();
    for item in iterate(items, "get_many")? {
        let item = item?;
        let key: &str = &item
            .cast::<pyo3::types::PyString>()
            .map_err(|_| PyTypeError::new_err(format!("get_many takes str keys, not {}", type_name(&item))))?
            .to_cow()?;
        keys.push(Key::from(key));
    }
    Ok(keys)
}

fn iterate<'py>(items: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
    items.try_iter().map_err(|_| PyTypeError::new_err(format!("{what} takes an iterable, not {}", type_name(items))))
}

/// One guard of `Store.txn`: `Compare.version(key, "==", 3)`, `Compare.value(key, "!=",
/// b"x")`, `Compare.exists(key)`... Operators: "==", "!=", "<", ">".
#[pyclass(module = "clustron._native", frozen)]
#[derive(Clone, Debug)]
pub struct Compare {
    pub(crate) compare: clustron::Compare,
}

fn compare_op(op: &str) -> PyResult<CompareOp> {
    crate::errors::check(op.parse())
}

#[pymethods]
impl Compare {
    /// The key's version (0 when it does not exist).
    #[staticmethod]
    fn version(key: &str, op: &str, version: u64) -> PyResult<Compare> {
        Ok(Compare { compare: clustron::Compare::version(key, compare_op(op)?, version) })
    }

    /// The revision that created the key (0 when it does not exist).
    #[staticmethod]
    fn create_revision(key: &str, op: &str, revision: u64) -> PyResult<Compare> {
        Ok(Compare { compare: clustron::Compare::create_revision(key, compare_op(op)?, revision) })
    }

    /// The revision of the key's last write (0 when it does not exist).
    #[staticmethod]
    fn mod_revision(key: &str, op: &str, revision: u64) -> PyResult<Compare> {
        Ok(Compare { compare: clustron::Compare::mod_revision(key, compare_op(op)?, revision) })
    }

    /// The key's value (bytes or str), compared byte by byte.
    #[staticmethod]
    fn value(key: &str, op: &str, value: &Bound<'_, PyAny>) -> PyResult<Compare> {
        let (value, _) = convert::value(value)?;
        Ok(Compare { compare: clustron::Compare::value(key, compare_op(op)?, value) })
    }

    /// The lease the key is attached to (None: no lease).
    #[staticmethod]
    fn lease(key: &str, op: &str, lease: Option<u64>) -> PyResult<Compare> {
        Ok(Compare { compare: clustron::Compare::lease(key, compare_op(op)?, lease.map(LeaseId::new)) })
    }

    /// The key exists.
    #[staticmethod]
    fn exists(key: &str) -> Compare {
        Compare { compare: clustron::Compare::exists(key) }
    }

    /// The key does not exist.
    #[staticmethod]
    fn absent(key: &str) -> Compare {
        Compare { compare: clustron::Compare::absent(key) }
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.compare)
    }
}

/// A sequence of `Compare` objects.
pub(crate) fn compares(items: &Bound<'_, PyAny>) -> PyResult<Vec<clustron::Compare>> {
    let mut compares = Vec::new();
    for item in iterate(items, "txn(compares=...)")? {
        let item = item?;
        let compare = item.cast::<Compare>().map_err(|_| {
            PyTypeError::new_err(format!("txn compares must be Compare objects, not {}", type_name(&item)))
        })?;
        compares.push(compare.get().compare.clone());
    }
    Ok(compares)
}
