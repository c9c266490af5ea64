# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _server_config: validation, migration, rendering, read-back.

These need no jupyter_server. tests/functional loads the rendered files with
a real jupyter_server (and a hypothesis test throws random values at it).
"""

from __future__ import annotations

import ast
import json
import math
import re

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _server_config as sc
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config_schema import (
    CLASSES,
    DEPRECATED,
    JUPYTER_SERVER_VERSION,
)

NASTY_STRINGS = [
    "",
    "plain",
    "it's",
    'say "hi"',
    "'''",
    '"""',
    "\\",
    "back\\slash\\",
    "new\nline",
    "carriage\rreturn",
    "tab\there",
    "nul\x00byte",
    "\x1b[31mred",
    "ünïcødé ✓ 中文",
    "\U0001F600",
    "\ud800 lone surrogate",
    "\u2028line separator",
    "\ufeffbom",
    "'); import os; os.system('id'); ('",
    '"""\nimport os\n"""',
    "\\x00 \\n \\'",
    "{}{}%s%(x)s",
]


def prepare(settings, extra_classes=()):
    return sc.prepare_settings(settings, extra_classes)


# ---------------------------------------------------------------- schema


def test_schema_is_from_the_pinned_jupyter_server():
    assert JUPYTER_SERVER_VERSION == "2.21.1"
    for class_name in ("ServerApp", "IdentityProvider", "PasswordIdentityProvider", "MappingKernelManager",
                       "KernelSpecManager", "FileContentsManager", "ZMQChannelsWebsocketConnection", "Session"):
        assert class_name in CLASSES
    assert CLASSES["ServerApp"]["port"]["kind"] == "int"
    assert CLASSES["ServerApp"]["open_browser"] == {"kind": "bool"}
    assert CLASSES["KernelSpecManager"]["allowed_kernelspecs"]["kind"] == "set"
    assert CLASSES["PasswordIdentityProvider"]["hashed_password"] == {"kind": "str"}
    assert CLASSES["IdentityProvider"]["token"]["kind"] == "str"


def test_every_deprecation_target_exists():
    for old, new in DEPRECATED.items():
        old_class, old_trait = old.split(".")
        assert old_trait in CLASSES[old_class], old
        if new:
            new_class, new_trait = new.split(".")
            assert new_trait in CLASSES[new_class], new


def test_schema_descriptors_are_well_formed():
    kinds = {"any", "bool", "int", "float", "str", "bytes", "enum", "list", "set", "tuple", "dict", "union", "type",
             "unsupported"}

    def walk(desc, where):
        assert desc["kind"] in kinds, where
        for child in ("item", "key", "value"):
            if child in desc:
                walk(desc[child], where + "." + child)
        for index, member in enumerate(desc.get("items", []) + desc.get("types", [])):
            walk(member, "%s[%d]" % (where, index))
        for key, member in desc.get("per_key", {}).items():
            walk(member, where + "." + key)

    for class_name, traits in CLASSES.items():
        for trait, desc in traits.items():
            walk(desc, class_name + "." + trait)


# ---------------------------------------------------------------- validation


def test_valid_settings_pass_unchanged():
    settings = {
        "ServerApp": {"ip": "0.0.0.0", "port": 8888, "open_browser": False, "base_url": "/jupyter/",
                      "tornado_settings": {"headers": {"X-Frame-Options": "DENY"}}},
        "IdentityProvider": {"token": "abc"},
        "MappingKernelManager": {"cull_idle_timeout": 3600, "cull_connected": True},
        "KernelSpecManager": {"allowed_kernelspecs": ["python3"]},
    }
    normalized, migrated, notes = prepare(settings)
    assert migrated == [] and notes == []
    assert normalized["ServerApp"] == settings["ServerApp"]
    assert normalized["KernelSpecManager"]["allowed_kernelspecs"] == {"python3"}


@pytest.mark.parametrize("settings,message", [
    ({"ServerAp": {"port": 1}}, "settings.ServerAp: unknown class 'ServerAp'"),
    ({"ServerAp": {}}, "settings.ServerAp: unknown class 'ServerAp'"),
    ({"Serverapp": {"port": 1}}, "did you mean 'ServerApp'"),
    ({"serverapp": {"port": 1}}, "settings: 'serverapp' is not a valid class name"),
    ({"ServerApp": {"prot": 1}}, "settings.ServerApp.prot: ServerApp has no configurable trait 'prot'; did you mean 'port'"),
    ({"ServerApp": {"port": "8888"}}, "settings.ServerApp.port: expected an integer from 0 to 65535, got string '8888'"),
    ({"ServerApp": {"port": True}}, "settings.ServerApp.port: expected an integer from 0 to 65535, got boolean True"),
    ({"ServerApp": {"open_browser": "true"}}, "settings.ServerApp.open_browser: expected a boolean (true or false)"),
    ({"ServerApp": {"open_browser": 1}}, "settings.ServerApp.open_browser: expected a boolean"),
    ({"ServerApp": {"ip": None}}, "settings.ServerApp.ip: null is not allowed; expected a string"),
    ({"ServerApp": {"ip": ["a"]}}, "settings.ServerApp.ip: expected a string, got list"),
    ({"ServerApp": {"log_level": "LOUD"}}, "settings.ServerApp.log_level: expected one of 0, 10"),
    ({"ServerApp": {"kernel_manager_class": "NotDotted"}}, "settings.ServerApp.kernel_manager_class: expected an importable class name"),
    ({"ServerApp": {"tornado_settings": "x"}}, "settings.ServerApp.tornado_settings: expected a mapping"),
    ({"ServerApp": {"jpserver_extensions": {"ext": "yes"}}}, "settings.ServerApp.jpserver_extensions.ext: expected a boolean"),
    ({"MappingKernelManager": {"cull_idle_timeout": 1.5}}, "settings.MappingKernelManager.cull_idle_timeout: expected an integer, got float 1.5"),
    ({"MappingKernelManager": {"kernel_info_timeout": "60"}}, "settings.MappingKernelManager.kernel_info_timeout: expected a number"),
    ({"MappingKernelManager": {"kernel_info_timeout": float("nan")}}, "NaN"),
    ({"KernelSpecManager": {"allowed_kernelspecs": "python3"}}, "settings.KernelSpecManager.allowed_kernelspecs: expected a list"),
    ({"KernelSpecManager": {"allowed_kernelspecs": [["a"]]}}, "settings.KernelSpecManager.allowed_kernelspecs[0]: a set cannot hold a list"),
    ({"ContentsManager": {"checkpoints": "x"}}, "settings.ContentsManager.checkpoints cannot be set from settings"),
    ({"NotebookNotary": {"store_factory": "x"}}, "cannot be set from settings: it takes a Python callable"),
    ({"ServerApp": "x"}, "settings.ServerApp: expected a mapping of trait names to values, got string"),
    ({"ServerApp": {"class": 1}}, "settings.ServerApp: 'class' is not a valid trait name"),
    ({"Server App": {"port": 1}}, "settings: 'Server App' is not a valid class name"),
    ({"NotebookApp": {"nbserver_extensionz": {}}}, "settings.NotebookApp.nbserver_extensionz: the classic notebook server setting"),
    ({"ServerApp": {"token": "a"}, "IdentityProvider": {"token": "b"}}, "both set IdentityProvider.token to different values"),
    ({"ServerApp": {"tornado_settings": {"x": object()}}}, "settings.ServerApp.tornado_settings.x: object"),
])
def test_bad_settings_fail_naming_the_field(settings, message):
    with pytest.raises(sc.SettingsError, match=re.escape(message)):
        prepare(settings)


def test_settings_must_be_a_mapping():
    with pytest.raises(sc.SettingsError, match="settings: expected a mapping"):
        prepare(["ServerApp"])


def test_secret_values_are_not_echoed_in_errors():
    with pytest.raises(sc.SettingsError) as info:
        prepare({"IdentityProvider": {"token": 123456789}})
    assert "123456789" not in str(info.value)
    assert "an integer (value hidden)" in str(info.value)
    with pytest.raises(sc.SettingsError) as info:
        prepare({"PasswordIdentityProvider": {"hashed_password": ["argon2:secret"]}})
    assert "argon2:secret" not in str(info.value)


def test_numbers_are_pragmatic_but_strict_about_bools():
    normalized, _m, _n = prepare({"MappingKernelManager": {"kernel_info_timeout": 60}})
    assert normalized["MappingKernelManager"]["kernel_info_timeout"] == 60
    with pytest.raises(sc.SettingsError):
        prepare({"MappingKernelManager": {"kernel_info_timeout": True}})


def test_int_bounds_from_the_schema():
    desc = {"kind": "int", "min": 0, "max": 10}
    assert sc.check_value(desc, 10, "x") == 10
    with pytest.raises(sc.SettingsError, match="expected an integer from 0 to 10, got integer 11"):
        sc.check_value(desc, 11, "x")


def test_caseless_enum_and_union_and_tuple():
    assert sc.check_value({"kind": "enum", "values": ["tcp", "ipc"], "caseless": True}, "TCP", "x") == "TCP"
    union = {"kind": "union", "types": [{"kind": "int"}, {"kind": "str"}]}
    assert sc.check_value(union, "a", "x") == "a"
    with pytest.raises(sc.SettingsError, match="expected an integer or a string"):
        sc.check_value(union, 1.5, "x")
    pair = {"kind": "tuple", "items": [{"kind": "str"}, {"kind": "int"}]}
    assert sc.check_value(pair, ["h", 1], "x") == ("h", 1)
    with pytest.raises(sc.SettingsError):
        sc.check_value(pair, ["h"], "x")


def test_enum_does_not_confuse_bool_and_int():
    with pytest.raises(sc.SettingsError):
        sc.check_value({"kind": "enum", "values": [0, 1]}, True, "x")


def test_bytes_traits_take_strings():
    normalized, _m, _n = prepare({"Session": {"key": "k\u00e9y"}})
    assert normalized["Session"]["key"] == "k\u00e9y".encode("utf-8")


def test_extra_classes_are_checked_for_plain_data_only():
    normalized, _m, _n = prepare({"LabApp": {"collaborative": True, "anything": {"a": [1, None]}}}, ["LabApp"])
    assert normalized["LabApp"] == {"collaborative": True, "anything": {"a": [1, None]}}
    with pytest.raises(sc.SettingsError, match=re.escape("settings: 'labApp' is not a valid class name (class names "
                                                         "start with a capital letter)")):
        prepare({"labApp": {"x": 1}}, ["labApp"])


@pytest.mark.parametrize("trait", ["__x", "__", "Capital"])
def test_trait_names_traitlets_would_not_store_are_refused(trait):
    with pytest.raises(sc.SettingsError, match=re.escape("settings.LabApp: %r is not a valid trait name" % trait)):
        prepare({"LabApp": {trait: 1}}, ["LabApp"])


# ---------------------------------------------------------------- migration


@pytest.mark.parametrize("old,new,value", [
    (("ServerApp", "password"), ("PasswordIdentityProvider", "hashed_password"), "argon2:x"),
    (("ServerApp", "token"), ("IdentityProvider", "token"), "tok"),
    (("ServerApp", "notebook_dir"), ("ServerApp", "root_dir"), "/home/jovyan/work"),
    (("ServerApp", "password_required"), ("PasswordIdentityProvider", "password_required"), True),
    (("ServerApp", "kernel_ws_protocol"), ("ZMQChannelsWebsocketConnection", "kernel_ws_protocol"), None),
    (("NotebookApp", "ip"), ("ServerApp", "ip"), "0.0.0.0"),
    (("NotebookApp", "notebook_dir"), ("ServerApp", "root_dir"), "/srv"),
    (("NotebookApp", "password"), ("PasswordIdentityProvider", "hashed_password"), "sha1:a:b"),
    (("NotebookApp", "nbserver_extensions"), ("ServerApp", "jpserver_extensions"), {"ext": True}),
    (("KernelSpecManager", "whitelist"), ("KernelSpecManager", "allowed_kernelspecs"), ["python3"]),
])
def test_deprecated_names_are_migrated(old, new, value):
    if value is None:
        value = "v1.kernel.websocket.jupyter.org"
    normalized, migrated, notes = prepare({old[0]: {old[1]: value}})
    assert migrated == ["%s.%s -> %s.%s" % (old + new)]
    assert notes == []
    expected = set(value) if isinstance(value, list) else value
    assert normalized[new[0]][new[1]] == expected
    assert old[1] not in normalized.get(old[0], {}) or old == new


def test_errors_in_migrated_settings_name_the_setting_as_written():
    with pytest.raises(sc.SettingsError, match=re.escape(
            "settings.ServerApp.token (now IdentityProvider.token): expected a string, got an integer (value hidden)")):
        prepare({"ServerApp": {"token": 5}})
    with pytest.raises(sc.SettingsError, match=re.escape("settings.NotebookApp.port (now ServerApp.port): expected")):
        prepare({"NotebookApp": {"port": "8888"}})


def test_plain_data_keeps_tuples_and_sets():
    assert sc.check_plain((1, [2]), "x") == (1, [2])
    assert sc.check_plain({1, "a"}, "x") == {1, "a"}
    assert sc.check_plain({("a", 1)}, "x") == {("a", 1)}
    with pytest.raises(sc.SettingsError, match="x: a set cannot hold a set"):
        sc.check_plain({frozenset({1})}, "x")


def test_migration_agrees_with_an_explicit_new_name():
    normalized, migrated, _n = prepare({"ServerApp": {"token": "same"}, "IdentityProvider": {"token": "same"}})
    assert normalized["IdentityProvider"] == {"token": "same"}
    assert migrated == ["ServerApp.token -> IdentityProvider.token"]


def test_deprecated_null_is_dropped_with_a_note():
    normalized, migrated, notes = prepare({"ServerApp": {"iopub_data_rate_limit": None}})
    assert migrated == [] and normalized == {"ServerApp": {}}
    assert notes and "settings.ServerApp.iopub_data_rate_limit" in notes[0]


def test_deprecated_without_replacement_is_kept_with_a_note():
    classes = {"A": {"old": {"kind": "int"}}}
    settings, migrated, notes = sc.migrate_settings({"A": {"old": 1}}, classes, {"A.old": ""})
    assert settings == {"A": {"old": 1}} and migrated == []
    assert "no drop-in replacement" in notes[0]


# ---------------------------------------------------------------- findings


def test_insecure_findings():
    normalized, _m, _n = prepare({
        "ServerApp": {"disable_check_xsrf": True, "allow_origin": "*", "allow_root": True},
        "IdentityProvider": {"token": ""},
    })
    findings = sc.insecure_findings(normalized)
    assert len(findings) == 4
    assert any("IdentityProvider.token is ''" in f for f in findings)
    assert any("disable_check_xsrf" in f for f in findings)
    assert any("allow_origin is '*'" in f for f in findings)
    assert any("allow_root" in f for f in findings)


def test_no_findings_for_a_secure_config_and_a_password_makes_empty_token_fine():
    normalized, _m, _n = prepare({
        "ServerApp": {"ip": "0.0.0.0"},
        "IdentityProvider": {"token": ""},
        "PasswordIdentityProvider": {"hashed_password": "argon2:$argon2id$..."},
    })
    assert sc.insecure_findings(normalized) == []


def test_sha1_password_hash_is_a_finding():
    normalized, _m, _n = prepare({"PasswordIdentityProvider": {"hashed_password": "sha1:a:b"}})
    assert any("legacy sha1" in f for f in sc.insecure_findings(normalized))


def test_secret_values():
    normalized, _m, _n = prepare({"IdentityProvider": {"token": "tok"}, "Session": {"key": "k"},
                                  "PasswordIdentityProvider": {"hashed_password": "h"}, "ServerApp": {"ip": "x"}})
    assert sorted(sc.secret_values(normalized)) == ["h", "k", "tok"]


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("text", NASTY_STRINGS)
def test_py_strings_round_trip_exactly(text):
    settings = {"ServerApp": {"custom_display_url": text}}
    normalized, _m, _n = prepare(settings)
    content = sc.render(normalized, "py")
    assert sc.parse_py(content) == {"ServerApp": {"custom_display_url": text}}
    module = ast.parse(content)
    # Nothing but the get_config() line and one assignment, whatever the string holds.
    assert len(module.body) == 2
    namespace = {"get_config": _Config}
    exec(compile(content, "jupyter_server_config.py", "exec"), namespace)  # pylint: disable=exec-used
    assert namespace["c"].ServerApp.custom_display_url == text


class _Config:
    """Stands in for traitlets' Config only to execute the file in this test."""

    def __getattr__(self, name):
        section = _Section()
        object.__setattr__(self, name, section)
        return section


class _Section:
    pass


@pytest.mark.parametrize("text", NASTY_STRINGS)
def test_json_strings_round_trip_exactly(text):
    normalized, _m, _n = prepare({"ServerApp": {"custom_display_url": text}})
    content = sc.render(normalized, "json")
    assert content.isascii()
    assert json.loads(content) == {"ServerApp": {"custom_display_url": text}}


def test_py_rendering_of_every_type():
    value = {
        "none": None, "t": True, "f": False, "int": -12345678901234567890, "float": 0.1, "neg0": -0.0,
        "inf": float("inf"), "ninf": float("-inf"), "str": "s", "bytes": b"\x00\xff", "list": [1, [2, [3]]],
        "tuple1": (1,), "tuple": (1, "a"), "set": {3, 1, 2}, "empty_set": set(), "empty_dict": {}, "empty_list": [],
        "dict": {"nested": {"deep": [None]}}, 7: "int key", 1.5: "float key", None: "none key", True: "bool key",
    }
    content = sc.render({"Probe": {"value": value}}, "py")
    back = sc.parse_py(content)["Probe"]["value"]
    assert sc.same(back, value)
    assert math.copysign(1, back["neg0"]) == -1
    assert "c.Probe.value = {" in content


def test_long_values_are_rendered_one_item_per_line():
    value = {"key%02d" % i: ["item"] * 3 for i in range(10)}
    content = sc.render({"ServerApp": {"tornado_settings": value}}, "py")
    assert max(len(line) for line in content.splitlines()) <= sc.LINE_WIDTH + 20
    assert sc.parse_py(content)["ServerApp"]["tornado_settings"] == value


def test_rendering_is_deterministic_and_sorted():
    a = sc.render({"ServerApp": {"port": 1, "ip": "x"}, "IdentityProvider": {"token": "t"}}, "py")
    b = sc.render({"IdentityProvider": {"token": "t"}, "ServerApp": {"ip": "x", "port": 1}}, "py")
    assert a == b
    assert a.index("c.IdentityProvider.token") < a.index("c.ServerApp.ip") < a.index("c.ServerApp.port")
    assert sc.checksum(a) == sc.checksum(b)
    assert re.fullmatch("[0-9a-f]{64}", sc.checksum(a))


def test_json_rendering():
    content = sc.render({"KernelSpecManager": {"allowed_kernelspecs": {"b", "a"}},
                         "ServerApp": {"port": 1, "tornado_settings": {"t": (1, 2)}}, "Empty": {}}, "json")
    assert json.loads(content) == {"KernelSpecManager": {"allowed_kernelspecs": ["a", "b"]},
                                   "ServerApp": {"port": 1, "tornado_settings": {"t": [1, 2]}}}


@pytest.mark.parametrize("settings,message", [
    ({"Session": {"key": b"k"}}, "settings.Session.key: bytes values cannot be written to a JSON config file"),
    ({"ServerApp": {"tornado_settings": {1: "a"}}}, "JSON config files only have string keys, got integer key 1"),
])
def test_json_limits_are_clear_errors(settings, message):
    with pytest.raises(sc.SettingsError, match=re.escape(message)):
        sc.render(settings, "json")


def test_render_refuses_unknown_format():
    with pytest.raises(sc.SettingsError, match="format must be one of py, json"):
        sc.render({}, "yaml")


def test_empty_settings_render_a_valid_file():
    content = sc.render({}, "py")
    assert sc.parse_py(content) == {}
    assert json.loads(sc.render({}, "json")) == {}


# ---------------------------------------------------------------- read-back


@pytest.mark.parametrize("content", [
    "import os\n",
    "c = get_config()\nc.ServerApp.ip = __import__('os').getcwd()\n",
    "c.ServerApp.ip = 'a' + 'b'\n",
    "c.ServerApp.ip = {**x}\n",
    "c.ServerApp = 1\n",
    "c.ServerApp.ip = 'a'\nc.ServerApp.ip = 'b'\n",
    "c = something()\n",
    "c.A.b = -'x'\n",
])
def test_parse_py_accepts_only_literal_assignments(content):
    with pytest.raises(ValueError):
        sc.parse_py(content)


def test_parse_content_returns_none_for_foreign_files():
    assert sc.parse_content("c.ServerApp.ip = compute()\n", "py") is None
    assert sc.parse_content("not json", "json") is None
    assert sc.parse_content('{"A": {"b": 1}}', "json") == {"A": {"b": 1}}


def test_same_is_type_strict():
    assert sc.same({"a": [1, (2,)]}, {"a": [1, (2,)]})
    assert not sc.same(1, True)
    assert not sc.same(1, 1.0)
    assert not sc.same([1], (1,))
    assert not sc.same({1: "a"}, {True: "a"})
    assert not sc.same({"a"}, ["a"])
    assert sc.same(float("nan"), float("nan"))


# ---------------------------------------------------------------- secrets, names, ports


def test_one_list_of_secret_traits():
    """Every listed secret is a real trait of jupyter_server (or a NotebookApp alias), and the trait
    names the module masks are those of the list."""
    for name in sc.SECRET_TRAITS:
        class_name, trait = name.split(".")
        assert class_name == "NotebookApp" or trait in CLASSES[class_name], name
    assert sc.SECRET_TRAIT_NAMES == {"token", "password", "hashed_password", "cookie_secret", "auth_token", "http_pwd",
                                     "key", "secret"}


def test_secret_traits_in():
    settings = {"GatewayClient": {"auth_token": "x", "http_pwd": "y", "url": "http://gw"}, "Session": {"key": "k"},
                "ServerApp": {"port": 1, "password": "p"}, "LabApp": {"token": "t", "key": "k2"},
                "KernelSpecManager": {"key": "not a secret here"}, "Broken": 1}
    assert sc.secret_traits_in(settings) == ["GatewayClient.auth_token", "GatewayClient.http_pwd", "LabApp.key",
                                             "LabApp.token", "ServerApp.password", "Session.key"]
    assert sc.secret_traits_in({}) == []


@pytest.mark.parametrize("settings,extra,fragment", [
    ({"ServerApp": {"port\n": 1}}, (), "settings.ServerApp: 'port\\n' is not a valid trait name"),
    ({"LabApp\n": {"x": 1}}, ["LabApp\n"], "settings: 'LabApp\\n' is not a valid class name"),
    ({"LabApp": {"x\n": 1}}, ["LabApp"], "settings.LabApp: 'x\\n' is not a valid trait name"),
    ({"ServerApp": {"open_browser": "yes"}}, ["ServerApp"], "extra_classes[0]: ServerApp is a class of jupyter_server"),
    ({"NotebookApp": {"port_retries": 1}}, ["NotebookApp"], "extra_classes[0]: NotebookApp is a class of jupyter_server"),
    ({"ServerApp": {"port": 70000}}, (), "settings.ServerApp.port: expected an integer from 0 to 65535, got integer 70000"),
    ({"KernelManager": {"shell_port": -1}}, (), "settings.KernelManager.shell_port: expected an integer from 0 to 65535"),
], ids=["trait-trailing-newline", "extra-class-newline", "extra-trait-newline", "extra-serverapp", "extra-notebookapp",
        "port-range", "kernel-port-range"])
def test_clean_errors_not_syntax_errors(settings, extra, fragment):
    with pytest.raises(sc.SettingsError) as info:
        sc.render(sc.prepare_settings(settings, extra)[0])
    assert fragment in str(info.value)


def test_ports_in_range_pass():
    for port in (0, 1, 8888, 65535):
        assert "c.ServerApp.port = %d" % port in sc.render(sc.prepare_settings({"ServerApp": {"port": port}})[0])
    # port_retries is no port
    assert sc.prepare_settings({"ServerApp": {"port_retries": 100000}})[0]["ServerApp"]["port_retries"] == 100000
