"""Every default of the deploy roles is documented once in meta/argument_specs.yml,
with the same default value, and nothing undocumented is read."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO


@pytest.mark.parametrize("role", ["jupyter_server", "code_server", "frontend"])
def test_defaults_match_the_argument_specs(role):
    root = REPO / "roles" / role
    defaults = yaml.safe_load((root / "defaults/main.yml").read_text())
    specs = yaml.safe_load((root / "meta/argument_specs.yml").read_text())["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry["options"])
    assert set(defaults) == set(options), set(defaults) ^ set(options)
    for name, value in defaults.items():
        assert name.startswith(role + "_"), name
        assert options[name].get("default") == value, name
        assert options[name].get("description"), name
