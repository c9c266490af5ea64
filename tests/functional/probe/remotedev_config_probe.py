# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Jupyter Server extension for the functional tests only.

It reports what the live server made of its configuration: GET
<base_url>remotedev-probe/config returns the loaded config (as traitlets read
it from the rendered files) and the trait values of the server's live
objects, in a typed JSON encoding that keeps sets, tuples, bytes, infinities
and lone surrogates apart. It is enabled through the rendered config itself
(ServerApp.jpserver_extensions) and found through PYTHONPATH.
"""

import base64
import json

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web


def encode(value):
    """Typed JSON form of a config value (decoded by tests/functional/helpers.py)."""
    if value is None or isinstance(value, bool):
        return {"t": type(value).__name__, "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": str(value)}
    if isinstance(value, float):
        return {"t": "float", "v": repr(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, bytes):
        return {"t": "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple, set)):
        return {"t": type(value).__name__, "v": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    return {"t": "repr", "v": repr(value)}


def live_objects(serverapp):
    names = ("kernel_manager", "contents_manager", "kernel_spec_manager", "session_manager", "identity_provider",
             "authorizer", "config_manager")
    objects = [serverapp] + [getattr(serverapp, name, None) for name in names]
    return [obj for obj in objects if obj is not None]


class ConfigProbeHandler(APIHandler):
    @web.authenticated
    def get(self):
        serverapp = self.settings["serverapp"]
        config = serverapp.config
        loaded = {
            section: {trait: encode(value) for trait, value in config[section].items()}
            for section in config
            if section[:1].isupper()
        }
        effective = {}
        for obj in live_objects(serverapp):
            mro_names = {cls.__name__ for cls in type(obj).__mro__}
            for section, traits in loaded.items():
                if section not in mro_names:
                    continue
                for trait in traits:
                    if obj.has_trait(trait):
                        effective["%s.%s" % (section, trait)] = {
                            "object": type(obj).__name__,
                            "value": encode(getattr(obj, trait)),
                        }
        self.set_header("Content-Type", "application/json")
        # ASCII JSON: lone surrogates in strings survive the HTTP body.
        self.finish(json.dumps({"config": loaded, "effective": effective}, ensure_ascii=True))


def _jupyter_server_extension_points():
    return [{"module": "remotedev_config_probe"}]


def _load_jupyter_server_extension(serverapp):
    route = url_path_join(serverapp.web_app.settings["base_url"], "remotedev-probe", "config")
    serverapp.web_app.add_handlers(".*$", [(route, ConfigProbeHandler)])
