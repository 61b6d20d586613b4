"""The OCPP central system engine. No Home Assistant imports below this package."""
