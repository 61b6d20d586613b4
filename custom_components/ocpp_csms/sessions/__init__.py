"""Charging sessions seen from Home Assistant: the journal, exports, register repairs."""
