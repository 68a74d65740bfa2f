"""Side effects: reading data, storing and loading models."""
