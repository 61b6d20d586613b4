"""Tools for developers: running a real Home Assistant with the integration."""
