"""Development stand-ins: never imported by the SDK itself, so production installs do not carry them."""
