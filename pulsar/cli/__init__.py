"""The `pulsar` command line: one module per verb, `main(argv) -> int` with honest exit codes."""
