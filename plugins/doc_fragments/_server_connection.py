# -*- coding: utf-8 -*-
# Copyright: remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# PRIVATE: how the modules that talk to a running Jupyter Server reach it and
# log in, written once (the argument spec is SERVER_CONNECTION_ARGS in
# module_utils/_server_info.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the server including its C(base_url) path, for example C(http://127.0.0.1:8888/)
        or C(https://jupyter.example.internal/jupyter/).
      - Credentials and the token do not belong in the URL (use O(token) or O(password)).
    type: str
    required: true
  token:
    description:
      - The server's token (C(IdentityProvider.token)), sent in the C(Authorization) header.
      - A string; anything else is refused, never turned into its text form.
    type: raw
  password:
    description:
      - The server's password; the module logs in through C(/login) like a browser and uses the session
        cookie and the XSRF token.
      - A string; anything else is refused, never turned into its text form.
    type: raw
  validate_certs:
    description:
      - Verify the server's TLS certificate for C(https) URLs, on the REST calls and on a kernel websocket.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates to trust for C(https) URLs (for example an internal CA). It must exist.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer and for a kernel websocket to open.
    type: int
    default: 30
"""
