# -*- coding: utf-8 -*-
# Copyright: remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# PRIVATE: the attributes' descriptions, written once for every module of this
# collection; each module states only its support and the details.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed when in diff mode.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
"""

    ACTIONGROUP_JUPYTER = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/remotedev.jupyter.jupyter) in C(module_defaults) to set defaults for this module.
    membership:
      - remotedev.jupyter.jupyter
"""
