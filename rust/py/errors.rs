// SPDX-License-Identifier: Apache-2.0
//! Core errors become the exception classes defined in `cni.errors`, so users import and
//! catch one definition. This file is the only mapping.

use pyo3::PyErr;

use crate::json::JsonError;

pyo3::import_exception!(cni.errors, DecodingFailure);
pyo3::import_exception!(cni.errors, InvalidNetworkConfig);
pyo3::import_exception!(cni.errors, AddressExhausted);
pyo3::import_exception!(cni.errors, AddressInUse);
pyo3::import_exception!(cni.errors, AddressOutOfRange);
pyo3::import_exception!(cni.errors, NetlinkError);

impl From<JsonError> for PyErr {
    fn from(err: JsonError) -> PyErr {
        match err {
            // CNI code 6: the content could not be decoded.
            // CNI code 6: the content could not be decoded (too deep a document included:
            // the bound is part of what we can decode, not an I/O failure).
            JsonError::Syntax(_) | JsonError::DuplicateKey(_) | JsonError::TooDeep => {
                DecodingFailure::new_err(err.to_string())
            }
            JsonError::NonFinite => pyo3::exceptions::PyValueError::new_err(err.to_string()),
        }
    }
}
