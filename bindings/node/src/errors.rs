//! Errors: a core error becomes a JavaScript `Error` whose `code` is the stable code name
//! (`"invalid_input"`, `"locked"`...), the same names as every other surface.

/// The error type of every native call: `code` is the stable name.
pub type Result<T> = std::result::Result<T, napi::Error<Code>>;

/// A stable error code name.
#[derive(Clone, Copy, Debug)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// A core error as a JavaScript error.
pub fn error(error: clustron::Error) -> napi::Error<Code> {
    napi::Error::new(Code(error.code().name()), error.message())
}

/// Converts a core result.
pub fn check<T>(result: clustron::Result<T>) -> Result<T> {
    result.map_err(error)
}

/// An invalid-input error raised by the addon itself (the same code as the core's).
pub fn invalid(message: impl Into<String>) -> napi::Error<Code> {
    error(clustron::Error::new(clustron::ErrorCode::InvalidInput, message))
}

/// Error info as a value (for bulk results and a session's end): `{ code, message }`.
#[napi_derive::napi(object, object_from_js = false)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl From<&clustron::Error> for ErrorInfo {
    fn from(error: &clustron::Error) -> ErrorInfo {
        ErrorInfo { code: error.code().name().to_owned(), message: error.message().to_owned() }
    }
}

/// One row of the stable error code table.
#[napi_derive::napi(object, object_from_js = false)]
pub struct ErrorCodeRow {
    pub number: u32,
    pub name: String,
}

/// The stable error code table, for the facade and its tests.
#[napi_derive::napi]
pub fn error_codes() -> Vec<ErrorCodeRow> {
    clustron::ErrorCode::ALL
        .iter()
        .map(|code| ErrorCodeRow { number: u32::from(code.number()), name: code.name().to_owned() })
        .collect()
}
