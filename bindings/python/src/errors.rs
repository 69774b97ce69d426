//! Errors: a core error becomes an instance of its `clustron._errors` class (one per stable
//! code), looked up once.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

static BY_NUMBER: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Bound<'_, PyDict>> {
    let table = BY_NUMBER.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let module = py.import("clustron._errors")?;
        Ok(module.getattr("BY_NUMBER")?.cast_into::<PyDict>()?.unbind())
    })?;
    Ok(table.bind(py))
}

/// The Python exception instance for a core error.
pub(crate) fn exception<'py>(py: Python<'py>, error: &clustron::Error) -> PyResult<Bound<'py, PyAny>> {
    let class = classes(py)?
        .get_item(error.code().number())?
        .ok_or_else(|| PyRuntimeError::new_err(format!("no exception class for {}", error.code())))?;
    class.call1((error.message(),))
}

/// A core error as a raised Python exception.
pub(crate) fn to_py(error: clustron::Error) -> PyErr {
    Python::attach(|py| match exception(py, &error) {
        Ok(instance) => PyErr::from_value(instance),
        Err(lookup) => lookup,
    })
}

/// Converts a core result.
pub(crate) fn check<T>(result: clustron::Result<T>) -> PyResult<T> {
    result.map_err(to_py)
}

/// An invalid-input error raised from the binding itself (same class as the core's).
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    to_py(clustron::Error::new(clustron::ErrorCode::InvalidInput, message))
}
