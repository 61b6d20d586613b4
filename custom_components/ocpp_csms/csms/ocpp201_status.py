"""An EVSE's one status in OCPP 2.x: from its connectors' statuses and its session.

2.x reports each connector's status alone (Available, Occupied, ...); the model's
finer status of an EVSE (Charging, SuspendedEV, Finishing) comes from its transaction.
"""

from __future__ import annotations

from .station import ConnectorStatus, Evse

# A connector's status as StatusNotification names it (ConnectorStatusEnumType).
CONNECTOR_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Occupied": ConnectorStatus.OCCUPIED,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}

# An occupied EVSE's finer status, from the transaction's charging state.
_CHARGING_STATE = {
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "EVConnected": ConnectorStatus.PREPARING,
    "Idle": ConnectorStatus.OCCUPIED,
}


def derive_status(evse: Evse) -> ConnectorStatus:
    """One status for an EVSE from its connectors' statuses and its transaction."""
    statuses = set(evse.connector_status.values())
    if not statuses:
        return ConnectorStatus.UNKNOWN
    for decisive in (ConnectorStatus.FAULTED, ConnectorStatus.OCCUPIED):
        if decisive in statuses:
            if decisive is ConnectorStatus.OCCUPIED:
                state = evse.transaction.charging_state if evse.transaction else None
                if evse.transaction is None and evse.last_transaction is not None:
                    return ConnectorStatus.FINISHING
                return _CHARGING_STATE.get(state or "", ConnectorStatus.OCCUPIED)
            return decisive
    for status in (ConnectorStatus.RESERVED, ConnectorStatus.AVAILABLE):
        if status in statuses:
            return status
    return ConnectorStatus.UNAVAILABLE
