"""Usage metering: what an account consumed of a limited feature in one period."""
