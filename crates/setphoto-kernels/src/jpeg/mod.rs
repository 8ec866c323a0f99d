//! JPEG: the reduced decoder that large uploads take, and the encoder of every rendition.

pub mod decoder;
pub mod encoder;
