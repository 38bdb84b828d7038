//! What vigil's fuzz targets share: the `wire_parse` input layout, the codec's oracle
//! (an independent RFC 1071 checksum and reference reader/writer) and the configuration
//! target's sandbox.

pub mod oracle;
pub mod sandbox;
pub mod wire_input;
