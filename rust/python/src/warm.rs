// SPDX-License-Identifier: Apache-2.0
//! The agent's half of the warm path's wire protocol (`cni_core::warm`), and entering a
//! caller's namespaces, which Python 3.11's `os` cannot do.

use std::os::fd::RawFd;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::{Error, Result};
use cni_core::pages;
use cni_core::warm::{self, Request};

/// The body length a 12-byte request header announces (magic, protocol and size checked).
#[pyfunction]
pub fn warm_header(header: &[u8]) -> Result<u32> {
    Ok(warm::decode_header(header)?)
}

/// A request body: (version, plugin, cwd, umask, argv, env), all bytes but the umask.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn warm_request<'py>(
    py: Python<'py>,
    body: &[u8],
) -> Result<(
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    u32,
    Vec<Bound<'py, PyBytes>>,
    Vec<Bound<'py, PyBytes>>,
)> {
    let request = Request::decode_body(body)?;
    let list = |items: Vec<Vec<u8>>| items.iter().map(|b| PyBytes::new(py, b)).collect();
    Ok((
        PyBytes::new(py, &request.version),
        PyBytes::new(py, &request.plugin),
        PyBytes::new(py, &request.cwd),
        request.umask,
        list(request.argv),
        list(request.env),
    ))
}

/// A request as the shim sends it (for tests and tools that speak to an agent).
#[pyfunction]
pub fn warm_encode(
    py: Python<'_>,
    version: Vec<u8>,
    plugin: Vec<u8>,
    cwd: Vec<u8>,
    umask: u32,
    argv: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
) -> Bound<'_, PyBytes> {
    let request = Request {
        version,
        plugin,
        cwd,
        umask,
        argv,
        env,
    };
    PyBytes::new(py, &request.encode())
}

/// Arms the worker's watch on the connection (`cni_core::warm::watch`).
#[pyfunction]
pub fn warm_watch(conn_fd: RawFd) -> Result<()> {
    warm::watch(conn_fd).map_err(|err| Error::io("watch the connection", &err))
}

/// The plugin is done: the shim's hanging up no longer kills this process.
#[pyfunction]
pub fn warm_finished() {
    warm::finished();
}

/// Moves this process into the network and then the mount namespace these fds refer to.
/// The mount namespace can only be entered by a single-threaded process: call it first.
#[pyfunction]
pub fn enter_namespaces(net_fd: RawFd, mnt_fd: RawFd) -> Result<()> {
    for (fd, kind, what) in [
        (net_fd, libc::CLONE_NEWNET, "network"),
        (mnt_fd, libc::CLONE_NEWNS, "mount"),
    ] {
        // SAFETY: setns only reads the descriptor; a bad one is an error, not UB.
        if unsafe { libc::setns(fd, kind) } != 0 {
            let err = std::io::Error::last_os_error();
            return Err(Error::io(
                &format!("enter the caller's {what} namespace"),
                &err,
            ));
        }
    }
    Ok(())
}

/// The pages this process touched since its fork (`cni_core::pages::touched`), as encoded
/// runs.
#[pyfunction]
pub fn warm_pages_touched(py: Python<'_>) -> Result<Bound<'_, PyBytes>> {
    let runs = pages::touched().map_err(|err| Error::io("read /proc/self/pagemap", &err))?;
    Ok(PyBytes::new(py, &pages::encode(&runs)))
}

/// The union of encoded lists of runs, encoded.
#[pyfunction]
pub fn warm_pages_union(py: Python<'_>, lists: Vec<Vec<u8>>) -> Result<Bound<'_, PyBytes>> {
    let decoded = lists
        .into_iter()
        .map(|bytes| pages::decode(&bytes).ok_or_else(|| Error::value("not a list of page runs")))
        .collect::<Result<Vec<_>>>()?;
    Ok(PyBytes::new(py, &pages::encode(&pages::union(&decoded))))
}

/// The bytes of encoded runs in this process's private writable mappings and in its
/// read-only file mappings (`cni_core::pages::sizes`).
#[pyfunction]
pub fn warm_pages_sizes(runs: &[u8]) -> Result<(usize, usize)> {
    let runs = pages::decode(runs).ok_or_else(|| Error::value("not a list of page runs"))?;
    pages::sizes(&runs).map_err(|err| Error::io("read /proc/self/maps", &err))
}

/// Takes the faults of the pages of encoded runs now (`cni_core::pages::populate`);
/// returns how many pages.
#[pyfunction]
pub fn warm_pages_populate(runs: &[u8]) -> Result<usize> {
    let runs = pages::decode(runs).ok_or_else(|| Error::value("not a list of page runs"))?;
    Ok(pages::populate(&runs))
}
