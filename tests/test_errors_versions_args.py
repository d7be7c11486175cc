# SPDX-License-Identifier: Apache-2.0
"""Error objects, version parsing and gates, and CNI_ARGS."""

from __future__ import annotations

import pytest

from cni import cniargs, errors, versions


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.IncompatibleCNIVersion, 1),
        (errors.UnsupportedField, 2),
        (errors.UnknownContainer, 3),
        (errors.InvalidEnvironmentVariables, 4),
        (errors.IOFailure, 5),
        (errors.DecodingFailure, 6),
        (errors.InvalidNetworkConfig, 7),
        (errors.InvalidNetNS, 8),
        (errors.TryAgainLater, 11),
        (errors.PluginNotAvailable, 50),
        (errors.LimitedConnectivity, 51),
        (errors.InternalError, 999),
    ],
)
def test_every_code_round_trips_through_the_error_object(cls: type[errors.CNIError], code: int) -> None:
    err = cls("boom", "more")
    assert err.code == code
    assert err.to_dict("1.1.0") == {"cniVersion": "1.1.0", "code": code, "msg": "boom", "details": "more"}
    back = errors.error_from_dict(err.to_dict())
    assert type(back) is cls
    assert (back.code, back.msg, back.details) == (code, "boom", "more")


def test_plugin_specific_codes_survive() -> None:
    back = errors.error_from_dict({"code": 123, "msg": "mine"})
    assert type(back) is errors.CNIError
    assert back.code == 123
    assert back.to_dict() == {"code": 123, "msg": "mine"}


def test_version_parsing_and_gates() -> None:
    assert versions.parse("1.1.0") == (1, 1, 0)
    assert versions.parse("1.0") == (1, 0, 0)
    assert versions.at_least("0.4.0", "0.4.0")
    assert not versions.at_least("0.3.1", "0.4.0")
    for bad in ("", "a.b.c", "1.2.3.4", "1.-1.0"):
        with pytest.raises(errors.DecodingFailure):
            versions.parse(bad)
    with pytest.raises(errors.IncompatibleCNIVersion, match="does not allow CHECK"):
        versions.check_verb_allowed("CHECK", "0.3.1")
    for verb in ("GC", "STATUS"):
        with pytest.raises(errors.IncompatibleCNIVersion):
            versions.check_verb_allowed(verb, "1.0.0")
        versions.check_verb_allowed(verb, "1.1.0")


def test_cni_args_parse_and_load() -> None:
    assert cniargs.parse("") == []
    assert cniargs.parse("IP=10.0.0.5;K8S_POD_NAME=web") == [("IP", "10.0.0.5"), ("K8S_POD_NAME", "web")]
    assert cniargs.load("IgnoreUnknown=1;IP=10.0.0.5;FOO=bar", ["IP"]) == {"IP": "10.0.0.5"}
    assert cniargs.load("IgnoreUnknown=TRUE;FOO=bar", ["IP"]) == {}


@pytest.mark.parametrize("text", ["A", "A=B=C", "=x", "IP=1;;"])
def test_cni_args_malformed_pairs_are_refused(text: str) -> None:
    """E7: pairs that are not exactly K=V."""
    with pytest.raises(errors.InvalidEnvironmentVariables, match="invalid CNI_ARGS pair"):
        cniargs.parse(text)


def test_cni_args_unknown_key_needs_ignore_unknown() -> None:
    """E7: an unknown key without IgnoreUnknown."""
    with pytest.raises(errors.InvalidEnvironmentVariables, match="unknown CNI_ARGS key 'FOO'"):
        cniargs.load("FOO=bar", ["IP"])
    with pytest.raises(errors.InvalidEnvironmentVariables):
        cniargs.load("IgnoreUnknown=0;FOO=bar", ["IP"])


@pytest.mark.parametrize(
    ("key", "value"), [("IP", "x;IP=10.0.0.5"), ("a", "b=c"), ("a;b", "c"), ("", "v"), ("K", "\0")]
)
def test_cni_args_build_refuses_injection(key: str, value: str) -> None:
    """S6: a value that would add or change a key is refused, not escaped."""
    with pytest.raises(errors.InvalidEnvironmentVariables, match="may not contain"):
        cniargs.build([(key, value)])


def test_cni_args_build() -> None:
    assert cniargs.build([("IgnoreUnknown", "1"), ("IP", "10.0.0.5")]) == "IgnoreUnknown=1;IP=10.0.0.5"
    assert cniargs.build({"A": "1"}) == "A=1"
