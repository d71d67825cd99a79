"""The staff roster: import, bindings, badges, the organisation tree, privacy."""
