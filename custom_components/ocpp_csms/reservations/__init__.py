"""Reservations: the actions and the sensors that show them."""
