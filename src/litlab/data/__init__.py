"""Lightning data modules; each holds its splits in memory and serves index batches."""
