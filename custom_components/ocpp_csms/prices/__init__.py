"""Electricity prices for cheapest charging: where they come from and their shapes."""
