// SPDX-License-Identifier: Apache-2.0
//! The one error boundary: every failure of the glue is an [`Error`], and this file alone
//! turns it into a Python exception, always a class of `cni.errors` (so users import and
//! catch one definition, and a plugin reports the right CNI code).
//!
//! - a value the core cannot take (an address, a CIDR, a MAC, a name): `InvalidValue`,
//!   code 7 and also a `ValueError`; callers that know which config key it came from say so
//!   (the plugins' key tables refuse such values before the core sees them);
//! - a config the core refuses as a whole (a range set): `InvalidNetworkConfig`, code 7;
//! - a kernel or I/O failure: `NetlinkError`, code 5, keeping the errno and naming the
//!   object and the operation;
//! - JSON that cannot be decoded (too deep included), or a warm-path request that does not
//!   parse: `DecodingFailure`, code 6;
//! - allocator outcomes: `AddressExhausted` (11), `AddressInUse` (7), `AddressOutOfRange` (7);
//! - a Python object of the wrong type given to the API: `TypeError`, as Python code expects.

use std::fmt;

use pyo3::exceptions::PyTypeError;
use pyo3::PyErr;

use cni_core::ipam::allocator::AllocError;
use cni_core::ipam::range::RangeError;
use cni_core::json::JsonError;
use cni_core::netlink::NetlinkError as CoreNetlinkError;
use cni_core::warm::DecodeError;

pyo3::import_exception!(cni.errors, DecodingFailure);
pyo3::import_exception!(cni.errors, InvalidNetworkConfig);
pyo3::import_exception!(cni.errors, InvalidValue);
pyo3::import_exception!(cni.errors, AddressExhausted);
pyo3::import_exception!(cni.errors, AddressInUse);
pyo3::import_exception!(cni.errors, AddressOutOfRange);
pyo3::import_exception!(cni.errors, NetlinkError);

/// A failure on its way to Python.
pub enum Error {
    /// Already a Python exception (raised by a Python call the glue made).
    Python(PyErr),
    Json(JsonError),
    Alloc(AllocError),
    Range(RangeError),
    Netlink(CoreNetlinkError),
    Warm(DecodeError),
    /// A value the core cannot take.
    Value(String),
    /// An address that cannot be given out here.
    OutOfRange(String),
    /// A Python object of the wrong type.
    Type(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn value(message: impl fmt::Display) -> Self {
        Error::Value(message.to_string())
    }

    pub fn type_error(message: impl fmt::Display) -> Self {
        Error::Type(message.to_string())
    }

    pub fn out_of_range(message: impl fmt::Display) -> Self {
        Error::OutOfRange(message.to_string())
    }

    /// An I/O failure of `operation` (naming the object), keeping its errno.
    pub fn io(operation: &str, err: &std::io::Error) -> Self {
        Error::Netlink(CoreNetlinkError {
            errno: err.raw_os_error().unwrap_or(0),
            operation: operation.to_owned(),
            message: err.to_string(),
        })
    }
}

impl From<PyErr> for Error {
    fn from(err: PyErr) -> Self {
        Error::Python(err)
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(err: std::convert::Infallible) -> Self {
        match err {}
    }
}

impl From<JsonError> for Error {
    fn from(err: JsonError) -> Self {
        Error::Json(err)
    }
}

impl From<AllocError> for Error {
    fn from(err: AllocError) -> Self {
        Error::Alloc(err)
    }
}

impl From<RangeError> for Error {
    fn from(err: RangeError) -> Self {
        Error::Range(err)
    }
}

impl From<CoreNetlinkError> for Error {
    fn from(err: CoreNetlinkError) -> Self {
        Error::Netlink(err)
    }
}

impl From<DecodeError> for Error {
    fn from(err: DecodeError) -> Self {
        Error::Warm(err)
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Python(err) => err,
            Error::Json(err) => match err {
                // NaN and infinities: a value JSON cannot carry, asked of dumps().
                JsonError::NonFinite => InvalidValue::new_err(err.to_string()),
                JsonError::Syntax(_) | JsonError::DuplicateKey(_) | JsonError::TooDeep => {
                    DecodingFailure::new_err(err.to_string())
                }
            },
            Error::Alloc(err) => match &err {
                AllocError::Exhausted(_) => AddressExhausted::new_err(err.to_string()),
                AllocError::InUse(_) => AddressInUse::new_err(err.to_string()),
                AllocError::Range(_) => AddressOutOfRange::new_err(err.to_string()),
            },
            Error::Range(err) => InvalidNetworkConfig::new_err(err.to_string()),
            Error::Netlink(err) => {
                NetlinkError::new_err((err.to_string(), err.errno, err.operation))
            }
            Error::Warm(err) => DecodingFailure::new_err(err.to_string()),
            Error::Value(message) => InvalidValue::new_err(message),
            Error::OutOfRange(message) => AddressOutOfRange::new_err(message),
            Error::Type(message) => PyTypeError::new_err(message),
        }
    }
}
