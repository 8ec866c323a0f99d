//! GIF's LZW: what our decoder accepts, the `gif` crate decodes alike from a frame built
//! around the same code stream.

use super::Input;
use crate::lzw::{Decoder, LITERALS, buffer_len};

/// Input: the minimum code size (`1 + byte % 11`), the pixel count (`1 + u16 % 4096`,
/// little-endian), then the code stream. When our decoder fills the pixels, the `gif`
/// crate must decode a one-row frame of those codes to the same pixels.
///
/// # Panics
/// When the two disagree.
pub fn lzw(data: &[u8]) {
    let mut input = Input::new(data);
    let min_code_bits = input.byte() % 11 + 1;
    let pixels = usize::from(input.u16() % 4096) + 1;
    let stream = input.rest();
    // Stale bytes everywhere, as a recycled buffer may hold.
    let mut buffer = vec![0xA5; buffer_len(pixels)];
    if Decoder::new(min_code_bits)
        .decode_into(stream, &mut buffer)
        .is_err()
    {
        return;
    }
    let ours = &buffer[LITERALS..][..pixels];
    match gif_frame(min_code_bits, stream, pixels) {
        Ok(theirs) => assert!(
            ours == theirs.as_slice(),
            "min code size {min_code_bits}, {pixels} pixels: the gif crate decodes other pixels"
        ),
        Err(error) => panic!(
            "min code size {min_code_bits}, {pixels} pixels: we accept, the gif crate refuses: {error}"
        ),
    }
}

/// The palette indices the `gif` crate decodes from a GIF whose one frame is a row of
/// `pixels` (at most 65535) coded by `stream` with `min_code_bits`: its own decode of a
/// frame, the oracle for ours.
///
/// # Errors
/// The `gif` crate's refusal.
pub fn gif_frame(
    min_code_bits: u8,
    stream: &[u8],
    pixels: usize,
) -> Result<Vec<u8>, gif::DecodingError> {
    let width = u16::try_from(pixels).unwrap_or(u16::MAX).to_le_bytes();
    let mut file = b"GIF89a".to_vec();
    // The logical screen, with a global palette of 256 colours, so every index is in it.
    file.extend_from_slice(&[width[0], width[1], 1, 0, 0xF7, 0, 0]);
    file.extend((0..=255u8).flat_map(|i| [i, i, i]));
    // The frame: at (0, 0), `pixels` x 1, no local palette, not interlaced.
    file.extend_from_slice(&[0x2C, 0, 0, 0, 0, width[0], width[1], 1, 0, 0]);
    file.push(min_code_bits);
    for block in stream.chunks(255) {
        file.push(block.len() as u8);
        file.extend_from_slice(block);
    }
    file.extend_from_slice(&[0, 0x3B]);

    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(file.as_slice())?;
    match decoder.read_next_frame()? {
        Some(frame) => Ok(frame.buffer.to_vec()),
        None => Err(gif::DecodingError::Io(std::io::Error::other("no frame"))),
    }
}
