//! Loader tests (fixtures under tests/fixtures/config).
