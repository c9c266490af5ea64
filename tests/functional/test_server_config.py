# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""server_config output loaded by the real jupyter_server.

- `jupyter server --show-config-json` reads the rendered .py (config dir) and
  .json (JUPYTER_CONFIG_PATH) files: every value comes back equal to the input.
- traitlets' own file loaders (what jupyter_server uses) give back the exact
  Python objects, types included.
- The live server (conftest.live_server) started from rendered files reports,
  through a test extension, the config it loaded and the values its objects got.
- Hypothesis: random strings and values never change the meaning of the file;
  values the module accepts for a trait are accepted by that trait's real
  traitlets type; what it rejects is rejected with a message naming the field.
"""

from __future__ import annotations

import copy
import keyword
import os
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from helpers import REPO, decode, from_show_config_json, show_config_json  # pylint: disable=import-error

from ansible_collections.remotedev.jupyter.plugins.module_utils import _server_config as sc
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config_schema import CLASSES, DEPRECATED
from traitlets import HasTraits, TraitError
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

EXAMPLES = int(os.environ.get("REMOTEDEV_HYPOTHESIS_EXAMPLES", "200"))
PROPERTY = hypothesis_settings(max_examples=EXAMPLES, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Every supported value type, on real traits and on an extra (extension) class.
EVERY_TYPE = {
    "ServerApp": {
        "open_browser": False,                                  # bool
        "port": 18888,                                          # int
        "ip": "0.0.0.0",                                        # str
        "custom_display_url": "a'b\"c'''d\"\"\"e\\f\ng\x00h\u00e9\ud800",  # str, every escape
        "tornado_settings": {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}, "n": None},  # dict
        "websocket_compression_options": None,                  # None
        "cookie_secret": "cookie",                              # bytes trait
    },
    "MappingKernelManager": {"kernel_info_timeout": 60.25, "cull_idle_timeout": 3600},   # float, int
    "KernelSpecManager": {"allowed_kernelspecs": ["python3", "ir"]},                    # set
    "ContentsManager": {"hide_globs": ["__pycache__", "*.pyc"]},                         # list
    "LabApp": {                                                  # extra class: any plain value
        "nested": {"list": [1, 2.5, None, True, "x", [], {}], "empty": {}},
        "big": 123456789012345678901234567890,
        "negative": -0.0,
        "huge": float("inf"),
    },
}


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def render_settings(settings, config_format="py", extra_classes=("LabApp",)):
    normalized, _migrated, _notes = sc.prepare_settings(settings, list(extra_classes))
    return normalized, sc.render(normalized, config_format)


def load_with_traitlets(tmp_path, content, config_format):
    name = "jupyter_server_config." + config_format
    write(tmp_path / name, content)
    loader_class = PyFileConfigLoader if config_format == "py" else JSONFileConfigLoader
    config = loader_class(name, path=str(tmp_path)).load_config()
    return {section: dict(config[section]) for section in config if section[:1].isupper()}


# ---------------------------------------------------------------- jupyter server --show-config-json


def test_show_config_json_loads_every_type(tmp_path):
    normalized, content = render_settings(EVERY_TYPE)
    write(tmp_path / "etc" / "jupyter_server_config.py", content)
    shown = show_config_json(tmp_path / "etc")
    for class_name, traits in normalized.items():
        for trait, expected in traits.items():
            got = from_show_config_json(expected, shown[class_name][trait])
            assert sc.same(got, expected), (class_name, trait, got, expected)


def test_show_config_json_loads_py_and_json_fragments_together(tmp_path):
    """The deployed layout: ConfigMap .py in the config dir, Secret .json on JUPYTER_CONFIG_PATH."""
    public = {"ServerApp": {"ip": "0.0.0.0", "port": 8888}, "IdentityProvider": {"token": ""}}
    secret = {"PasswordIdentityProvider": {"hashed_password": "argon2:$argon2id$v=19$m=10240,t=10,p=8$x$y"},
              "KernelSpecManager": {"allowed_kernelspecs": ["python3"]}}
    _n, py_content = render_settings(public)
    secret_normalized, json_content = render_settings(secret, "json")
    write(tmp_path / "etc" / "jupyter_server_config.py", py_content)
    write(tmp_path / "secret" / "jupyter_server_config.json", json_content)
    shown = show_config_json(tmp_path / "etc", tmp_path / "secret")
    assert shown["ServerApp"]["ip"] == "0.0.0.0" and shown["ServerApp"]["port"] == 8888
    assert shown["IdentityProvider"]["token"] == ""
    assert shown["PasswordIdentityProvider"]["hashed_password"] == secret["PasswordIdentityProvider"]["hashed_password"]
    # JSON has no sets: the list is what the Set trait casts on load.
    assert shown["KernelSpecManager"]["allowed_kernelspecs"] == ["python3"]
    assert sc.json_equivalent(secret_normalized["KernelSpecManager"]) == shown["KernelSpecManager"]


# ---------------------------------------------------------------- traitlets loaders, exact types


@pytest.mark.parametrize("config_format", ["py", "json"])
def test_traitlets_loads_exactly_the_settings(tmp_path, config_format):
    settings = copy.deepcopy(EVERY_TYPE)
    if config_format == "json":
        del settings["ServerApp"]["cookie_secret"]       # bytes: py only (a clear error otherwise, see below)
    normalized, content = render_settings(settings, config_format)
    loaded = load_with_traitlets(tmp_path, content, config_format)
    expected = normalized if config_format == "py" else {c: sc.json_equivalent(t) for c, t in normalized.items()}
    assert sc.same(loaded, expected)


def test_json_format_refuses_what_json_cannot_hold():
    with pytest.raises(sc.SettingsError, match="settings.ServerApp.cookie_secret: bytes values cannot be written"):
        render_settings({"ServerApp": {"cookie_secret": "x"}}, "json")


# ---------------------------------------------------------------- the live server


def test_live_server_loaded_every_setting(live_server):
    report = live_server.get_json("remotedev-probe/config")
    loaded = {section: {trait: decode(value) for trait, value in traits.items()}
              for section, traits in report["config"].items()}
    for class_name, traits in live_server.normalized.items():
        for trait, expected in traits.items():
            if (class_name, trait) == ("ServerApp", "jpserver_extensions"):
                continue  # merged with the extensions enabled by the venv's own config.d files
            assert sc.same(loaded[class_name][trait], expected), (class_name, trait)
    assert loaded["PasswordIdentityProvider"]["hashed_password"].startswith("argon2:$argon2id$")


def test_live_server_objects_got_the_values(live_server):
    effective = {name: decode(entry["value"])
                 for name, entry in live_server.get_json("remotedev-probe/config")["effective"].items()}
    # Values of the running server's own objects (traits cast them: the set stays a set, 45.5 a float).
    must_see = ["ServerApp.ip", "ServerApp.port", "ServerApp.base_url", "ServerApp.open_browser",
                "ServerApp.tornado_settings", "ServerApp.custom_display_url", "ServerApp.cookie_secret",
                "ServerApp.max_body_size", "ServerApp.websocket_compression_options",
                "IdentityProvider.token", "MappingKernelManager.cull_idle_timeout",
                "MappingKernelManager.kernel_info_timeout", "MappingKernelManager.cull_connected",
                "KernelSpecManager.allowed_kernelspecs", "ContentsManager.hide_globs",
                "FileContentsManager.untitled_notebook"]
    for name in must_see:
        class_name, trait = name.split(".")
        expected = live_server.normalized[class_name][trait]
        assert name in effective, name
        got = effective[name]
        assert type(got) is type(expected), name
        if isinstance(expected, dict):
            # The server adds its own keys to tornado_settings at start-up.
            got = {key: got[key] for key in expected if key in got}
        assert got == expected, name
    assert effective["ServerApp.jpserver_extensions"]["remotedev_config_probe"] is True


# ---------------------------------------------------------------- property tests


def plain_values(keys=None, scalars=None):
    if scalars is None:
        scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    if keys is None:
        keys = st.text(max_size=12) | st.integers() | st.booleans() | st.none()
    return st.recursive(
        scalars,
        lambda children: (st.lists(children, max_size=4) | st.tuples(children, children)
                          | st.frozensets(st.text(max_size=6) | st.integers(), max_size=4).map(set)
                          | st.dictionaries(keys, children, max_size=4)),
        max_leaves=16,
    )


# Names traitlets keeps as settings (the module refuses "__x" and capitalized names, see the unit tests).
TRAIT_NAMES = st.from_regex(r"\A[a-z_][a-z0-9_]{0,15}\Z").filter(
    lambda name: not keyword.iskeyword(name) and not name.startswith("__"))


@PROPERTY
@given(values=st.dictionaries(TRAIT_NAMES, plain_values() | st.binary(max_size=8), min_size=1, max_size=5))
def test_random_values_round_trip_through_the_py_file(tmp_path_factory, values):
    normalized, content = render_settings({"LabApp": values})
    loaded = load_with_traitlets(tmp_path_factory.mktemp("py"), content, "py")
    assert sc.same(loaded, {"LabApp": normalized["LabApp"]})
    assert sc.same(normalized["LabApp"], values)   # the module keeps plain data as given


@PROPERTY
@given(values=st.dictionaries(TRAIT_NAMES, plain_values(keys=st.text(max_size=12)), min_size=1, max_size=5))
def test_random_values_round_trip_through_the_json_file(tmp_path_factory, values):
    normalized, content = render_settings({"LabApp": values}, "json")
    loaded = load_with_traitlets(tmp_path_factory.mktemp("json"), content, "json")
    assert sc.same(loaded, {"LabApp": sc.json_equivalent(normalized["LabApp"])})


@PROPERTY
@given(text=st.text(), name=TRAIT_NAMES)
def test_random_strings_cannot_add_statements(tmp_path_factory, text, name):
    normalized, content = render_settings({"LabApp": {name: text}, "ServerApp": {"custom_display_url": text}})
    loaded = load_with_traitlets(tmp_path_factory.mktemp("str"), content, "py")
    assert loaded == {"LabApp": {name: text}, "ServerApp": {"custom_display_url": text}}
    assert sc.parse_py(content) == normalized


# -- values for real traits: accepted ones are real-trait-valid, rejected ones are named


def _real_traits():
    """{(class, trait): the real traitlets trait} from the pinned jupyter_server."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import generate_server_config_schema as generator  # pylint: disable=import-error,import-outside-toplevel
    finally:
        sys.path.pop(0)
    traits = {}
    for name, variants in generator.server_classes().items():
        for trait_name, trait in variants[0].class_traits(config=True).items():
            traits[(name, trait_name)] = trait
    return traits


REAL_TRAITS = _real_traits()
SCHEMA_TRAITS = sorted((c, t) for c, traits in CLASSES.items() for t in traits)


def valid_value(desc):
    """Values of the type a schema descriptor describes, as YAML would give them."""
    kind = desc["kind"]
    if kind == "bool":
        strategy = st.booleans()
    elif kind == "int":
        strategy = st.integers(min_value=desc.get("min"), max_value=desc.get("max"))
    elif kind == "float":
        strategy = st.floats(min_value=desc.get("min"), max_value=desc.get("max"), allow_nan=False) | st.integers(
            min_value=desc.get("min"), max_value=desc.get("max"))
    elif kind == "str":
        pattern = {"identifier": r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z",
                   "dotted": r"\A[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z_][A-Za-z0-9_]{0,6}){0,3}\Z"}.get(desc.get("pattern"))
        strategy = st.from_regex(pattern) if pattern else st.text()
    elif kind == "bytes":
        strategy = st.text(st.characters(blacklist_categories=["Cs"]))
    elif kind == "enum":
        strategy = st.sampled_from(desc["values"])
    elif kind in ("list", "set"):
        item = valid_value(desc["item"]) if "item" in desc else (st.text() | st.integers())
        strategy = st.lists(item, min_size=desc.get("minlen", 0), max_size=min(desc.get("maxlen", 4), 4))
    elif kind == "tuple":
        strategy = st.tuples(*[valid_value(d) for d in desc["items"]]).map(list) if "items" in desc else st.lists(
            st.text(), max_size=3)
    elif kind == "dict":
        keys = valid_value(desc["key"]) if "key" in desc else st.text(max_size=10)
        values = valid_value(desc["value"]) if "value" in desc else plain_values(keys=st.text(max_size=6))
        strategy = st.dictionaries(keys, values, max_size=3)
    elif kind == "union":
        strategy = st.one_of([valid_value(d) for d in desc["types"]])
    elif kind == "type":
        strategy = st.just(desc["klass"])   # the base class itself is always importable and valid
    elif kind == "any":
        strategy = plain_values(keys=st.text(max_size=6))
    else:
        strategy = st.nothing()
    return strategy | st.none() if desc.get("none") else strategy


def holder_for(trait):
    """A HasTraits class carrying a copy of the real trait (its type checks, not the owner's hooks)."""
    return type("Holder", (HasTraits,), {"value": copy.deepcopy(trait)})


@PROPERTY
@given(data=st.data())
def test_accepted_values_are_valid_for_the_real_trait_and_load_back(tmp_path_factory, data):
    class_name, trait = data.draw(st.sampled_from(SCHEMA_TRAITS), label="trait")
    desc = sc.trait_descriptor(trait, CLASSES[class_name][trait])  # with the bounds the module adds (ports)
    if desc["kind"] == "unsupported":
        with pytest.raises(sc.SettingsError, match=re.escape("settings.%s.%s cannot be set" % (class_name, trait))):
            sc.prepare_settings({class_name: {trait: "x"}})
        return
    value = data.draw(valid_value(desc), label="value")
    normalized, migrated, notes = sc.prepare_settings({class_name: {trait: value}})
    if value is None and "%s.%s" % (class_name, trait) in DEPRECATED and DEPRECATED["%s.%s" % (class_name, trait)]:
        # null for a deprecated alias means "unset": dropped, with a warning.
        assert normalized == {class_name: {}} and "deprecated and null" in notes[0]
        return
    if migrated:
        new_name = migrated[0].split(" -> ")[1]
        class_name, trait = new_name.split(".")
    rendered = normalized[class_name][trait]
    holder = holder_for(REAL_TRAITS[(class_name, trait)])
    try:
        holder(value=rendered)
    except TraitError as exc:
        raise AssertionError("module accepted %r for %s.%s but traitlets rejects it: %s"
                             % (value, class_name, trait, exc))
    loaded = load_with_traitlets(tmp_path_factory.mktemp("trait"), sc.render(normalized, "py"), "py")
    assert sc.same(loaded, {c: t for c, t in normalized.items() if t})


@PROPERTY
@given(data=st.data())
def test_any_value_for_any_trait_is_accepted_faithfully_or_refused_by_name(tmp_path_factory, data):
    class_name, trait = data.draw(st.sampled_from(SCHEMA_TRAITS), label="trait")
    value = data.draw(plain_values(keys=st.text(max_size=6)) | st.floats(), label="value")
    try:
        normalized, migrated, _notes = sc.prepare_settings({class_name: {trait: value}})
    except sc.SettingsError as exc:
        # One clear message naming the field as written (also when it is a deprecated name).
        assert str(exc).startswith("settings.%s.%s" % (class_name, trait)), str(exc)
        return
    loaded = load_with_traitlets(tmp_path_factory.mktemp("any"), sc.render(normalized, "py"), "py")
    assert sc.same(loaded, {c: t for c, t in normalized.items() if t})
    del migrated


@hypothesis_settings(max_examples=int(os.environ.get("REMOTEDEV_HYPOTHESIS_PROCESS_EXAMPLES", "6")), deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(
    TRAIT_NAMES,
    plain_values(keys=st.text(max_size=8), scalars=st.none() | st.booleans() | st.integers() | st.text()
                 | st.floats(allow_nan=False, allow_infinity=False)),
    min_size=5, max_size=20))
def test_random_values_through_jupyter_server_show_config_json(tmp_path_factory, values):
    # The real command, on a batch of random values per run (each run is a `jupyter server` process).
    # show-config-json prints sets with repr(): sets of plain strings/ints read back; tuples print as lists.
    normalized, content = render_settings({"LabApp": values})
    directory = tmp_path_factory.mktemp("show")
    write(directory / "jupyter_server_config.py", content)
    shown = show_config_json(directory)["LabApp"]
    for trait, expected in normalized["LabApp"].items():
        assert sc.same(from_show_config_json(expected, shown[trait]), expected), trait
