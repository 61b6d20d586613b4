"""Simulated OCPP chargers for trying, developing and testing the central system."""
