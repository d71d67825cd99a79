"""Census operations bot: core package (config, data layer, services)."""
