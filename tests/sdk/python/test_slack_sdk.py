"""`setphoto serve` driven by the official Python Slack SDK (slack_sdk.WebClient).

Run by tests/sdk/run.sh, which starts the server and sets:
  SETPHOTO_API_URL     http://127.0.0.1:PORT/api/ (the WebClient's base_url)
  SETPHOTO_PUBLIC_URL  http://127.0.0.1:PORT (every returned URL must be under it)
  SETPHOTO_BIN         the setphoto binary (`setphoto process` gives the expected sets)
  SETPHOTO_TESTDATA    testdata/inputs
  SETPHOTO_RATE_LIMIT  the server's calls per minute per token and method
  SETPHOTO_USER, SETPHOTO_TOKEN             the user under test, with every scope
  SETPHOTO_TOKEN_RATE                       a second token of that user (own allowances)
  SETPHOTO_TOKEN_READONLY                   that user, users:read only
  SETPHOTO_TOKEN_BASIC                      that user, without identity.avatar
  SETPHOTO_OTHER_USER, SETPHOTO_OTHER_TOKEN another user

Standard library only besides slack_sdk: image sizes are read from the PNG IHDR, the
JPEG SOF or the GIF screen descriptor by hand. The tests run in name order (test_01_..)
and the later ones build on the avatar the earlier ones set.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import slack_sdk.version
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler

ENV = os.environ
API_URL = ENV["SETPHOTO_API_URL"]
PUBLIC_URL = ENV["SETPHOTO_PUBLIC_URL"]
BIN = ENV["SETPHOTO_BIN"]
TESTDATA = ENV["SETPHOTO_TESTDATA"]
RATE_LIMIT = int(ENV.get("SETPHOTO_RATE_LIMIT", "20"))
USER = ENV["SETPHOTO_USER"]
TOKEN = ENV["SETPHOTO_TOKEN"]
USER_TEAM = "T00000001"  # the team `setphoto token create` puts a user in by default

PROFILE_KEYS = [
    "avatar_hash",
    "image_24",
    "image_32",
    "image_48",
    "image_72",
    "image_192",
    "image_512",
    "image_1024",
    "image_original",
]
SIZED_KEYS = [(k, int(k[len("image_"):])) for k in PROFILE_KEYS[1:-1]]
RENDITION_SIZES = [1024, 512, 192, 72, 48, 32, 24]
# Every fixture, with the side of the square its renditions are made from.
FIXTURES = [
    ("sample.jpg", 640),  # 640x480, letterboxed
    ("exif6.jpg", 640),  # 480x640 stored, rotated by its EXIF orientation
    ("square_300.jpg", 300),
    ("alpha_60x40.png", 60),
    ("opaque.gif", 32),
    ("transparent.gif", 32),
    ("tiny_1x1.png", 1),  # smaller than 24: a 24 rendition all the same
    ("wide_4000x10.png", 4000),
]
IDENTITY_KEYS = ["image_24", "image_32", "image_48", "image_72", "image_192", "image_512"]


def fixture(name):
    return os.path.join(TESTDATA, name)


def read_fixture(name):
    with open(fixture(name), "rb") as f:
        return f.read()


def client(token=TOKEN, **kwargs):
    return WebClient(token=token, base_url=API_URL, timeout=30, **kwargs)


def image_info(data):
    """(format, width, height) from the header bytes alone: PNG, JPEG or GIF."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if data[12:16] != b"IHDR":
            raise AssertionError("PNG without IHDR first")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                raise AssertionError(f"JPEG: no marker at {i}")
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return "jpeg", width, height
            if marker == 0xDA:
                break
            i += 2 + length
        raise AssertionError("JPEG without a SOF marker")
    raise AssertionError(f"not a PNG, JPEG or GIF: {data[:12]!r}")


CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}


def fetch(url):
    """GET url: (status, content type, body); 4xx/5xx come back as a status too."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def expected_side(key_size, square_side):
    """The side of the rendition that serves image_<key_size> for a square of square_side
    px: the key's own size when made (never larger than the square; a square under 24 px
    still gets 24), else the largest size made."""
    made = [s for s in RENDITION_SIZES if s <= square_side] or [24]
    return key_size if key_size in made else max(made)


def reference(name, crop=None):
    """What `setphoto process` makes of a fixture: the profile (its URLs' file names are
    the ones the server must use too)."""
    with tempfile.TemporaryDirectory() as out:
        args = [BIN, "process", fixture(name), "--out", out, "--base-url", "http://reference"]
        for flag, value in (crop or {}).items():
            args += ["--" + flag.replace("_", "-"), str(value)]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"setphoto process failed: {done.stdout} {done.stderr}")
    body = json.loads(done.stdout)
    assert body["ok"] is True, body
    return body["profile"]


def header(response, name):
    """A response header, whatever the case of its name (HTTP/1.1 names are
    case-insensitive; hyper sends them in lower case and slack_sdk keeps them as sent)."""
    found = [v for k, v in response.headers.items() if k.lower() == name.lower()]
    return found[0] if found else None


def file_name(url):
    return url.rsplit("/", 1)[-1]


class SlackSdkConformance(unittest.TestCase):
    """One server, the user SETPHOTO_USER; state carries from one test to the next."""

    last_profile = None  # the profile of the last successful setPhoto

    def assert_set_photo_profile(self, response, fixture_name, square_side, crop=None):
        """Every field of a users.setPhoto success, and every file it names."""
        self.assertEqual(response.status_code, 200)
        self.assertEqual(header(response, "Content-Type"), "application/json; charset=utf-8")
        data = response.data
        self.assertEqual(sorted(data.keys()), ["ok", "profile"], data)
        self.assertIs(data["ok"], True)
        profile = data["profile"]
        self.assertEqual(sorted(profile.keys()), sorted(PROFILE_KEYS), "exactly the nine keys")
        for key, value in profile.items():
            self.assertIsInstance(value, str, key)
        self.assertRegex(profile["avatar_hash"], r"^[0-9a-f]{12}$")
        base = f"{PUBLIC_URL}/avatars/{USER}/"
        for key in PROFILE_KEYS[1:]:
            self.assertTrue(profile[key].startswith(base), f"{key}: {profile[key]} not under {base}")
            self.assertRegex(file_name(profile[key]), r"^[0-9a-f]{20}_(\d+|original)\.(jpg|png|gif)$")
        # The very set the engine makes of those bytes: the upload arrived intact.
        expected = reference(fixture_name, crop)
        self.assertEqual(profile["avatar_hash"], expected["avatar_hash"])
        for key in PROFILE_KEYS[1:]:
            self.assertEqual(file_name(profile[key]), file_name(expected[key]), key)

        original = read_fixture(fixture_name)
        for key, size in SIZED_KEYS:
            status, content_type, body = fetch(profile[key])
            self.assertEqual(status, 200, f"{key}: {profile[key]}")
            fmt, width, height = image_info(body)
            self.assertEqual(content_type, CONTENT_TYPES[fmt], key)
            side = expected_side(size, square_side)
            self.assertEqual((width, height), (side, side), f"{key} of {fixture_name}")
            self.assertIn(f"_{side}.", file_name(profile[key]), key)
        status, content_type, body = fetch(profile["image_original"])
        self.assertEqual(status, 200)
        self.assertEqual(body, original, "the original is served byte for byte")
        fmt, width, height = image_info(body)
        self.assertEqual(image_info(original), (fmt, width, height))
        self.assertEqual(content_type, CONTENT_TYPES[fmt])
        type(self).last_profile = profile
        return profile

    def assert_slack_error(self, call, code):
        with self.assertRaises(SlackApiError) as caught:
            call()
        response = caught.exception.response
        self.assertEqual(response.status_code, 200, "application errors are HTTP 200")
        self.assertIs(response["ok"], False)
        self.assertEqual(response["error"], code, response.data)
        return response

    # --- users.setPhoto -------------------------------------------------------------

    def test_01_set_photo_from_a_file_path(self):
        response = client().users_setPhoto(image=fixture("sample.jpg"))
        # 640x480 is letterboxed onto 640: 512 is the largest made and serves image_1024.
        profile = self.assert_set_photo_profile(response, "sample.jpg", 640)
        self.assertEqual(profile["image_1024"], profile["image_512"])

    def test_02_set_photo_from_bytes_gives_the_same_set(self):
        first = type(self).last_profile
        self.assertIsNotNone(first)
        response = client().users_setPhoto(image=read_fixture("sample.jpg"))
        profile = self.assert_set_photo_profile(response, "sample.jpg", 640)
        self.assertEqual(profile, first, "same bytes, same avatar and the same URLs")
        # Setting the same picture again must not have removed its own files.
        for key in PROFILE_KEYS[1:]:
            self.assertEqual(fetch(profile[key])[0], 200, key)

    def test_03_set_photo_from_an_open_file(self):
        with open(fixture("square_300.jpg"), "rb") as f:
            response = client().users_setPhoto(image=f)
        self.assert_set_photo_profile(response, "square_300.jpg", 300)

    def test_04_set_photo_with_a_crop(self):
        previous = type(self).last_profile
        crop = {"crop_x": 100, "crop_y": 50, "crop_w": 300}
        response = client().users_setPhoto(image=fixture("sample.jpg"), **crop)
        profile = self.assert_set_photo_profile(response, "sample.jpg", 300, crop)
        self.assertNotEqual(profile["avatar_hash"], previous["avatar_hash"])
        # The superseded avatar's files stay served for the grace period (--keep-old).
        self.assertEqual(fetch(previous["image_72"])[0], 200)
        # Crop values as strings are the same arguments.
        again = client().users_setPhoto(
            image=read_fixture("sample.jpg"), crop_x="100", crop_y="50", crop_w="300"
        )
        self.assertEqual(again["profile"], profile)

    def test_05_set_photo_every_fixture(self):
        # Another token of the same user: its own users.setPhoto allowance.
        sweep = client(ENV["SETPHOTO_TOKEN_RATE"])
        for name, square in FIXTURES:
            with self.subTest(fixture=name):
                response = sweep.users_setPhoto(image=read_fixture(name))
                profile = self.assert_set_photo_profile(response, name, square)
                if name == "alpha_60x40.png":
                    # A 60 px square: 48 is the largest made and serves every larger key.
                    self.assertTrue(profile["image_512"].endswith("_48.png"), profile["image_512"])
                if name == "wide_4000x10.png":
                    # An opaque PNG: its renditions are JPEG (the default policy).
                    self.assertTrue(profile["image_1024"].endswith("_1024.jpg"), profile["image_1024"])

    def test_05b_file_names_the_sdk_sends_as_they_are(self):
        # slack_sdk puts the path, unescaped, in the part's filename; the bytes are what count.
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "fötö bild; (1).JPG")
            with open(path, "wb") as f:
                f.write(read_fixture("square_300.jpg"))
            response = client().users_setPhoto(image=path)
        self.assert_set_photo_profile(response, "square_300.jpg", 300)

    def test_06_last_set_photo_is_sample_cropped(self):
        crop = {"crop_x": 100, "crop_y": 50, "crop_w": 300}
        response = client().users_setPhoto(image=fixture("sample.jpg"), **crop)
        self.assert_set_photo_profile(response, "sample.jpg", 300, crop)

    # --- the read methods agree with the last setPhoto -----------------------------

    def test_10_profile_get_agrees(self):
        last = type(self).last_profile
        response = client().users_profile_get()
        self.assertEqual(response.status_code, 200)
        profile = response["profile"]
        for key in PROFILE_KEYS:
            self.assertEqual(profile[key], last[key], key)
        self.assertIs(profile["is_custom_image"], True)
        # Asking for oneself by id is the same.
        by_id = client().users_profile_get(user=USER)["profile"]
        self.assertEqual(by_id, profile)

    def test_11_info_agrees(self):
        last = type(self).last_profile
        response = client().users_info(user=USER)
        user = response["user"]
        self.assertEqual(user["id"], USER)
        self.assertIsInstance(user["team_id"], str)
        self.assertIs(user["deleted"], False)
        for key in PROFILE_KEYS:
            self.assertEqual(user["profile"][key], last[key], key)
        self.assertIs(user["profile"]["is_custom_image"], True)
        # A read-only token may read; another user's token reads this user the same.
        read_only = client(ENV["SETPHOTO_TOKEN_READONLY"]).users_info(user=USER)["user"]
        self.assertEqual(read_only["profile"]["avatar_hash"], last["avatar_hash"])
        other = client(ENV["SETPHOTO_OTHER_TOKEN"]).users_info(user=USER)["user"]
        self.assertEqual(other["profile"]["image_192"], last["image_192"])
        # ... and that other user, who never uploaded, has a placeholder.
        theirs = client().users_info(user=ENV["SETPHOTO_OTHER_USER"])["user"]
        self.assertEqual(theirs["id"], ENV["SETPHOTO_OTHER_USER"])
        self.assertIs(theirs["profile"]["is_custom_image"], False)
        self.assert_slack_error(lambda: client().users_info(user="U0NOBODY"), "user_not_found")

    def test_12_identity_agrees(self):
        last = type(self).last_profile
        response = client().users_identity()
        self.assertIs(response["ok"], True)
        user = response["user"]
        self.assertEqual(user["id"], USER)
        self.assertIsInstance(user["name"], str)
        self.assertIsInstance(response["team"]["id"], str)
        for key in IDENTITY_KEYS:
            self.assertEqual(user[key], last[key], key)
        self.assertNotIn("image_1024", user, "users.identity carries 24..512 only")
        self.assertEqual(set(user), {"id", "name", *IDENTITY_KEYS})
        # Without identity.avatar: no images.
        basic = client(ENV["SETPHOTO_TOKEN_BASIC"]).users_identity()["user"]
        self.assertEqual(set(basic), {"id", "name"})

    def test_13_profile_set(self):
        last = type(self).last_profile
        # slack_sdk posts this as a JSON body with `profile` a JSON object; fields the
        # server does not keep (any type) are accepted and ignored, as Slack does.
        response = client().users_profile_set(
            profile={
                "real_name": "Ada Lovelace",
                "display_name": "ada",
                "status_text": "computing",
                "status_expiration": 0,
                "fields": {},
            }
        )
        self.assertIs(response["ok"], True)
        self.assertIsInstance(response["username"], str)
        profile = response["profile"]
        self.assertEqual(profile["real_name"], "Ada Lovelace")
        self.assertEqual(profile["display_name"], "ada")
        for key in PROFILE_KEYS:
            self.assertEqual(profile[key], last[key], key)
        # One name/value pair (a form body).
        profile = client().users_profile_set(name="display_name", value="countess")["profile"]
        self.assertEqual((profile["real_name"], profile["display_name"]), ("Ada Lovelace", "countess"))
        user = client().users_info(user=USER)["user"]
        self.assertEqual(user["real_name"], "Ada Lovelace")
        self.assertEqual(user["profile"]["display_name"], "countess")
        self.assertEqual(client().users_profile_get()["profile"]["real_name"], "Ada Lovelace")
        self.assert_slack_error(lambda: client().users_profile_set(profile={"real_name": 42}), "invalid_profile")
        self.assert_slack_error(lambda: client().users_profile_set(), "invalid_arguments")

    # --- errors --------------------------------------------------------------------

    def test_20_bad_image(self):
        before = client().users_profile_get()["profile"]["avatar_hash"]
        self.assert_slack_error(lambda: client().users_setPhoto(image=b"this is not an image"), "bad_image")
        with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
            f.write(b"%PDF-1.4 lying about being a JPEG")
            f.flush()
            self.assert_slack_error(lambda: client().users_setPhoto(image=f.name), "bad_image")
        # A refused upload leaves the avatar as it was.
        self.assertEqual(client().users_profile_get()["profile"]["avatar_hash"], before)

    def test_21_bad_crop_is_invalid_arguments(self):
        self.assert_slack_error(
            lambda: client().users_setPhoto(image=fixture("square_300.jpg"), crop_w=0),
            "invalid_arguments",
        )
        self.assert_slack_error(
            lambda: client().users_setPhoto(image=fixture("square_300.jpg"), crop_x=300, crop_y=0, crop_w=10),
            "invalid_arguments",
        )

    def test_22_invalid_auth_and_not_authed(self):
        bad = client("xoxp-" + "0" * 48)
        self.assert_slack_error(lambda: bad.users_profile_get(), "invalid_auth")
        self.assert_slack_error(lambda: bad.users_setPhoto(image=fixture("sample.jpg")), "invalid_auth")
        nobody = WebClient(base_url=API_URL, timeout=30)
        self.assert_slack_error(lambda: nobody.users_identity(), "not_authed")

    def test_23_missing_scope(self):
        read_only = client(ENV["SETPHOTO_TOKEN_READONLY"])
        response = self.assert_slack_error(
            lambda: read_only.users_setPhoto(image=fixture("sample.jpg")), "missing_scope"
        )
        self.assertEqual(response["needed"], "users.profile:write")
        self.assertEqual(response["provided"], "users:read")
        self.assert_slack_error(lambda: read_only.users_deletePhoto(), "missing_scope")
        self.assert_slack_error(lambda: read_only.users_profile_set(name="real_name", value="x"), "missing_scope")

    def test_24_ratelimited(self):
        rate = client(ENV["SETPHOTO_TOKEN_RATE"])
        # The default client retries connection errors only: a 429 reaches the caller.
        self.assertFalse(
            any(isinstance(h, RateLimitErrorRetryHandler) for h in rate.retry_handlers),
            rate.retry_handlers,
        )
        start = time.monotonic()
        allowed = 0
        error = None
        for _ in range(RATE_LIMIT + 20):
            try:
                rate.users_profile_get()
                allowed += 1
            except SlackApiError as e:
                error = e
                break
        elapsed = time.monotonic() - start
        self.assertIsNotNone(error, f"no 429 after {allowed} calls")
        # The whole minute's allowance is there at once (plus what refilled meanwhile).
        self.assertGreaterEqual(allowed, RATE_LIMIT)
        self.assertLessEqual(allowed, RATE_LIMIT + int(elapsed * RATE_LIMIT / 60) + 1)
        response = error.response
        self.assertEqual(response.status_code, 429)
        retry_after = response.headers["Retry-After"]
        self.assertRegex(retry_after, r"^[0-9]+$")
        self.assertGreaterEqual(int(retry_after), 1)
        self.assertLessEqual(int(retry_after), 60)
        self.assertEqual(response["error"], "ratelimited")
        self.assertIs(response["ok"], False)
        # Per token and method: another method, or another token, still goes through.
        self.assertIs(rate.users_info(user=USER)["ok"], True)
        self.assertIs(client().users_profile_get()["ok"], True)

    # --- users.deletePhoto (last: it removes the avatar) ---------------------------

    def test_25_auth_test(self):
        response = client().auth_test()
        self.assertTrue(response["ok"])
        self.assertEqual(response["user_id"], USER)
        self.assertTrue(response["team_id"].startswith("T"), response.data)
        self.assertTrue(response["url"].startswith(PUBLIC_URL), response.data)
        for key in ("user", "team"):
            self.assertIsInstance(response[key], str, response.data)
        self.assert_slack_error(lambda: client("xoxp-nope").auth_test(), "invalid_auth")
        echoed = WebClient(base_url=API_URL, timeout=30).api_test(foo="bar")
        self.assertEqual(echoed["args"], {"foo": "bar"})

    def test_26_a_bolt_app_starts_and_authorizes_against_the_server(self):
        from slack_bolt import App, BoltRequest
        from slack_sdk.signature import SignatureVerifier

        secret = "setphoto-test-signing-secret"
        # Start-up calls auth.test and refuses to start if it fails.
        app = App(client=client(), signing_secret=secret)
        seen = {}

        @app.command("/whoami")
        def whoami(ack, context):
            seen.update(user_id=context.user_id, team_id=context.team_id)
            ack("ok")

        body = f"command=%2Fwhoami&team_id={USER_TEAM}&user_id={USER}&text="
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        response = app.dispatch(
            BoltRequest(
                body=body,
                headers={
                    "content-type": ["application/x-www-form-urlencoded"],
                    "x-slack-request-timestamp": [timestamp],
                    "x-slack-signature": [signature],
                },
            )
        )
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(seen, {"user_id": USER, "team_id": USER_TEAM})
        with self.assertRaises(Exception) as failure:
            App(client=client("xoxp-nope"), signing_secret=secret)
        self.assertIn("invalid_auth", str(failure.exception))

    def test_30_delete_photo(self):
        last = client().users_profile_get()["profile"]
        self.assertIs(last["is_custom_image"], True)
        response = client().users_deletePhoto()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.data, {"ok": True})
        for key in PROFILE_KEYS[1:]:
            self.assertEqual(fetch(last[key])[0], 404, f"{key} is gone")
        profile = client().users_profile_get()["profile"]
        self.assertIs(profile["is_custom_image"], False)
        self.assertNotEqual(profile["avatar_hash"], last["avatar_hash"])
        self.assertRegex(profile["avatar_hash"], r"^[0-9a-f]{12}$")
        self.assertNotIn("image_original", profile, "a default avatar has no original")
        for key, size in SIZED_KEYS:
            url = profile[key]
            self.assertTrue(url.startswith(f"{PUBLIC_URL}/avatars/default/"), url)
            status, _, body = fetch(url)
            self.assertEqual(status, 200, url)
            side = expected_side(size, 512)  # placeholders are drawn at 512
            self.assertEqual(image_info(body)[1:], (side, side), key)
        info = client().users_info(user=USER)["user"]["profile"]
        self.assertIs(info["is_custom_image"], False)
        self.assertEqual(info["avatar_hash"], profile["avatar_hash"])
        identity = client().users_identity()["user"]
        for key in IDENTITY_KEYS:
            self.assertEqual(identity[key], profile[key], key)
        # Deleting again is fine; a new upload makes it custom again.
        self.assertIs(client().users_deletePhoto()["ok"], True)
        self.assert_set_photo_profile(client().users_setPhoto(image=fixture("square_300.jpg")), "square_300.jpg", 300)
        self.assertIs(client().users_profile_get()["profile"]["is_custom_image"], True)


if __name__ == "__main__":
    print(f"slack_sdk {slack_sdk.version.__version__} at {API_URL} (python {sys.version.split()[0]})")
    program = unittest.main(verbosity=2, exit=False)
    result = program.result
    print(f"python: {result.testsRun - len(result.failures) - len(result.errors)} passed, "
          f"{len(result.failures) + len(result.errors)} failed")
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
