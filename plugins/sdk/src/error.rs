//! The error a plugin returns; crosses the boundary as (code, message).

use eqpipe_plugin_abi as abi;

/// Which kind of failure, mapped onto the ABI's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad options.
    InvalidConfig,
    /// A fetch failed.
    Fetch,
    /// Malformed input data.
    Data,
    /// The host asked the run to stop.
    Cancelled,
    /// A panic, caught by the SDK.
    Panic,
    /// Local file system.
    Io,
    /// Not supported.
    Unsupported,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// The ABI status code.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::InvalidConfig => abi::STATUS_INVALID_CONFIG,
            ErrorKind::Fetch => abi::STATUS_FETCH,
            ErrorKind::Data => abi::STATUS_DATA,
            ErrorKind::Cancelled => abi::STATUS_CANCELLED,
            ErrorKind::Panic => abi::STATUS_PANIC,
            ErrorKind::Io => abi::STATUS_IO,
            ErrorKind::Unsupported => abi::STATUS_UNSUPPORTED,
            ErrorKind::Internal => abi::STATUS_INTERNAL,
        }
    }

    /// The kind for an ABI status code.
    pub fn from_code(code: i32) -> Self {
        match code {
            abi::STATUS_INVALID_CONFIG => ErrorKind::InvalidConfig,
            abi::STATUS_FETCH => ErrorKind::Fetch,
            abi::STATUS_DATA => ErrorKind::Data,
            abi::STATUS_CANCELLED => ErrorKind::Cancelled,
            abi::STATUS_PANIC => ErrorKind::Panic,
            abi::STATUS_IO => ErrorKind::Io,
            abi::STATUS_UNSUPPORTED => ErrorKind::Unsupported,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error from a plugin, or from the host as the plugin sees it.
///
/// Messages must not carry personal data: name the file, row and column,
/// not the value of an identifier.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    /// The kind.
    pub kind: ErrorKind,
    /// What went wrong and, where possible, what to do.
    pub message: String,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// Bad options.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// Malformed input data.
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Data, message)
    }

    /// A fetch failed.
    pub fn fetch(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fetch, message)
    }

    /// A local i/o error.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    /// The run was cancelled.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled")
    }

    /// Anything else.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Reads (and releases) an error the host returned.
    pub(crate) fn from_abi(code: i32, err: &mut abi::PluginError) -> Self {
        // SAFETY: the host filled `err` (or left it empty).
        let mut message = unsafe { err.message.take() };
        if message.is_empty() {
            message = abi::status_name(code).to_string();
        }
        let code = if err.code != abi::STATUS_OK {
            err.code
        } else {
            code
        };
        Self::new(ErrorKind::from_code(code), message)
    }

    /// Writes the error into an ABI out-parameter; returns its code.
    pub(crate) fn write_to(self, out: *mut abi::PluginError) -> i32 {
        let code = self.kind.code();
        if !out.is_null() {
            // SAFETY: the caller passes a valid out-parameter.
            unsafe {
                out.write(abi::PluginError {
                    code,
                    message: abi::OwnedStr::from_string(self.message),
                })
            };
        }
        code
    }
}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        PluginError::io(e.to_string())
    }
}

impl From<arrow_schema::ArrowError> for PluginError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        PluginError::data(e.to_string())
    }
}
