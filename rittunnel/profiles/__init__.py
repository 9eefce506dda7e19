"""Profiles: a file ``NAME.yaml`` describing one tunnel, found, read and validated.

* :mod:`.name`: the one tunnel-name rule (profiles and state files both use it);
* :mod:`.model`: the :class:`Profile` and its per-key checks (pure);
* :mod:`.search`: where profiles are found, and listing them;
* :mod:`.loader`: reading a file as YAML, within bounds (the only one importing yaml);
* :mod:`.service`: the profile a ``--service NAME|ID`` command line describes.

The names below need no yaml, so importing this package stays cheap (``status``, ``stop``
and ``--help`` load no yaml); load a profile with :mod:`.loader` or :mod:`.service`.
"""

from .model import DEFAULT_BIND, MODES, PROXY_KINDS, Mode, Profile, ProxyKind, is_service_id
from .name import MAX_NAME, check_name, name_problem
from .search import find_profile, list_profiles, looks_like_path, new_profile_path, profile_dirs

__all__ = [
    "DEFAULT_BIND",
    "MAX_NAME",
    "MODES",
    "PROXY_KINDS",
    "Mode",
    "Profile",
    "ProxyKind",
    "check_name",
    "find_profile",
    "is_service_id",
    "list_profiles",
    "looks_like_path",
    "name_problem",
    "new_profile_path",
    "profile_dirs",
]
