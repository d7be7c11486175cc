// SPDX-License-Identifier: Apache-2.0
//! `loads`/`dumps` over the strict core parser.

use pyo3::prelude::*;

use super::errors::{Error, Result};
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use cni_core::json::{self, Value};

/// Parses one JSON document from `str` or `bytes`.
#[pyfunction]
pub fn loads<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
    let value = if let Ok(text) = data.cast::<PyString>() {
        json::parse(text.to_str()?.as_bytes())?
    } else if let Ok(bytes) = data.extract::<&[u8]>() {
        json::parse(bytes)?
    } else {
        return Err(Error::type_error("loads() takes str or bytes"));
    };
    to_py(py, value)
}

/// Serialises dicts, lists, tuples, str, int, float, bool and None; `indent` pretty-prints.
#[pyfunction]
#[pyo3(signature = (obj, indent=None))]
pub fn dumps(obj: &Bound<'_, PyAny>, indent: Option<usize>) -> Result<String> {
    let value = from_py(obj, 0)?;
    Ok(json::to_string(&value, indent)?)
}

fn to_py(py: Python<'_>, value: Value) -> Result<Bound<'_, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, f).into_any(),
        Value::Str(s) => PyString::new(py, &s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(entries) => {
            let dict = PyDict::new(py);
            for (key, item) in entries {
                dict.set_item(key, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

fn from_py(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value> {
    if depth > json::MAX_DEPTH {
        return Err(json::JsonError::TooDeep.into());
    }
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::UInt(obj.extract::<u64>()?)),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Ok(Value::Float(f.value()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::Str(s.to_str()?.to_owned()))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut entries = Vec::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key = key
                .cast::<PyString>()
                .map_err(|_| Error::type_error("JSON object keys must be str"))?
                .to_str()?
                .to_owned();
            entries.push((key, from_py(&item, depth + 1)?));
        }
        Ok(Value::Object(entries))
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.iter()
            .map(|item| from_py(&item, depth + 1))
            .collect::<Result<_>>()
            .map(Value::Array)
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple
            .iter()
            .map(|item| from_py(&item, depth + 1))
            .collect::<Result<_>>()
            .map(Value::Array)
    } else {
        Err(Error::type_error(format!(
            "cannot encode {} as JSON",
            obj.get_type().name()?
        )))
    }
}
