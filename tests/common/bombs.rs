//! Hand-made PNG and GIF byte streams for the limit, heap and memory-budget tests, shared
//! by both test binaries (`tests/it` and `tests/heap.rs`) through `#[path]`.

#![allow(dead_code)] // each binary uses a different subset

/// CRC-32 (IEEE), for hand-made PNG chunks.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// A PNG chunk: length, type, data, CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&[kind.as_slice(), data].concat());
    out.extend(crc.to_be_bytes());
    out
}

/// A PNG signature and IHDR declaring `width` x `height` 8-bit greyscale, then `idat`.
pub fn png_with(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    [
        b"\x89PNG\r\n\x1A\n".to_vec(),
        png_chunk(b"IHDR", &ihdr),
        png_chunk(b"IDAT", idat),
        png_chunk(b"IEND", &[]),
    ]
    .concat()
}

/// A zlib stream of `len` zero bytes: about a thousandth of `len`.
pub fn zlib_zeros(len: usize) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; len], 9)
}

/// A GIF with a `width` x `height` screen and `frames` 1x1 frames.
pub fn gif_with_frames(width: u16, height: u16, frames: u32) -> Vec<u8> {
    let mut b = b"GIF89a".to_vec();
    b.extend(width.to_le_bytes());
    b.extend(height.to_le_bytes());
    b.extend([0x80, 0, 0]); // global colour table of 2 entries
    b.extend([0, 0, 0, 255, 255, 255]);
    for _ in 0..frames {
        b.extend([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]); // descriptor: 1x1 at (0, 0)
        b.extend([2, 2, 0x44, 0x01, 0]); // LZW min code 2, one sub-block, terminator
    }
    b.push(0x3B);
    b
}

/// A `width` x `height` PNG of gradients (16-bit RGBA with bands of partial alpha, or
/// 8-bit RGB), written row by row with fast compression: a few MB for 50 MP.
pub fn gradient_png(width: u32, height: u32, sixteen: bool) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    if sixteen {
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Sixteen);
    } else {
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
    }
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let mut row = Vec::new();
    for y in 0..height {
        row.clear();
        let g = (y * 255 / height) as u8;
        let alpha = if (y / 512) % 2 == 0 { 0xC0 } else { 0xFF };
        for x in 0..width {
            let r = (x * 255 / width) as u8;
            if sixteen {
                row.extend([r, r, g, 0, 0x80, 0, alpha, 0xFF]);
            } else {
                row.extend([r, g, 0x80]);
            }
        }
        stream.write_all(&row).unwrap();
    }
    stream.finish().unwrap();
    writer.finish().unwrap();
    out
}

/// A `width` x `height` GIF of one frame covering its screen: blocks of 16 grey levels,
/// index 0 transparent when `transparent`, LZW-coded by the `gif` crate (about a byte per
/// 30 pixels).
pub fn blocks_gif(width: u16, height: u16, transparent: bool) -> Vec<u8> {
    blocks_gif_on_screen((width, height), width, height, transparent)
}

/// As [`blocks_gif`], on a logical screen of `screen` pixels, whatever the frame's size
/// (a frame larger than its screen is shown clipped).
pub fn blocks_gif_on_screen(
    screen: (u16, u16),
    width: u16,
    height: u16,
    transparent: bool,
) -> Vec<u8> {
    let palette: Vec<u8> = (0..16u8).flat_map(|i| [i * 16, i * 16, i * 16]).collect();
    let indices: Vec<u8> = (0..usize::from(height))
        .flat_map(|y| (0..usize::from(width)).map(move |x| ((x / 64 + y / 64) % 16) as u8))
        .collect();
    let mut frame = gif::Frame::from_indexed_pixels(width, height, indices, None);
    frame.transparent = transparent.then_some(0);
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, screen.0, screen.1, &palette).unwrap();
        encoder.write_frame(&frame).unwrap();
    }
    out
}
