"""The `parity` command: argument parsing and checks (`args`), the subcommands (`commands`) and the entry point
(`app`). The top layer: nothing imports it."""
