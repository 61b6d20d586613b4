"""Tests of the OCPP Central System integration."""
