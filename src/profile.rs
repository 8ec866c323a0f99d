//! The users.setPhoto wire types (serde only; no engine code).

use serde::{Deserialize, Serialize};

/// The `profile` object of a users.setPhoto success response: exactly nine keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// 12 lowercase hex digits naming the avatar.
    pub avatar_hash: String,
    /// URL of the 24 px rendition.
    pub image_24: String,
    /// URL of the 32 px rendition.
    pub image_32: String,
    /// URL of the 48 px rendition.
    pub image_48: String,
    /// URL of the 72 px rendition.
    pub image_72: String,
    /// URL of the 192 px rendition (or the largest made, when smaller).
    pub image_192: String,
    /// URL of the 512 px rendition (or the largest made, when smaller).
    pub image_512: String,
    /// URL of the 1024 px rendition (or the largest made, when smaller).
    pub image_1024: String,
    /// URL of the uploaded bytes, unchanged.
    pub image_original: String,
}

/// The users.setPhoto success body: `{"ok":true,"profile":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPhotoResponse {
    /// Always `true`.
    pub ok: bool,
    /// The new avatar.
    pub profile: Profile,
}

impl SetPhotoResponse {
    /// A success body for `profile`.
    #[must_use]
    pub fn success(profile: Profile) -> Self {
        Self { ok: true, profile }
    }
}

/// The failure body: `{"ok":false,"error":"<code>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always `false`.
    pub ok: bool,
    /// A Slack error code such as `bad_image`.
    pub error: String,
}

impl ErrorResponse {
    /// The failure body for `error`.
    #[must_use]
    pub fn from_error(error: &crate::Error) -> Self {
        Self {
            ok: false,
            error: error.code().to_owned(),
        }
    }
}
