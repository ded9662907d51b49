# rectify: the two commands a fresh machine needs.
#   make demo   a local AWS emulator with a vulnerable account; rectify fixes it
#   make test   every test (installs the pinned emulator into .venv first)
#   make lambda the AWS Lambda package, target/lambda/rectify.zip (provided.al2023)

.PHONY: demo test build lambda lint fmt bench clean

demo:
	./scripts/demo

test:
	./scripts/test

build:
	cargo build --release -p rectify

lambda:
	./scripts/lambda

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features rectify/test-actions -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf .venv
