// SPDX-License-Identifier: Apache-2.0
//! Python classes over the IPAM core: `IPAllocator` (the public allocator, returning
//! `ipaddress` objects), and `RangeSet`/`AddressPool` (string-based, for the host-local
//! plugin, which must not import `ipaddress` on its start-up path).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::errors::{Error, Result};
use cni_core::ipam::allocator::Allocator;
use cni_core::ipam::pool::Pool;
use cni_core::ipam::range::{Range, RangeSet};
use cni_core::net::{cidr_contains, cidr_network, parse_cidr, Addr};

static IPV4: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static IPV6: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn address_class(py: Python<'_>, v6: bool) -> Result<&Bound<'_, PyAny>> {
    let cell = if v6 { &IPV6 } else { &IPV4 };
    cell.get_or_try_init(py, || {
        let name = if v6 { "IPv6Address" } else { "IPv4Address" };
        Ok::<_, PyErr>(py.import("ipaddress")?.getattr(name)?.unbind())
    })
    .map(|class| class.bind(py))
    .map_err(Error::from)
}

fn to_py_addr(py: Python<'_>, addr: Addr) -> Result<Bound<'_, PyAny>> {
    Ok(address_class(py, addr.v6)?.call1((addr.value,))?)
}

/// Reads an address given as `str` or as an `ipaddress` address object.
fn from_py_addr(obj: &Bound<'_, PyAny>) -> Result<Addr> {
    if let Ok(text) = obj.cast::<PyString>() {
        let text = text.to_str()?;
        return Addr::parse(text)
            .ok_or_else(|| Error::value(format!("invalid IP address {text:?}")));
    }
    // Fast path for exact ipaddress objects: their integer lives in the `_ip` slot. Any
    // other object (a subclass, or a Python whose ipaddress differs) takes the public route.
    let py = obj.py();
    for v6 in [false, true] {
        if obj.get_type().is(address_class(py, v6)?) {
            if let Ok(value) = obj
                .getattr(pyo3::intern!(py, "_ip"))
                .and_then(|v| v.extract::<u128>())
            {
                return Ok(Addr { v6, value }.unmapped());
            }
        }
    }
    let version: u8 = obj
        .getattr("version")
        .and_then(|v| v.extract())
        .map_err(|_| Error::type_error("expected an IP address as str or an ipaddress object"))?;
    let value: u128 = obj.call_method0("__int__")?.extract()?;
    Ok(Addr {
        v6: version == 6,
        value,
    }
    .unmapped())
}

fn text_of(obj: Option<&Bound<'_, PyAny>>) -> Result<Option<String>> {
    Ok(obj.map(|o| o.str().map(|s| s.to_string())).transpose()?)
}

/// An IP address allocator over one range, in host-local's round-robin order.
#[pyclass(module = "cni._native", name = "IPAllocator")]
pub struct PyIPAllocator {
    inner: Allocator,
}

#[pymethods]
impl PyIPAllocator {
    #[new]
    #[pyo3(signature = (subnet, *, range_start=None, range_end=None, gateway=None))]
    fn new(
        subnet: &Bound<'_, PyAny>,
        range_start: Option<&Bound<'_, PyAny>>,
        range_end: Option<&Bound<'_, PyAny>>,
        gateway: Option<&Bound<'_, PyAny>>,
    ) -> Result<Self> {
        let subnet = subnet.str()?.to_string();
        let (start, end, gw) = (
            text_of(range_start)?,
            text_of(range_end)?,
            text_of(gateway)?,
        );
        let range = Range::new(
            &subnet,
            start.as_deref(),
            end.as_deref(),
            gw.as_deref(),
            false,
        )
        .map_err(|e| Error::value(e.to_string()))?;
        let set = RangeSet::new(vec![range]).map_err(|e| Error::value(e.to_string()))?;
        Ok(PyIPAllocator {
            inner: Allocator::new(set),
        })
    }

    fn allocate<'py>(&mut self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let addr = self.inner.allocate()?;
        to_py_addr(py, addr)
    }

    fn reserve(&mut self, ip: &Bound<'_, PyAny>) -> Result<()> {
        Ok(self.inner.reserve(from_py_addr(ip)?)?)
    }

    fn release(&mut self, ip: &Bound<'_, PyAny>) -> Result<bool> {
        Ok(self.inner.release(from_py_addr(ip)?))
    }

    fn load(&mut self, ips: &Bound<'_, PyAny>) -> Result<()> {
        for ip in ips.try_iter()? {
            self.reserve(&ip?)?;
        }
        Ok(())
    }

    fn __contains__(&self, ip: &Bound<'_, PyAny>) -> bool {
        from_py_addr(ip).is_ok_and(|a| self.inner.pool.contains(a))
    }

    fn __len__(&self) -> usize {
        usize::try_from(self.inner.pool.len()).unwrap_or(usize::MAX)
    }

    #[getter]
    fn free(&self) -> u128 {
        self.inner.free()
    }

    #[getter]
    fn size(&self) -> u128 {
        self.inner.set.ranges[0].capacity()
    }

    #[getter]
    fn subnet(&self) -> String {
        self.inner.set.ranges[0].subnet()
    }

    #[getter]
    fn range_start<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let r = &self.inner.set.ranges[0];
        to_py_addr(py, r.addr(r.start))
    }

    #[getter]
    fn range_end<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let r = &self.inner.set.ranges[0];
        to_py_addr(py, r.addr(r.end))
    }

    #[getter]
    fn gateway<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyAny>>> {
        let r = &self.inner.set.ranges[0];
        r.gateway.map(|g| to_py_addr(py, r.addr(g))).transpose()
    }

    #[getter]
    fn last<'py>(&self, py: Python<'py>) -> Result<Option<Bound<'py, PyAny>>> {
        self.inner.last.map(|a| to_py_addr(py, a)).transpose()
    }

    fn __iter__(&self, py: Python<'_>) -> Result<Py<PyAny>> {
        let items: Result<Vec<Bound<'_, PyAny>>> =
            self.inner.pool.iter().map(|a| to_py_addr(py, a)).collect();
        Ok(pyo3::types::PyList::new(py, items?)?
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "IPAllocator({:?}, used={}, free={})",
            self.subnet(),
            self.inner.pool.len(),
            self.inner.free()
        )
    }
}

/// Addresses in use on a network (both families), keyed by their text form.
#[pyclass(module = "cni._native", name = "AddressPool")]
#[derive(Default)]
pub struct PyAddressPool {
    inner: Pool,
}

fn parse_text(text: &str) -> Result<Addr> {
    Addr::parse(text).ok_or_else(|| Error::value(format!("invalid IP address {text:?}")))
}

#[pymethods]
impl PyAddressPool {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a pool from `to_bytes()`; None when the bytes are not a pool dump.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> Option<Self> {
        Pool::from_bytes(data).map(|inner| PyAddressPool { inner })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    fn add(&mut self, ip: &str) -> Result<bool> {
        Ok(self.inner.insert(parse_text(ip)?))
    }

    fn remove(&mut self, ip: &str) -> Result<bool> {
        Ok(self.inner.remove(parse_text(ip)?))
    }

    fn __contains__(&self, ip: &str) -> bool {
        Addr::parse(ip).is_some_and(|a| self.inner.contains(a))
    }

    fn __len__(&self) -> usize {
        usize::try_from(self.inner.len()).unwrap_or(usize::MAX)
    }

    fn addresses(&self) -> Vec<String> {
        self.inner.iter().map(|a| a.to_string()).collect()
    }
}

/// A host-local range set, validated; addresses are exchanged as text.
#[pyclass(module = "cni._native", name = "RangeSet", frozen)]
pub struct PyRangeSet {
    inner: RangeSet,
}

fn optional_str(dict: &Bound<'_, PyDict>, key: &str) -> Result<Option<String>> {
    match dict.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract::<String>()
            .map(Some)
            .map_err(|_| Error::value(format!("{key} must be a string, not {v}"))),
    }
}

#[pymethods]
impl PyRangeSet {
    /// Builds a set from host-local range objects (`subnet`, `rangeStart`, `rangeEnd`,
    /// `gateway`); a missing gateway is the subnet's first address.
    #[new]
    #[allow(clippy::needless_pass_by_value)] // PyO3 extracts arguments as owned values
    fn new(ranges: Vec<Bound<'_, PyDict>>) -> Result<Self> {
        let mut parsed = Vec::with_capacity(ranges.len());
        for (i, r) in ranges.iter().enumerate() {
            let subnet = optional_str(r, "subnet")?
                .ok_or_else(|| Error::value(format!("range {i} has no subnet")))?;
            let range = Range::new(
                &subnet,
                optional_str(r, "rangeStart")?.as_deref(),
                optional_str(r, "rangeEnd")?.as_deref(),
                optional_str(r, "gateway")?.as_deref(),
                true,
            )
            .map_err(Error::from)?;
            parsed.push(range);
        }
        let inner = RangeSet::new(parsed).map_err(Error::from)?;
        Ok(PyRangeSet { inner })
    }

    #[getter]
    fn family(&self) -> u8 {
        match self.inner.family() {
            cni_core::net::Family::V4 => 4,
            cni_core::net::Family::V6 => 6,
        }
    }

    fn overlaps(&self, other: &PyRangeSet) -> bool {
        self.inner.overlap_with(&other.inner).is_some()
    }

    fn __contains__(&self, ip: &str) -> bool {
        Addr::parse(ip).is_some_and(|a| self.inner.range_for(a).is_some())
    }

    /// Index of the range that may hand out `ip`; raises when it cannot be requested.
    fn check_request(&self, ip: &str) -> Result<usize> {
        self.inner
            .check_request(parse_text(ip)?)
            .map_err(|e| Error::out_of_range(e.to_string()))
    }

    /// `(range index, address)` of the next free address after `last`, or None.
    #[pyo3(signature = (pool, last=None))]
    fn next_free(&self, pool: &PyAddressPool, last: Option<&str>) -> Option<(usize, String)> {
        let last = last.and_then(Addr::parse);
        self.inner
            .next_free(&pool.inner, last)
            .map(|(i, a)| (i, a.to_string()))
    }

    fn free(&self, pool: &PyAddressPool) -> u128 {
        self.inner.free(&pool.inner)
    }

    /// `(subnet prefix length, gateway or None)` of range `index`.
    fn range_info(&self, index: usize) -> Result<(u8, Option<String>)> {
        let r = self
            .inner
            .ranges
            .get(index)
            .ok_or_else(|| Error::value("no such range"))?;
        Ok((r.prefix, r.gateway.map(|g| r.addr(g).to_string())))
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }
}

/// `(address, prefix length, family)` of `address/prefix` (host bits may be set).
#[pyfunction]
pub fn parse_cidr_text(text: &str) -> Result<(String, u8, u8)> {
    let (addr, prefix) =
        parse_cidr(text).ok_or_else(|| Error::value(format!("invalid CIDR {text:?}")))?;
    Ok((addr.to_string(), prefix, if addr.v6 { 6 } else { 4 }))
}

/// The canonical text of an address, and its family; raises ValueError if it is not one.
#[pyfunction]
pub fn parse_ip_text(text: &str) -> Result<(String, u8)> {
    let addr = parse_text(text)?;
    Ok((addr.to_string(), if addr.v6 { 6 } else { 4 }))
}

/// Whether `ip` lies in the network of `cidr`.
#[pyfunction]
pub fn cidr_has(cidr: &str, ip: &str) -> Result<bool> {
    let net = parse_cidr(cidr).ok_or_else(|| Error::value(format!("invalid CIDR {cidr:?}")))?;
    Ok(cidr_contains(net, parse_text(ip)?))
}

/// The network of `address/prefix` (host bits cleared), in CIDR form.
#[pyfunction]
pub fn network_of(cidr: &str) -> Result<String> {
    let parsed = parse_cidr(cidr).ok_or_else(|| Error::value(format!("invalid CIDR {cidr:?}")))?;
    Ok(cidr_network(parsed))
}
