//! The vigil core on smoltcp. The protocol loop arrives with its own issue.
#![no_std]
