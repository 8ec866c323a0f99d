//! The checks behind setphoto's fuzz targets (`fuzz/`): the whole pipeline here, and every
//! kernel against its oracle crate from `setphoto_kernels::harness`. The fuzz targets call
//! them with the fuzzer's bytes; the stable test suite replays the kept corpus and every
//! minimised finding through them. Built with the `fuzzing` feature only; not part of
//! the API.

use crate::{JpegEffort, PngRenditions, Policy, SetPhotoRequest};

pub use setphoto_kernels::harness::{encoder, gif_frame, jpeg_decoder, lzw, resize};

/// Input: a flags byte (bits 0-2: whether `crop_x`, `crop_y`, `crop_w` are given; bit 3:
/// upscale; bit 4: the documented policy's side limit; bit 5: linear light; bit 6: PNG
/// renditions always; bit 7: the smallest JPEG effort), then for each crop field given a
/// length byte (`% 16`) and that many bytes (as UTF-8, lossily), then the upload. Whatever
/// comes in, [`crate::process`] returns an image set or an error, and every rendition of a
/// set is a decodable file of its size. Limits are smaller than the default policy's so
/// that the fuzzer spends its time on parsing rather than on huge pictures.
///
/// # Panics
/// When the pipeline panics, or a rendition is not a picture of its size.
pub fn pipeline(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut fields: [Option<String>; 3] = [None, None, None];
    for (bit, field) in fields.iter_mut().enumerate() {
        if flags & (1 << bit) == 0 {
            continue;
        }
        let Some((&len, after)) = rest.split_first() else {
            break;
        };
        let (text, after) = after.split_at(usize::from(len % 16).min(after.len()));
        *field = Some(String::from_utf8_lossy(text).into_owned());
        rest = after;
    }
    let base = if flags & 16 == 0 {
        Policy::default()
    } else {
        Policy::documented()
    };
    let policy = Policy {
        max_side: base.max_side.min(4096),
        max_pixels: 1 << 23,
        max_bytes: 1 << 20,
        max_frames: 8,
        max_frame_pixels: 1 << 24,
        ..base
            .with_upscale(flags & 8 != 0)
            .with_linear(flags & 32 != 0)
            .with_png_renditions(if flags & 64 == 0 {
                PngRenditions::Auto
            } else {
                PngRenditions::Always
            })
            .with_jpeg_effort(if flags & 128 == 0 {
                JpegEffort::Standard
            } else {
                JpegEffort::Smallest
            })
    };
    let [x, y, w] = &fields;
    let Ok(request) =
        SetPhotoRequest::from_form(rest.to_vec(), x.as_deref(), y.as_deref(), w.as_deref())
    else {
        return;
    };
    let Ok(set) = crate::process(&request, &policy) else {
        return;
    };
    for rendition in set.renditions() {
        let size = image::ImageReader::new(std::io::Cursor::new(rendition.bytes()))
            .with_guessed_format()
            .ok()
            .and_then(|reader| reader.into_dimensions().ok());
        assert_eq!(
            size,
            Some((rendition.size(), rendition.size())),
            "the {} px rendition ({:?})",
            rendition.size(),
            rendition.format()
        );
    }
}
