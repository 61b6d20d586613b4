"""Weekly schedules: kept in the options, given to the engine, edited in the options."""
