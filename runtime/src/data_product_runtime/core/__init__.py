"""Pure model code: no files, no network, no clocks. Everything here is deterministic."""
