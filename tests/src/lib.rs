//! Shared pieces of vigil's cross-crate tests.
