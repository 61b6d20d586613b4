"""Simulated OCPP 2.0.1 and 2.1 chargers (their messages match for all simulated here)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any, ClassVar

from ocpp.routing import after, on
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from .base import ENERGY, VOLTAGE_V, SamplingKeys
from .reservations import HeldReservation
from .security import (
    SECURITY_PROFILE_2X,
    SecurityHolder,
    firmware_signature_check,
    readable_certificate,
    security_handlers_2x,
)

# The triggerReason of a session's end, by its stoppedReason.
_END_TRIGGERS = {"Remote": "RemoteStop", "ImmediateReset": "ResetCommand"}


class _Charger2x(SecurityHolder):
    """The 2.0.1 and 2.1 chargers: their messages match for everything simulated."""

    security_profile_setting: ClassVar[str] = SECURITY_PROFILE_2X

    _call: Any
    _result: Any
    default_configuration: ClassVar[dict[str, str]] = {
        "SmartChargingCtrlr/Enabled": "true",
        "LocalAuthListCtrlr/Enabled": "true",
        "LocalAuthListCtrlr/Entries": "100",
        "ReservationCtrlr/Enabled": "true",
    }
    sampling_keys: ClassVar[SamplingKeys] = SamplingKeys(
        interval="SampledDataCtrlr/TxUpdatedInterval",
        periodic="SampledDataCtrlr/TxUpdatedMeasurands",
        begin="SampledDataCtrlr/TxStartedMeasurands",
        end="SampledDataCtrlr/TxEndedMeasurands",
    )
    rate_units_setting: ClassVar[tuple[str, str]] = ("SmartChargingCtrlr/RateUnit", "A,W")

    def __init__(self, *args: Any, seq_numbers: str = "counting", **kwargs: Any) -> None:
        """Start with no transaction sequence numbers used.

        `seq_numbers="zero"` behaves like chargers that send seqNo 0 with every
        TransactionEvent (non-conformant, but they exist).
        """
        super().__init__(*args, **kwargs)
        self.seq_numbers = seq_numbers
        self._seq = itertools.count()
        # EVSEs to reset once their session ends (a Reset OnIdle answered Scheduled).
        self.resets_when_idle: set[int] = set()

    def restart_seq_numbers(self) -> None:
        """Count seqNo from 0 again, as a charger does after a reboot mid-session."""
        self._seq = itertools.count()

    def _next_seq_no(self) -> int:
        return 0 if self.seq_numbers == "zero" else next(self._seq)

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

    def _sign_certificate_payload(self, csr: str) -> Any:
        return self._call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")

    async def send_status(self, connector: int, status: str) -> None:
        """Report an EVSE's connector status (1.6 words are mapped to 2.x ones)."""
        words = {"Preparing": "Occupied", "Charging": "Occupied", "SuspendedEV": "Occupied",
                 "SuspendedEVSE": "Occupied", "Finishing": "Occupied"}  # fmt: skip
        await self.call(
            self._call.StatusNotification(
                timestamp=self.now_text(),
                connector_status=words.get(status, status),
                evse_id=connector,
                connector_id=1,
            )
        )

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        current = power / (VOLTAGE_V * self.phases)
        # No unit: Wh is the OCPP default (the bug twin sends kWh all the same).
        in_kwh = self._register_in_kwh(connector, context)
        register = self.energy_wh[connector] / 1000 if in_kwh else self.energy_wh[connector]
        values: list[dict[str, Any]] = [
            {"value": round(register, 3 if in_kwh else 1), "measurand": ENERGY},
            {"value": round(power, 1), "measurand": "Power.Active.Import"},
            *(
                {"value": round(current, 1), "measurand": "Current.Import", "phase": f"L{n}"}
                for n in range(1, self.phases + 1)
            ),
            {"value": VOLTAGE_V, "measurand": "Voltage", "phase": "L1-N"},
            {"value": round(self.offered_a(), 1), "measurand": "Current.Offered"},
        ]
        if connector in self.transactions:
            values.append(
                {"value": round(self.soc[connector]), "measurand": "SoC", "location": "EV"}
            )
        if context:
            for value in values:
                value["context"] = context
        return {"timestamp": self.now_text(), "sampled_value": values}

    upload_failed_status = "UploadFailure"

    async def send_firmware_status(self, status: str, request_id: int | None) -> None:
        """Report firmware progress."""
        await self.call(self._call.FirmwareStatusNotification(status=status, request_id=request_id))

    async def send_upload_status(self, status: str, request_id: int | None) -> None:
        """Report log-upload progress."""
        await self.call(self._call.LogStatusNotification(status=status, request_id=request_id))

    async def _transaction_event(
        self, event_type: str, connector: int, trigger: str, **extra: Any
    ) -> Any:
        return await self.call(
            self._call.TransactionEvent(
                event_type=event_type,
                timestamp=self.now_text(),
                trigger_reason=trigger,
                seq_no=self._next_seq_no(),
                evse={"id": connector, "connector_id": 1},
                **extra,
            )
        )

    async def authorize(self, id_tag: str) -> str:
        """Present a tag (Authorize)."""
        response = await self.call(
            self._call.Authorize(id_token={"id_token": id_tag, "type": "ISO14443"})
        )
        return str(response.id_token_info["status"])

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session (TransactionEvent Started)."""
        transaction_id = uuid.uuid4().hex[:16]
        self.transactions[connector] = transaction_id
        await self.send_status(connector, "Charging")
        measurands = self._configured_measurands(self.sampling_keys.begin, None)
        reading = self._reading(connector, 0, "Transaction.Begin", measurands)
        await self._transaction_event(
            "Started",
            connector,
            "Authorized",
            transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
            id_token={"id_token": id_tag, "type": "ISO14443"},
            meter_value=[reading] if reading else None,
            reservation_id=self.reservations.use(connector, id_tag),
        )
        await self._begin_sampling(connector, transaction_id)
        return transaction_id

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values (in a TransactionEvent during a session)."""
        power = self.advance(connector, seconds)
        sample = self._reading(connector, power)
        if sample is None:
            return  # a meter that measures nothing has nothing to say
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

    async def _send_periodic(self, connector: int, transaction_id: str) -> None:
        """A TransactionEvent Updated with the measurands of TxUpdatedMeasurands."""
        power = self.catch_up(connector)
        measurands = self._configured_measurands(self.sampling_keys.periodic, None)
        reading = self._reading(connector, power, "Sample.Periodic", measurands)
        if reading is not None:
            await self._transaction_event(
                "Updated",
                connector,
                "MeterValuePeriodic",
                transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                meter_value=[reading],
            )

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop a session (TransactionEvent Ended)."""
        if self.autonomous_sampling and connector in self.transactions:
            self.catch_up(connector)  # before the end: power flows only during the session
        transaction_id = self.transactions.pop(connector, None)
        if transaction_id is None:
            return
        await self._end_sampling(connector)
        measurands = self._configured_measurands(self.sampling_keys.end, None)
        reading = self._reading(connector, 0, "Transaction.End", measurands)
        await self._transaction_event(
            "Ended",
            connector,
            _END_TRIGGERS.get(reason, "StopAuthorized"),
            transaction_info={
                "transaction_id": transaction_id,
                "stopped_reason": reason,
                "charging_state": "EVConnected",
            },
            meter_value=[reading] if reading else None,
        )
        if connector in self.resets_when_idle:
            await self.reset_evse(connector)

    def reset_answer(self, reset_type: str, evse_id: int | None) -> str:
        """How a Reset is answered: one EVSE waits for its session when asked OnIdle."""
        if evse_id is None:
            return "Accepted"
        if evse_id not in self.energy_wh:
            return "Rejected"
        if reset_type == "OnIdle" and evse_id in self.transactions:
            return "Scheduled"
        return "Accepted"

    async def reset_evse(self, evse_id: int) -> None:
        """Reset one EVSE: its session ends, it is unavailable a moment, then back."""
        self.resets_when_idle.discard(evse_id)
        await self.stop_session(evse_id, "ImmediateReset")
        await self.send_status(evse_id, "Unavailable")
        await self.send_status(evse_id, self.idle_status(evse_id))

    async def _reservation_expired(self, reservation_id: int, held: HeldReservation) -> None:
        """Say the reservation expired, and free its EVSE."""
        await self.call(
            self._call.ReservationStatusUpdate(
                reservation_id=reservation_id, reservation_update_status="Expired"
            )
        )
        if held.connector and held.connector not in self.transactions:
            await self.send_status(held.connector, self.idle_status(held.connector))

    def _report_data(self) -> list[dict[str, Any]]:
        reported = []
        measurand_keys = self._measurand_keys()
        for name, value in self.configuration.items():
            component, _, variable = name.partition("/")
            item: dict[str, Any] = {
                "component": {"name": component},
                "variable": {"name": variable},
                "variable_attribute": [{"type": "Actual", "value": value}],
            }
            # The metering variables are described as real chargers do: writable, and
            # which measurands (or values) they take.
            if name in measurand_keys:
                item["variable_attribute"][0]["mutability"] = "ReadWrite"
                item["variable_characteristics"] = {
                    "data_type": "MemberList",
                    "values_list": ",".join(self.supported_measurands),
                    "supports_monitoring": False,
                }
            elif name == self.sampling_keys.interval:
                item["variable_attribute"][0]["mutability"] = "ReadWrite"
                item["variable_characteristics"] = {
                    "data_type": "integer",
                    "unit": "s",
                    "min_limit": 0,
                    "supports_monitoring": False,
                }
            reported.append(item)
        return reported


def _session_handlers_2x(result: Any) -> dict[str, Any]:
    """The 2.x session and control handlers, bound to one version's call_result module."""

    @on("RequestStartTransaction")
    async def on_request_start(
        self: Any, id_token: dict[str, Any], remote_start_id: int, **payload: Any
    ) -> Any:
        await self._slow_answer()
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
            "SetChargingProfile",
            {"evse_id": evse_id, "charging_profile": charging_profile},
            variant=charging_profile.get("charging_profile_purpose"),
        )
        status = self._answered_profile(status, evse_id, charging_profile)
        return result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self: Any, **payload: Any) -> Any:
        self.profiles.clear()
        self._received_at.clear()
        self.limit_a = None
        return result.ClearChargingProfile(status=self._answer("ClearChargingProfile", payload))

    @on("ChangeAvailability")
    def on_change_availability(self: Any, operational_status: str, **payload: Any) -> Any:
        return result.ChangeAvailability(
            status=self._answer(
                "ChangeAvailability", {"operational_status": operational_status, **payload}
            )
        )

    @after("ChangeAvailability")
    async def after_change_availability(self: Any, operational_status: str, **payload: Any) -> None:
        if self.answers.get("ChangeAvailability", "Accepted") == "Accepted":
            status = "Available" if operational_status == "Operative" else "Unavailable"
            evse = (payload.get("evse") or {}).get("id")
            for connector in [evse] if evse else list(self.energy_wh):
                await self._detached(self.send_status(connector, status))

    @on("Reset")
    def on_reset(self: Any, type: str, evse_id: int | None = None, **_: Any) -> Any:
        answered = {"type": type} if evse_id is None else {"type": type, "evse_id": evse_id}
        status = self._answer("Reset", answered, self.reset_answer(type, evse_id))
        if status == "Scheduled" and evse_id is not None:
            self.resets_when_idle.add(evse_id)
        return result.Reset(status=status)

    @after("Reset")
    async def after_reset(self: Any, type: str, evse_id: int | None = None, **_: Any) -> None:
        status = self.answers.get("Reset") or self.reset_answer(type, evse_id)
        if status != "Accepted":
            return
        if evse_id is None:
            await self._detached(self.reboot("ImmediateReset"))
        else:
            await self._detached(self.reset_evse(evse_id))

    @on("UnlockConnector")
    def on_unlock(self: Any, evse_id: int, connector_id: int, **_: Any) -> Any:
        # Each simulated EVSE has one connector, number 1.
        known = evse_id in self.energy_wh and connector_id == 1
        return result.UnlockConnector(
            status=self._answer(
                "UnlockConnector", {"evse_id": evse_id}, "Unlocked" if known else "UnknownConnector"
            )
        )

    return {
        name: value
        for name, value in locals().items()
        if callable(value) and name.startswith(("on_", "after_"))
    }


def _maintenance_handlers_2x(result: Any) -> dict[str, Any]:
    """The 2.x reporting, configuration, firmware and log handlers for one version."""

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
                        generated_at=self.now_text(),
                        seq_no=0,
                        report_data=self._report_data() or None,
                    )
                )
            )

    @on("UpdateFirmware")
    def on_update_firmware(self: Any, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        status = self._answer("UpdateFirmware", {"request_id": request_id, "firmware": firmware})
        signing = firmware.get("signing_certificate")
        if status == "Accepted" and signing is not None and not readable_certificate(signing):
            status = "InvalidCertificate"
        return result.UpdateFirmware(status=status)

    @after("UpdateFirmware")
    async def after_update_firmware(
        self: Any, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> None:
        if self.answers.get("UpdateFirmware", "Accepted") != "Accepted":
            return
        signing, signature = firmware.get("signing_certificate"), firmware.get("signature")
        if signing is not None and not readable_certificate(signing):
            return
        check = firmware_signature_check(signing, signature) if signing and signature else None
        await self._detached(self.update_firmware(firmware["location"], request_id, check))

    @on("GetLog")
    def on_get_log(self: Any, log: dict[str, Any], log_type: str, request_id: int, **_: Any) -> Any:
        status = self._answer("GetLog", {"log": log, "request_id": request_id})
        return result.GetLog(status=status, filename=self.diagnostics_file_name())

    @after("GetLog")
    async def after_get_log(
        self: Any, log: dict[str, Any], log_type: str, request_id: int, **_: Any
    ) -> None:
        if self.answers.get("GetLog", "Accepted") == "Accepted":
            await self._detached(self.upload_diagnostics(log["remote_location"], request_id))

    @on("DataTransfer")
    def on_data_transfer(self: Any, vendor_id: str, **payload: Any) -> Any:
        status = self._answer("DataTransfer", {"vendor_id": vendor_id, **payload})
        return result.DataTransfer(status=status, data=payload.get("data"))

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self: Any, duration: int, evse_id: int, **_: Any) -> Any:
        status = self._answer("GetCompositeSchedule", {"duration": duration, "evse_id": evse_id})
        schedule = self.composite_schedule(duration)
        return result.GetCompositeSchedule(
            status=status,
            schedule={"evse_id": evse_id, "schedule_start": self.now_text(), **schedule},
        )

    @on("GetVariables")
    def on_get_variables(self: Any, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._answer("GetVariables", {"get_variable_data": get_variable_data})
        results = []
        for item in get_variable_data:
            name = f"{item['component']['name']}/{item['variable']['name']}"
            known = name in self.configuration
            results.append(
                {
                    "attribute_status": "Accepted" if known else "UnknownVariable",
                    "attribute_value": self.configuration.get(name),
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self: Any, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            name = f"{item['component']['name']}/{item['variable']['name']}"
            value = item["attribute_value"]
            # Refused (and unchanged): a measurand the meter lacks, or a bad interval.
            status = self._configure("SetVariables", {"name": name, "value": value}, name, value)
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return result.SetVariables(set_variable_result=results)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self: Any, **_: Any) -> Any:
        self._answer("GetLocalListVersion", {})
        return result.GetLocalListVersion(version_number=self.local_list_version)

    @on("SendLocalList")
    def on_send_local_list(
        self: Any,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = {
            item["id_token"]["id_token"]: (item.get("id_token_info") or {}).get("status")
            for item in local_authorization_list or []
        }
        status = self._take_local_list(version_number, update_type, entries)
        return result.SendLocalList(status=status)

    @on("ClearCache")
    def on_clear_cache(self: Any, **_: Any) -> Any:
        self.cache_cleared += 1
        return result.ClearCache(status=self._answer("ClearCache", {}))

    @on("TriggerMessage")
    def on_trigger_message(self: Any, requested_message: str, **payload: Any) -> Any:
        return result.TriggerMessage(
            status=self._answer(
                "TriggerMessage", {"requested_message": requested_message, **payload}
            )
        )

    @after("TriggerMessage")
    async def after_trigger_message(self: Any, requested_message: str, **payload: Any) -> None:
        await self.send_requested(requested_message, (payload.get("evse") or {}).get("id"))

    @on("CertificateSigned")
    def on_certificate_signed(self: Any, certificate_chain: str, **payload: Any) -> Any:
        self._answer("CertificateSigned", {"certificate_chain": certificate_chain, **payload})
        return result.CertificateSigned(status=self.take_certificate_chain(certificate_chain))

    return {
        name: value
        for name, value in locals().items()
        if callable(value) and name.startswith(("on_", "after_"))
    }


def _reservation_handlers_2x(result: Any) -> dict[str, Any]:
    """The 2.x reservation handlers for one version."""

    @on("ReserveNow")
    def on_reserve_now(
        self: Any, id: int, expiry_date_time: str, id_token: dict[str, Any], **payload: Any
    ) -> Any:
        answered = {"id": id, "expiry_date_time": expiry_date_time, "id_token": id_token, **payload}
        evse_id = payload.get("evse_id") or 0  # none: any EVSE
        status = self.take_reservation(
            answered, id, evse_id, id_token["id_token"], expiry_date_time
        )
        return result.ReserveNow(status=status)

    @after("ReserveNow")
    async def after_reserve_now(self: Any, id: int, **_: Any) -> None:
        await self.reservation_taken(id)

    @on("CancelReservation")
    def on_cancel_reservation(self: Any, reservation_id: int, **_: Any) -> Any:
        return result.CancelReservation(status=self.cancel_reservation(reservation_id))

    @after("CancelReservation")
    async def after_cancel_reservation(self: Any, reservation_id: int, **_: Any) -> None:
        await self.reservation_cancelled(reservation_id)

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
        **_session_handlers_2x(result201),
        **_maintenance_handlers_2x(result201),
        **_reservation_handlers_2x(result201),
        **security_handlers_2x(result201),
    },
)
Charger21 = type(
    "Charger21",
    (_Charger2x, ChargePoint21),
    {
        "__doc__": "An OCPP 2.1 charger.",
        "_call": call21,
        "_result": result21,
        **_session_handlers_2x(result21),
        **_maintenance_handlers_2x(result21),
        **_reservation_handlers_2x(result21),
        **security_handlers_2x(result21),
    },
)
