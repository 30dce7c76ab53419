# Thin wrapper: every target is a cargo xtask task (see `cargo xtask --help`).
.PHONY: pull oracle oracle-gpu convert check ci recheck status ticket clean test test-parity coverage bench install-apr
pull oracle oracle-gpu convert check ci recheck status ticket clean test-parity coverage bench install-apr:
	cargo xtask $@
check-%:
	cargo xtask check-$*
test:
	cargo test --workspace
