"""Simulated chargers on the `ocpp` library's charge-point side, one class per version.

A simulated charger boots, reports status and meter values, runs sessions, and
answers the central system's commands as a real charger would: remote start and stop
start and stop sessions, charging profiles cap the power it draws, a trigger sends
what was asked for. `answers` makes it refuse a command (action -> status), for tests
and for trying failure paths by hand.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import ConnectionClosed

VOLTAGE_V = 230.0


def now_text() -> str:
    """The current time as OCPP writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedCharger:
    """What every simulated charger knows about itself and has been told."""

    vendor = "OCPP CSMS Simulator"
    model = "SimCharger"
    serial_number = "SIM-0001"
    firmware_version = "1.0.0"

    def __init__(self, *args: Any, connectors: int = 1, phases: int = 3, **kwargs: Any) -> None:
        """Start idle: no session, registers at zero; the base takes (id, connection)."""
        super().__init__(*args, **kwargs)
        self.boot_statuses: list[str] = []
        self.interval = 60
        self.connectors = connectors
        self.phases = phases
        self.energy_wh = dict.fromkeys(range(1, connectors + 1), 0.0)
        self.transactions: dict[int, str] = {}
        # action -> the status to answer instead of accepting
        self.answers: dict[str, str] = {}
        # Every command received, as (action, payload in snake case), for tests.
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: list[dict[str, Any]] = []
        self.limit_a: float | None = None
        self.configuration: dict[str, str] = {}

    async def call(self, payload: Any, **kwargs: Any) -> Any:
        """Send a CALL (the ChargePoint base class provides it)."""
        return await super().call(payload, **kwargs)  # type: ignore[misc]

    def _answer(self, action: str, payload: dict[str, Any], accepted: str = "Accepted") -> str:
        self.received.append((action, payload))
        return self.answers.get(action, accepted)

    async def _detached(self, work: Any) -> None:
        """Follow-up work after answering (nobody awaits it): a closing socket is fine."""
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await work

    # -- what a charger does ------------------------------------------------------------

    def _boot_payload(self) -> Any:
        raise NotImplementedError

    def _heartbeat_payload(self) -> Any:
        raise NotImplementedError

    async def boot(self) -> str:
        """Send a BootNotification; returns the status answered."""
        response = await self.call(self._boot_payload())
        self.boot_statuses.append(str(response.status))
        self.interval = int(response.interval) or self.interval
        return str(response.status)

    async def heartbeat(self) -> Any:
        """Send a Heartbeat."""
        return await self.call(self._heartbeat_payload())

    def power_w(self, connector: int, wanted_w: float = 11000.0) -> float:
        """The power a session draws: what the car wants, capped by the current limit."""
        if connector not in self.transactions:
            return 0.0
        if self.limit_a is not None:
            wanted_w = min(wanted_w, self.limit_a * VOLTAGE_V * self.phases)
        return wanted_w

    def advance(self, connector: int, seconds: float, wanted_w: float = 11000.0) -> float:
        """Let time pass: the register rises by what the session drew. Returns the power."""
        power = self.power_w(connector, wanted_w)
        self.energy_wh[connector] += power * seconds / 3600
        return power

    async def send_status(self, connector: int, status: str) -> None:
        """Report a connector's status (1.6 words: Available, Preparing, Charging, ...)."""
        raise NotImplementedError

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session on a connector; returns its transaction id."""
        raise NotImplementedError

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values after `seconds` of charging."""
        raise NotImplementedError

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop the session on a connector."""
        raise NotImplementedError

    def _connector_of(self, transaction_id: Any) -> int | None:
        for connector, running in self.transactions.items():
            if str(running) == str(transaction_id):
                return connector
        return None

    def _take_profile(self, profile: dict[str, Any]) -> None:
        """Apply a profile's first limit (in A, or W converted) to the simulated power."""
        self.profiles.append(profile)
        schedule = profile.get("charging_schedule")
        if isinstance(schedule, list):  # 2.x: a list of schedules
            schedule = schedule[0]
        if not schedule:
            return
        limit = float(schedule["charging_schedule_period"][0]["limit"])
        unit = schedule.get("charging_rate_unit", "A")
        self.limit_a = limit if unit == "A" else limit / (VOLTAGE_V * self.phases)

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError


class Charger16(SimulatedCharger, ChargePoint16):
    """An OCPP 1.6J charger."""

    def _boot_payload(self) -> Any:
        return call16.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
        )

    def _heartbeat_payload(self) -> Any:
        return call16.Heartbeat()

    async def send_status(self, connector: int, status: str) -> None:
        """Report a connector's status."""
        await self.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status=status, timestamp=now_text()
            )
        )

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session (StartTransaction)."""
        response = await self.call(
            call16.StartTransaction(
                connector_id=connector,
                id_tag=id_tag,
                meter_start=int(self.energy_wh[connector]),
                timestamp=now_text(),
            )
        )
        self.transactions[connector] = str(response.transaction_id)
        await self.send_status(connector, "Charging")
        return str(response.transaction_id)

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        current = power / (VOLTAGE_V * self.phases)
        values = [
            {
                "value": f"{self.energy_wh[connector]:.0f}",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            },
            {"value": f"{power:.0f}", "measurand": "Power.Active.Import", "unit": "W"},
            *(
                {
                    "value": f"{current:.1f}",
                    "measurand": "Current.Import",
                    "phase": f"L{n}",
                    "unit": "A",
                }
                for n in range(1, self.phases + 1)
            ),
            {"value": f"{VOLTAGE_V:.0f}", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        ]
        if context:
            for value in values:
                value["context"] = context
        return {"timestamp": now_text(), "sampled_value": values}

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values (MeterValues)."""
        power = self.advance(connector, seconds)
        payload: dict[str, Any] = {
            "connector_id": connector,
            "meter_value": [self._meter_sample(connector, power)],
        }
        if connector in self.transactions:
            payload["transaction_id"] = int(self.transactions[connector])
        await self.call(call16.MeterValues(**payload))

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop a session (StopTransaction)."""
        transaction_id = self.transactions.pop(connector, None)
        if transaction_id is None:
            return
        await self.call(
            call16.StopTransaction(
                transaction_id=int(transaction_id),
                meter_stop=int(self.energy_wh[connector]),
                timestamp=now_text(),
                reason=reason,
            )
        )
        await self.send_status(connector, "Finishing")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, **payload: Any) -> Any:
        """Accept a remote start (unless told not to)."""
        return result16.RemoteStartTransaction(
            self._answer("RemoteStartTransaction", {"id_tag": id_tag, **payload})
        )

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag: str, **payload: Any) -> None:
        """Start the session that was asked for."""
        if self.answers.get("RemoteStartTransaction", "Accepted") == "Accepted":
            if profile := payload.get("charging_profile"):
                self._take_profile(profile)
            await self._detached(self.start_session(payload.get("connector_id") or 1, id_tag))

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **payload: Any) -> Any:
        """Accept a remote stop of a running session."""
        known = self._connector_of(transaction_id) is not None
        status = self._answer(
            "RemoteStopTransaction",
            {"transaction_id": transaction_id},
            "Accepted" if known else "Rejected",
        )
        return result16.RemoteStopTransaction(status)

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int, **payload: Any) -> None:
        """Stop the session."""
        connector = self._connector_of(transaction_id)
        if (
            connector is not None
            and self.answers.get("RemoteStopTransaction", "Accepted") == "Accepted"
        ):
            await self._detached(self.stop_session(connector, "Remote"))

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        """Take a profile: it caps the power drawn."""
        status = self._answer(
            "SetChargingProfile",
            {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
        )
        if status == "Accepted":
            self._take_profile(cs_charging_profiles)
        return result16.SetChargingProfile(status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **payload: Any) -> Any:
        """Drop every profile."""
        self.profiles.clear()
        self.limit_a = None
        return result16.ClearChargingProfile(self._answer("ClearChargingProfile", payload))

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        """Become operative or inoperative."""
        return result16.ChangeAvailability(
            self._answer("ChangeAvailability", {"connector_id": connector_id, "type": type})
        )

    @after("ChangeAvailability")
    async def after_change_availability(self, connector_id: int, type: str, **_: Any) -> None:
        """Report the new status."""
        if self.answers.get("ChangeAvailability", "Accepted") == "Accepted":
            await self._detached(
                self.send_status(
                    connector_id, "Available" if type == "Operative" else "Unavailable"
                )
            )

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        """Accept a reset (the simulator does not really restart)."""
        return result16.Reset(self._answer("Reset", {"type": type}))

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int, **_: Any) -> Any:
        """Release the cable."""
        return result16.UnlockConnector(
            self._answer("UnlockConnector", {"connector_id": connector_id}, "Unlocked")
        )

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        """Report the configuration keys."""
        self._answer("GetConfiguration", {"key": key})
        keys = key or list(self.configuration)
        return result16.GetConfiguration(
            configuration_key=[
                {"key": name, "readonly": False, "value": self.configuration[name]}
                for name in keys
                if name in self.configuration
            ],
            unknown_key=[name for name in keys if name not in self.configuration] or None,
        )

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        """Change a configuration key."""
        status = self._answer("ChangeConfiguration", {"key": key, "value": value})
        if status == "Accepted":
            self.configuration[key] = value
        return result16.ChangeConfiguration(status)

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **payload: Any) -> Any:
        """Accept a trigger."""
        return result16.TriggerMessage(
            self._answer("TriggerMessage", {"requested_message": requested_message, **payload})
        )

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **payload: Any) -> None:
        """Send what was asked for."""
        connectors = (
            [payload["connector_id"]] if payload.get("connector_id") else list(self.energy_wh)
        )
        match requested_message:
            case "BootNotification":
                await self._detached(self.boot())
            case "StatusNotification":
                for connector in connectors:
                    busy = "Charging" if connector in self.transactions else "Available"
                    await self._detached(self.send_status(connector, busy))
            case "MeterValues":
                for connector in connectors:
                    await self._detached(self.send_meter_values(connector, 0))
            case "Heartbeat":
                await self._detached(self.heartbeat())


class _Charger2x(SimulatedCharger):
    """The 2.0.1 and 2.1 chargers: their messages match for everything simulated."""

    _call: Any
    _result: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with no transaction sequence numbers used."""
        super().__init__(*args, **kwargs)
        self._seq = itertools.count()

    def _boot_payload(self) -> Any:
        return self._call.BootNotification(
            charging_station={
                "model": self.model,
                "vendor_name": self.vendor,
                "serial_number": self.serial_number,
                "firmware_version": self.firmware_version,
            },
            reason="PowerUp",
        )

    def _heartbeat_payload(self) -> Any:
        return self._call.Heartbeat()

    async def send_status(self, connector: int, status: str) -> None:
        """Report an EVSE's connector status (1.6 words are mapped to 2.x ones)."""
        words = {"Preparing": "Occupied", "Charging": "Occupied", "SuspendedEV": "Occupied",
                 "SuspendedEVSE": "Occupied", "Finishing": "Occupied"}  # fmt: skip
        await self.call(
            self._call.StatusNotification(
                timestamp=now_text(),
                connector_status=words.get(status, status),
                evse_id=connector,
                connector_id=1,
            )
        )

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        current = power / (VOLTAGE_V * self.phases)
        values: list[dict[str, Any]] = [
            {
                "value": round(self.energy_wh[connector], 1),
                "measurand": "Energy.Active.Import.Register",
            },
            {"value": round(power, 1), "measurand": "Power.Active.Import"},
            *(
                {"value": round(current, 1), "measurand": "Current.Import", "phase": f"L{n}"}
                for n in range(1, self.phases + 1)
            ),
            {"value": VOLTAGE_V, "measurand": "Voltage", "phase": "L1-N"},
        ]
        if context:
            for value in values:
                value["context"] = context
        return {"timestamp": now_text(), "sampled_value": values}

    async def _transaction_event(
        self, event_type: str, connector: int, trigger: str, **extra: Any
    ) -> Any:
        return await self.call(
            self._call.TransactionEvent(
                event_type=event_type,
                timestamp=now_text(),
                trigger_reason=trigger,
                seq_no=next(self._seq),
                evse={"id": connector, "connector_id": 1},
                **extra,
            )
        )

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session (TransactionEvent Started)."""
        transaction_id = uuid.uuid4().hex[:16]
        self.transactions[connector] = transaction_id
        await self.send_status(connector, "Charging")
        await self._transaction_event(
            "Started",
            connector,
            "Authorized",
            transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
            id_token={"id_token": id_tag, "type": "ISO14443"},
            meter_value=[self._meter_sample(connector, 0, "Transaction.Begin")],
        )
        return transaction_id

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values (in a TransactionEvent during a session)."""
        power = self.advance(connector, seconds)
        sample = self._meter_sample(connector, power)
        if (transaction_id := self.transactions.get(connector)) is not None:
            await self._transaction_event(
                "Updated",
                connector,
                "MeterValuePeriodic",
                transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                meter_value=[sample],
            )
        else:
            await self.call(self._call.MeterValues(evse_id=connector, meter_value=[sample]))

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop a session (TransactionEvent Ended)."""
        transaction_id = self.transactions.pop(connector, None)
        if transaction_id is None:
            return
        await self._transaction_event(
            "Ended",
            connector,
            "RemoteStop" if reason == "Remote" else "StopAuthorized",
            transaction_info={
                "transaction_id": transaction_id,
                "stopped_reason": reason,
                "charging_state": "EVConnected",
            },
            meter_value=[self._meter_sample(connector, 0, "Transaction.End")],
        )

    def _report_data(self) -> list[dict[str, Any]]:
        reported = []
        for name, value in self.configuration.items():
            component, _, variable = name.partition("/")
            reported.append(
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variable_attribute": [{"type": "Actual", "value": value}],
                }
            )
        return reported


def _handlers_2x(result: Any) -> dict[str, Any]:
    """The 2.x command handlers, bound to one version's call_result module."""

    @on("RequestStartTransaction")
    def on_request_start(
        self: Any, id_token: dict[str, Any], remote_start_id: int, **payload: Any
    ) -> Any:
        return result.RequestStartTransaction(
            status=self._answer("RequestStartTransaction", {"id_token": id_token, **payload})
        )

    @after("RequestStartTransaction")
    async def after_request_start(
        self: Any, id_token: dict[str, Any], remote_start_id: int, **payload: Any
    ) -> None:
        if self.answers.get("RequestStartTransaction", "Accepted") == "Accepted":
            if profile := payload.get("charging_profile"):
                self._take_profile(profile)
            await self._detached(
                self.start_session(payload.get("evse_id") or 1, id_token["id_token"])
            )

    @on("RequestStopTransaction")
    def on_request_stop(self: Any, transaction_id: str, **_: Any) -> Any:
        known = self._connector_of(transaction_id) is not None
        return result.RequestStopTransaction(
            status=self._answer(
                "RequestStopTransaction",
                {"transaction_id": transaction_id},
                "Accepted" if known else "Rejected",
            )
        )

    @after("RequestStopTransaction")
    async def after_request_stop(self: Any, transaction_id: str, **_: Any) -> None:
        connector = self._connector_of(transaction_id)
        if (
            connector is not None
            and self.answers.get("RequestStopTransaction", "Accepted") == "Accepted"
        ):
            await self._detached(self.stop_session(connector, "Remote"))

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self: Any, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        status = self._answer(
            "SetChargingProfile", {"evse_id": evse_id, "charging_profile": charging_profile}
        )
        if status == "Accepted":
            self._take_profile(charging_profile)
        return result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self: Any, **payload: Any) -> Any:
        self.profiles.clear()
        self.limit_a = None
        return result.ClearChargingProfile(status=self._answer("ClearChargingProfile", payload))

    @on("ChangeAvailability")
    def on_change_availability(self: Any, operational_status: str, **payload: Any) -> Any:
        return result.ChangeAvailability(
            status=self._answer(
                "ChangeAvailability", {"operational_status": operational_status, **payload}
            )
        )

    @on("Reset")
    def on_reset(self: Any, type: str, **_: Any) -> Any:
        return result.Reset(status=self._answer("Reset", {"type": type}))

    @on("UnlockConnector")
    def on_unlock(self: Any, evse_id: int, connector_id: int, **_: Any) -> Any:
        return result.UnlockConnector(
            status=self._answer("UnlockConnector", {"evse_id": evse_id}, "Unlocked")
        )

    @on("GetBaseReport")
    def on_get_base_report(self: Any, request_id: int, report_base: str, **_: Any) -> Any:
        return result.GetBaseReport(
            status=self._answer("GetBaseReport", {"request_id": request_id})
        )

    @after("GetBaseReport")
    async def after_get_base_report(self: Any, request_id: int, report_base: str, **_: Any) -> None:
        if self.answers.get("GetBaseReport", "Accepted") == "Accepted":
            await self._detached(
                self.call(
                    self._call.NotifyReport(
                        request_id=request_id,
                        generated_at=now_text(),
                        seq_no=0,
                        report_data=self._report_data() or None,
                    )
                )
            )

    @on("SetVariables")
    def on_set_variables(self: Any, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            name = f"{item['component']['name']}/{item['variable']['name']}"
            status = self._answer("SetVariables", {"name": name, "value": item["attribute_value"]})
            if status == "Accepted":
                self.configuration[name] = item["attribute_value"]
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return result.SetVariables(set_variable_result=results)

    @on("TriggerMessage")
    def on_trigger_message(self: Any, requested_message: str, **payload: Any) -> Any:
        return result.TriggerMessage(
            status=self._answer(
                "TriggerMessage", {"requested_message": requested_message, **payload}
            )
        )

    @after("TriggerMessage")
    async def after_trigger_message(self: Any, requested_message: str, **payload: Any) -> None:
        evse = payload.get("evse") or {}
        connectors = [evse["id"]] if evse.get("id") else list(self.energy_wh)
        match requested_message:
            case "BootNotification":
                await self._detached(self.boot())
            case "StatusNotification":
                for connector in connectors:
                    busy = "Charging" if connector in self.transactions else "Available"
                    await self._detached(self.send_status(connector, busy))
            case "MeterValues":
                for connector in connectors:
                    await self._detached(self.send_meter_values(connector, 0))
            case "Heartbeat":
                await self._detached(self.heartbeat())

    return {
        name: value
        for name, value in locals().items()
        if callable(value) and name.startswith(("on_", "after_"))
    }


Charger201 = type(
    "Charger201",
    (_Charger2x, ChargePoint201),
    {
        "__doc__": "An OCPP 2.0.1 charger.",
        "_call": call201,
        "_result": result201,
        **_handlers_2x(result201),
    },
)
Charger21 = type(
    "Charger21",
    (_Charger2x, ChargePoint21),
    {
        "__doc__": "An OCPP 2.1 charger.",
        "_call": call21,
        "_result": result21,
        **_handlers_2x(result21),
    },
)

CHARGER_CLASSES: dict[str, type[SimulatedCharger]] = {
    "ocpp1.6": Charger16,
    "ocpp2.0.1": Charger201,
    "ocpp2.1": Charger21,
}
