"""Tags (RFID cards): the stored registry, options menu, actions and repairs."""
