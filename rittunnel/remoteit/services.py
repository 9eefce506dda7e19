"""Service lists as data, both APIs' records (no I/O): :func:`service_info` reads one
service whatever the API calls its fields; :func:`parse_services` reads REST's
``/device/list/all`` (``docs/remoteit-api.md#rest-list``).

That list holds an entry per *device* beside its services (``servicetitle`` "Bulk
Service", ``devicealias`` the device's name; ``#rest-list-devices``): not a service, so
it is left out of the list, and a device never matches a service's name.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProtocolError
from .protocol import ServiceInfo

#: the ``servicetitle`` of a device's own entry in ``/device/list/all`` (not a service)
DEVICE_ENTRY_TITLE = "bulk service"


def is_device_entry(item: object) -> bool:
    """Whether a ``/device/list/all`` record is a device's entry, not a service's."""
    if not isinstance(item, dict):
        return False
    return str(item.get("servicetitle") or "").strip().casefold() == DEVICE_ENTRY_TITLE


def service_info(
    item: object, address: str, name: str, type_: str, state: str
) -> ServiceInfo | None:
    """One service from an API record, its fields under these keys (the two APIs name
    them differently); None when it is not a record with an address."""
    if not isinstance(item, dict) or not item.get(address):
        return None
    return ServiceInfo(
        address=str(item[address]),
        name=str(item.get(name) or ""),
        type=str(item.get(type_) or ""),
        state=str(item.get(state) or ""),
    )


def parse_services(data: dict[str, Any]) -> list[ServiceInfo]:
    devices = data.get("devices")
    if not isinstance(devices, list):
        raise ProtocolError("device list: the remote.it API answered without a devices list")
    out = []
    for item in devices:
        if is_device_entry(item):
            continue
        service = service_info(item, "deviceaddress", "devicealias", "servicetitle", "devicestate")
        if service is not None:
            out.append(service)
    return out
