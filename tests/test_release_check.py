"""Reading Home Assistant's log in the release check: what counts as the integration's."""

from __future__ import annotations

import pytest

from devtools.release_check import UnreadableLogError, problems_in

EXPECTED = (
    "2026-12-03 21:35:49.661+00:00 WARNING (SyncWorker_0) [homeassistant.loader] We found a "
    "custom integration ocpp_csms which has not been tested by Home Assistant. This component "
    "might cause stability problems, be sure to disable it if you experience issues"
)
OTHERS = """\
2026-12-03 21:35:49.748+00:00 WARNING (MainThread) [aiohttp_fast_zlib] zlib_ng and isal are \
not available, falling back to zlib, performance will be degraded.
2026-12-03 21:35:49.822+00:00 ERROR (MainThread) [haffmpeg.core] FFmpeg fails [Errno 2] No \
such file or directory: 'ffmpeg'
Traceback (most recent call last):
  File "/usr/lib/python3/haffmpeg/core.py", line 1, in open
FileNotFoundError: [Errno 2] No such file or directory: 'ffmpeg'
2026-12-03 21:35:51.836+00:00 INFO (MainThread) [custom_components.ocpp_csms.csms.central_system] \
Central system listening on 127.0.0.1:44171"""


def test_a_clean_log_has_no_problems() -> None:
    assert problems_in(f"{EXPECTED}\n{OTHERS}") == []


@pytest.mark.parametrize(
    "line",
    [
        # A deprecation report naming the integration (written by Home Assistant's frame helper).
        "2026-12-03 21:35:55.977+00:00 WARNING (MainThread) [homeassistant.helpers.frame] "
        "Detected that custom integration 'ocpp_csms' has an update listener and should use it "
        "for scheduling a reload. This will stop working in Home Assistant 2026.12.0",
        # The integration's own warning, in a release that writes no UTC offset.
        "2026-12-03 21:35:55.977 WARNING (MainThread) [custom_components.ocpp_csms.hub] "
        "Charger CP-1 sent something odd",
        # An error elsewhere whose traceback runs through the integration.
        "2026-12-03 21:35:55.977+00:00 ERROR (MainThread) [homeassistant.core] Error doing job\n"
        "Traceback (most recent call last):\n"
        '  File "/config/custom_components/ocpp_csms/sensor.py", line 3, in native_value\n'
        "ValueError: boom",
        "2026-12-03 21:35:55.977+00:00 ERROR (MainThread) [websockets.server] opening handshake "
        "failed",
    ],
)
def test_what_the_integration_causes_is_a_problem(line: str) -> None:
    [problem] = problems_in(f"{EXPECTED}\n{OTHERS}\n{line}")
    assert problem.level in {"WARNING", "ERROR"}


def test_a_log_it_cannot_read_fails_the_check() -> None:
    with pytest.raises(UnreadableLogError):
        problems_in("Dec 03 21:35:49 WARNING something ocpp_csms\n")
