"""tsft: the front door. `tsft.cli` is the `tsft` command (one subcommand group per room)."""

__version__ = "0.1.0"
