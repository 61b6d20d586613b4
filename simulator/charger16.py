"""A simulated OCPP 1.6J charger."""

from __future__ import annotations

from typing import Any, ClassVar

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16

from .base import ENERGY, VOLTAGE_V, SamplingKeys, measurand_words
from .reservations import HeldReservation
from .security import Security16


class Charger16(Security16, ChargePoint16):
    """An OCPP 1.6J charger."""

    default_configuration: ClassVar[dict[str, str]] = {
        "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,"
        "Reservation,SmartCharging,RemoteTrigger",
        "LocalAuthListEnabled": "true",
        "LocalAuthListMaxLength": "100",
    }
    # 1.6 reads a session's start and end only into StopTransaction's transactionData.
    sampling_keys: ClassVar[SamplingKeys] = SamplingKeys(
        interval="MeterValueSampleInterval",
        periodic="MeterValuesSampledData",
        begin="StopTxnSampledData",
        end="StopTxnSampledData",
    )
    measurands_max_length_key: ClassVar[str | None] = "MeterValuesSampledDataMaxLength"
    read_only_keys: ClassVar[frozenset[str]] = frozenset({"MeterValuesSampledDataMaxLength"})
    rate_units_setting: ClassVar[tuple[str, str]] = (
        "ChargingScheduleAllowedChargingRateUnit",
        "Current,Power",
    )
    connectors_setting: ClassVar[str | None] = "NumberOfConnectors"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with no session's first reading kept."""
        super().__init__(*args, **kwargs)
        # The reading at each running session's start, for its StopTransaction.
        self._begin_readings: dict[int, dict[str, Any]] = {}

    def _boot_payload(self) -> Any:
        return call16.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
        )

    def _heartbeat_payload(self) -> Any:
        return call16.Heartbeat()

    def _sign_certificate_payload(self, csr: str) -> Any:
        return call16.SignCertificate(csr=csr)

    async def send_status(self, connector: int, status: str) -> None:
        """Report a connector's status."""
        await self.call(
            call16.StatusNotification(
                connector_id=connector,
                error_code="NoError",
                status=status,
                timestamp=self.now_text(),
            )
        )

    async def authorize(self, id_tag: str) -> str:
        """Present a tag (Authorize)."""
        response = await self.call(call16.Authorize(id_tag=id_tag))
        return str(response.id_tag_info["status"])

    async def start_session(self, connector: int = 1, id_tag: str = "SIMTAG") -> str:
        """Start a session (StartTransaction)."""
        started_at = self.now_text()
        response = await self.call(
            call16.StartTransaction(
                connector_id=connector,
                id_tag=id_tag,
                meter_start=int(self.energy_wh[connector]),
                timestamp=started_at,
                reservation_id=self.reservations.use(connector, id_tag),
            )
        )
        transaction_id = str(response.transaction_id)
        self.transactions[connector] = transaction_id
        # Read now (with the car's charge) but sent at the end, as StopTxnSampledData says.
        begin = self._meter_sample(connector, 0, "Transaction.Begin")
        self._begin_readings[connector] = {**begin, "timestamp": started_at}
        await self.send_status(connector, "Charging")
        await self._begin_sampling(connector, transaction_id)
        return transaction_id

    def _meter_sample(
        self, connector: int, power: float, context: str | None = None
    ) -> dict[str, Any]:
        current = power / (VOLTAGE_V * self.phases)
        register: dict[str, Any] = {
            "value": f"{self.energy_wh[connector]:.0f}",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
        if self._register_in_kwh(connector, context):
            register = {"value": f"{self.energy_wh[connector] / 1000:.3f}", "measurand": ENERGY}
        values = [
            register,
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
            {"value": f"{self.offered_a():.1f}", "measurand": "Current.Offered", "unit": "A"},
        ]
        if connector in self.transactions:
            values.append(
                {
                    "value": f"{self.soc[connector]:.0f}",
                    "measurand": "SoC",
                    "location": "EV",
                    "unit": "Percent",
                }
            )
        if context:
            for value in values:
                value["context"] = context
        return {"timestamp": self.now_text(), "sampled_value": values}

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Report meter values (MeterValues)."""
        power = self.advance(connector, seconds)
        reading = self._reading(connector, power)
        if reading is None:
            return  # a meter that measures nothing has nothing to say
        payload: dict[str, Any] = {"connector_id": connector, "meter_value": [reading]}
        if connector in self.transactions:
            payload["transaction_id"] = int(self.transactions[connector])
        await self.call(call16.MeterValues(**payload))

    async def _send_periodic(self, connector: int, transaction_id: str) -> None:
        """A MeterValues of the session with the measurands of MeterValuesSampledData."""
        power = self.catch_up(connector)
        measurands = self._configured_measurands(self.sampling_keys.periodic, None)
        reading = self._reading(connector, power, "Sample.Periodic", measurands)
        if reading is not None:
            await self.call(
                call16.MeterValues(
                    connector_id=connector,
                    transaction_id=int(transaction_id),
                    meter_value=[reading],
                )
            )

    async def stop_session(self, connector: int = 1, reason: str = "Local") -> None:
        """Stop a session (StopTransaction).

        A charger sampling on its own puts the start and end readings of the
        measurands in StopTxnSampledData into transactionData (none when empty).
        """
        if self.autonomous_sampling and connector in self.transactions:
            self.catch_up(connector)  # before the end: power flows only during the session
        transaction_id = self.transactions.pop(connector, None)
        if transaction_id is None:
            return
        await self._end_sampling(connector)
        stopped_at = self.now_text()
        # transactionData only from a charger sampling on its own, as StopTxnSampledData says.
        measurands = self._configured_measurands(self.sampling_keys.end, ())
        begin = self._begin_readings.pop(connector, None)
        end = self._reading(connector, 0, "Transaction.End", measurands)
        readings = [
            reading
            for reading in (
                self._only(begin, measurands) if begin else None,
                {**end, "timestamp": stopped_at} if end else None,
            )
            if reading is not None
        ]
        await self.call(
            call16.StopTransaction(
                transaction_id=int(transaction_id),
                meter_stop=int(self.energy_wh[connector]),
                timestamp=stopped_at,
                reason=reason,
                transaction_data=readings or None,
            )
        )
        await self.send_status(connector, "Finishing")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **payload: Any) -> Any:
        """Accept a remote start (unless told not to)."""
        await self._slow_answer()
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
            variant=cs_charging_profiles.get("charging_profile_purpose"),
        )
        status = self._answered_profile(status, connector_id, cs_charging_profiles)
        return result16.SetChargingProfile(status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **payload: Any) -> Any:
        """Drop every profile."""
        self.profiles.clear()
        self._received_at.clear()
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
        """Accept a reset."""
        return result16.Reset(self._answer("Reset", {"type": type}))

    @after("Reset")
    async def after_reset(self, type: str, **_: Any) -> None:
        """Restart: sessions end, the charger boots again."""
        if self.answers.get("Reset", "Accepted") == "Accepted":
            await self._detached(self.reboot("HardReset" if type == "Hard" else "SoftReset"))

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int, **_: Any) -> Any:
        """Release the cable; NotSupported for a connector it does not have (1.6 errata)."""
        known = connector_id in self.energy_wh
        return result16.UnlockConnector(
            self._answer(
                "UnlockConnector",
                {"connector_id": connector_id},
                "Unlocked" if known else "NotSupported",
            )
        )

    @on("ReserveNow")
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **payload: Any
    ) -> Any:
        """Hold a connector (0: any) for a tag, if it is free."""
        answered = {
            "connector_id": connector_id,
            "expiry_date": expiry_date,
            "id_tag": id_tag,
            "reservation_id": reservation_id,
            **payload,
        }
        status = self.take_reservation(answered, reservation_id, connector_id, id_tag, expiry_date)
        return result16.ReserveNow(status)

    @after("ReserveNow")
    async def after_reserve_now(self, reservation_id: int, **_: Any) -> None:
        """Report the connector Reserved."""
        await self.reservation_taken(reservation_id)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        """Cancel a reservation it holds."""
        return result16.CancelReservation(self.cancel_reservation(reservation_id))

    @after("CancelReservation")
    async def after_cancel_reservation(self, reservation_id: int, **_: Any) -> None:
        """Report the connector free again."""
        await self.reservation_cancelled(reservation_id)

    async def _reservation_expired(self, reservation_id: int, held: HeldReservation) -> None:
        """1.6 has no word for an expiry: only the connector's status tells."""
        if held.connector and held.connector not in self.transactions:
            await self.send_status(held.connector, self.idle_status(held.connector))

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **payload: Any) -> Any:
        """Answer a vendor message by echoing its data."""
        status = self._answer("DataTransfer", {"vendor_id": vendor_id, **payload})
        return result16.DataTransfer(status=status, data=payload.get("data"))

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int, **payload: Any) -> Any:
        """Report the schedule the current limit makes."""
        status = self._answer(
            "GetCompositeSchedule", {"connector_id": connector_id, "duration": duration}
        )
        return result16.GetCompositeSchedule(
            status=status,
            connector_id=connector_id,
            schedule_start=self.now_text(),
            charging_schedule=self.composite_schedule(duration),
        )

    async def send_firmware_status(self, status: str, request_id: int | None) -> None:
        """Report firmware progress (of a signed update: the security extension's message)."""
        if request_id is not None:
            await self.call(
                call16.SignedFirmwareStatusNotification(status=status, request_id=request_id)
            )
            return
        await self.call(call16.FirmwareStatusNotification(status=status))

    async def send_upload_status(self, status: str, request_id: int | None) -> None:
        """Report diagnostics-upload progress."""
        await self.call(call16.DiagnosticsStatusNotification(status=status))

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **payload: Any) -> Any:
        """Accept a firmware update (1.6 answers nothing else)."""
        self._answer("UpdateFirmware", {"location": location, **payload})
        return result16.UpdateFirmware()

    @after("UpdateFirmware")
    async def after_update_firmware(self, location: str, **_: Any) -> None:
        """Download and install it."""
        await self._detached(self.update_firmware(location))

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **payload: Any) -> Any:
        """Accept a diagnostics upload, naming the file."""
        self._answer("GetDiagnostics", {"location": location, **payload})
        return result16.GetDiagnostics(file_name=self.diagnostics_file_name())

    @after("GetDiagnostics")
    async def after_get_diagnostics(self, location: str, **_: Any) -> None:
        """Upload the file."""
        await self._detached(self.upload_diagnostics(location))

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        """Report the configuration keys."""
        self._answer("GetConfiguration", {"key": key})
        keys = key or list(self.configuration)
        return result16.GetConfiguration(
            configuration_key=[
                {
                    "key": name,
                    "readonly": name in self.read_only_keys,
                    "value": self.configuration[name],
                }
                for name in keys
                if name in self.configuration
            ],
            unknown_key=[name for name in keys if name not in self.configuration] or None,
        )

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        """Say which local list version the charger holds; -1 when it has no local list."""
        self._answer("GetLocalListVersion", {})
        features = self.configuration.get("SupportedFeatureProfiles", "")
        has_list = "LocalAuthListManagement" in measurand_words(features)
        return result16.GetLocalListVersion(
            list_version=self.local_list_version if has_list else -1
        )

    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        """Replace or change the local list."""
        entries = {
            item["id_tag"]: (item.get("id_tag_info") or {}).get("status")
            for item in local_authorization_list or []
        }
        return result16.SendLocalList(self._take_local_list(list_version, update_type, entries))

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        """Forget cached authorizations."""
        self.cache_cleared += 1
        return result16.ClearCache(self._answer("ClearCache", {}))

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        """Change a configuration key (refused: read-only, or a measurand it lacks)."""
        status = self._configure("ChangeConfiguration", {"key": key, "value": value}, key, value)
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
        await self.send_requested(requested_message, payload.get("connector_id"))

    # -- security extension -------------------------------------------------------------

    @on("ExtendedTriggerMessage")
    def on_extended_trigger_message(self, requested_message: str, **payload: Any) -> Any:
        """Accept a trigger of the security extension (a CSR among them)."""
        return result16.ExtendedTriggerMessage(
            self._answer(
                "ExtendedTriggerMessage", {"requested_message": requested_message, **payload}
            )
        )

    @after("ExtendedTriggerMessage")
    async def after_extended_trigger_message(self, requested_message: str, **payload: Any) -> None:
        """Send what was asked for."""
        if self.answers.get("ExtendedTriggerMessage", "Accepted") == "Accepted":
            await self.send_requested(requested_message, payload.get("connector_id"))

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        """Keep the client certificate if it is for our key."""
        self._answer("CertificateSigned", {"certificate_chain": certificate_chain})
        return result16.CertificateSigned(self.take_certificate_chain(certificate_chain))
