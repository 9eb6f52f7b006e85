"""The `rlexec` command line: thin subcommands that parse arguments and call into the packages."""
