"""tsft: the front door. `tsft.cli` is the `tsft` command (one subcommand group per room);
`tsft.reproduce` runs every room in order (`tsft reproduce`), with sizes from `tsft.presets` and work
units in `tsft.jobs`."""

__version__ = "0.1.0"
