// `setphoto serve` driven by the official Node Slack SDK (@slack/web-api WebClient).
//
// Run by tests/sdk/run.sh, which installs the SDK from package-lock.json beside this file
// into SETPHOTO_SDK_NODE_DIR (target/sdk/node), starts the server, and sets the same
// SETPHOTO_* variables as for the Python tests (see tests/sdk/python/test_slack_sdk.py).
// Node's own test runner; the tests run in order and build on each other's avatar.
//
// Note on streams: @slack/web-api 8.x types `image` as `Buffer | Stream`, but it sends
// only a Buffer as a file part. A ReadStream is JSON-encoded into an urlencoded text field
// (its `path` and internal state, never its bytes), so no server can read an image from
// it; setphoto answers `bad_image`, and the test below pins that down and shows the way
// that works: read the stream into a Buffer first.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, describe, it } from 'node:test';

const env = process.env;
const sdkDir = env.SETPHOTO_SDK_NODE_DIR;
assert.ok(sdkDir, 'SETPHOTO_SDK_NODE_DIR is not set: run tests/sdk/run.sh node');
const require = createRequire(path.join(sdkDir, 'package.json'));
const { WebClient, WebClientEvent, ErrorCode } = require('@slack/web-api');
const sdkVersion = require('@slack/web-api/package.json').version;

const API_URL = env.SETPHOTO_API_URL;
const PUBLIC_URL = env.SETPHOTO_PUBLIC_URL;
const BIN = env.SETPHOTO_BIN;
const TESTDATA = env.SETPHOTO_TESTDATA;
const RATE_LIMIT = Number.parseInt(env.SETPHOTO_RATE_LIMIT ?? '20', 10);
const USER = env.SETPHOTO_USER;
const TOKEN = env.SETPHOTO_TOKEN;

const PROFILE_KEYS = [
  'avatar_hash',
  'image_24',
  'image_32',
  'image_48',
  'image_72',
  'image_192',
  'image_512',
  'image_1024',
  'image_original',
];
const SIZED_KEYS = PROFILE_KEYS.slice(1, -1).map((k) => [k, Number(k.slice('image_'.length))]);
const RENDITION_SIZES = [1024, 512, 192, 72, 48, 32, 24];
const IDENTITY_KEYS = ['image_24', 'image_32', 'image_48', 'image_72', 'image_192', 'image_512'];
const CONTENT_TYPES = { png: 'image/png', jpeg: 'image/jpeg', gif: 'image/gif' };
const CROP = { crop_x: 100, crop_y: 50, crop_w: 300 };

const fixture = (name) => path.join(TESTDATA, name);

function client(token = TOKEN) {
  return new WebClient(token, {
    slackApiUrl: API_URL,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 30_000,
  });
}

/** [format, width, height] from the header bytes alone: PNG IHDR, JPEG SOF, GIF screen. */
function imageInfo(data) {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    assert.equal(data.toString('latin1', 12, 16), 'IHDR');
    return ['png', data.readUInt32BE(16), data.readUInt32BE(20)];
  }
  const head = data.toString('latin1', 0, 6);
  if (head === 'GIF87a' || head === 'GIF89a') {
    return ['gif', data.readUInt16LE(6), data.readUInt16LE(8)];
  }
  if (data[0] === 0xff && data[1] === 0xd8) {
    let i = 2;
    while (i + 4 <= data.length) {
      assert.equal(data[i], 0xff, `JPEG: no marker at ${i}`);
      const marker = data[i + 1];
      if (marker === 0xff) {
        i += 1;
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return ['jpeg', data.readUInt16BE(i + 7), data.readUInt16BE(i + 5)];
      }
      if (marker === 0xda) break;
      i += 2 + data.readUInt16BE(i + 2);
    }
    throw new Error('JPEG without a SOF marker');
  }
  throw new Error(`not a PNG, JPEG or GIF: ${data.subarray(0, 12).toString('hex')}`);
}

async function fetchFile(url) {
  const response = await fetch(url);
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

/** The rendition side serving image_<key> for a square of `square` px. */
function expectedSide(key, square) {
  let made = RENDITION_SIZES.filter((s) => s <= square);
  if (made.length === 0) made = [24];
  return made.includes(key) ? key : Math.max(...made);
}

/** What `setphoto process` makes of a fixture (its file names are the server's too). */
function reference(name, crop = {}) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'setphoto-sdk-ref-'));
  try {
    const args = ['process', fixture(name), '--out', out, '--base-url', 'http://reference'];
    for (const [flag, value] of Object.entries(crop)) {
      args.push(`--${flag.replace('_', '-')}`, String(value));
    }
    const body = JSON.parse(execFileSync(BIN, args, { encoding: 'utf8' }));
    assert.equal(body.ok, true);
    return body.profile;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const withoutMetadata = ({ response_metadata: _, ...rest }) => rest;
const fileName = (url) => url.slice(url.lastIndexOf('/') + 1);

/** Every field of a users.setPhoto success, and every file it names. */
async function checkSetPhoto(result, name, square, crop = {}) {
  // response_metadata is the SDK's own addition (scopes and retry headers, when sent).
  assert.deepEqual(Object.keys(withoutMetadata(result)).sort(), ['ok', 'profile']);
  assert.equal(result.ok, true);
  const profile = result.profile;
  assert.deepEqual(Object.keys(profile).sort(), [...PROFILE_KEYS].sort(), 'exactly the nine keys');
  for (const key of PROFILE_KEYS) assert.equal(typeof profile[key], 'string', key);
  assert.match(profile.avatar_hash, /^[0-9a-f]{12}$/);
  const base = `${PUBLIC_URL}/avatars/${USER}/`;
  for (const key of PROFILE_KEYS.slice(1)) {
    assert.ok(profile[key].startsWith(base), `${key}: ${profile[key]} not under ${base}`);
    assert.match(fileName(profile[key]), /^[0-9a-f]{20}_(\d+|original)\.(jpg|png|gif)$/);
  }
  const expected = reference(name, crop);
  assert.equal(profile.avatar_hash, expected.avatar_hash, 'the set the engine makes of the bytes');
  for (const key of PROFILE_KEYS.slice(1)) {
    assert.equal(fileName(profile[key]), fileName(expected[key]), key);
  }
  for (const [key, size] of SIZED_KEYS) {
    const file = await fetchFile(profile[key]);
    assert.equal(file.status, 200, `${key}: ${profile[key]}`);
    const [format, width, height] = imageInfo(file.body);
    assert.equal(file.contentType, CONTENT_TYPES[format], key);
    const side = expectedSide(size, square);
    assert.deepEqual([width, height], [side, side], `${key} of ${name}`);
  }
  const original = fs.readFileSync(fixture(name));
  const file = await fetchFile(profile.image_original);
  assert.equal(file.status, 200);
  assert.ok(file.body.equals(original), 'the original is served byte for byte');
  const info = imageInfo(file.body);
  assert.deepEqual(info, imageInfo(original));
  assert.equal(file.contentType, CONTENT_TYPES[info[0]]);
  return profile;
}

/** Awaits `promise`, expecting a platform error (HTTP 200, ok:false) with `code`. */
async function rejectsWith(promise, code) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${code}, the call succeeded`);
  assert.equal(error.code, ErrorCode.PlatformError, `${error.code}: ${error.message}`);
  assert.equal(error.data.ok, false);
  assert.equal(error.data.error, code, JSON.stringify(error.data));
  return error.data;
}

describe(`@slack/web-api ${sdkVersion} against setphoto serve`, () => {
  let last; // the profile of the last successful setPhoto

  before(() => {
    console.log(`@slack/web-api ${sdkVersion} at ${API_URL} (node ${process.version})`);
  });

  it('users.setPhoto with a Buffer', async () => {
    const result = await client().users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')) });
    // 640x480 letterboxed onto 640: 512 is the largest made and serves image_1024.
    last = await checkSetPhoto(result, 'sample.jpg', 640);
    assert.equal(last.image_1024, last.image_512);
  });

  it('users.setPhoto with the same Buffer again keeps the same set and its files', async () => {
    const result = await client().users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')) });
    const profile = await checkSetPhoto(result, 'sample.jpg', 640);
    assert.deepEqual(profile, last);
  });

  it('users.setPhoto with fs.createReadStream: the SDK sends no bytes, bad_image', async () => {
    const before = (await client().users.profile.get()).profile.avatar_hash;
    await rejectsWith(client().users.setPhoto({ image: fs.createReadStream(fixture('square_300.jpg')) }), 'bad_image');
    assert.equal((await client().users.profile.get()).profile.avatar_hash, before);
  });

  it('users.setPhoto with a stream read into a Buffer', async () => {
    const stream = fs.createReadStream(fixture('square_300.jpg'));
    const image = Buffer.concat(await stream.toArray());
    last = await checkSetPhoto(await client().users.setPhoto({ image }), 'square_300.jpg', 300);
  });

  it('users.setPhoto with a crop', async () => {
    const previous = last;
    const result = await client().users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')), ...CROP });
    last = await checkSetPhoto(result, 'sample.jpg', 300, CROP);
    assert.notEqual(last.avatar_hash, previous.avatar_hash);
    assert.equal((await fetchFile(previous.image_72)).status, 200, 'superseded files stay served for the grace period (--keep-old)');
    const asStrings = Object.fromEntries(Object.entries(CROP).map(([k, v]) => [k, String(v)]));
    const again = await client().users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')), ...asStrings });
    assert.deepEqual(again.profile, last);
  });

  it('users.setPhoto with a PNG with alpha stays PNG', async () => {
    const result = await client().users.setPhoto({ image: fs.readFileSync(fixture('alpha_60x40.png')) });
    const profile = await checkSetPhoto(result, 'alpha_60x40.png', 60);
    assert.ok(profile.image_512.endsWith('_48.png'), profile.image_512);
    // A 4000x10 strip letterboxed onto 4000: every size, 1024 included. It is opaque, so
    // its renditions are JPEG (the default policy).
    const wide = await client().users.setPhoto({ image: fs.readFileSync(fixture('wide_4000x10.png')) });
    const wideProfile = await checkSetPhoto(wide, 'wide_4000x10.png', 4000);
    assert.ok(wideProfile.image_1024.endsWith('_1024.jpg'), wideProfile.image_1024);
    // Back to the cropped sample, which the read methods below expect.
    const back = await client().users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')), ...CROP });
    last = await checkSetPhoto(back, 'sample.jpg', 300, CROP);
  });

  it('users.profile.get agrees with the last setPhoto', async () => {
    const { profile } = await client().users.profile.get();
    for (const key of PROFILE_KEYS) assert.equal(profile[key], last[key], key);
    assert.equal(profile.is_custom_image, true);
    assert.deepEqual((await client().users.profile.get({ user: USER })).profile, profile);
  });

  it('users.info agrees with the last setPhoto', async () => {
    const { user } = await client().users.info({ user: USER });
    assert.equal(user.id, USER);
    assert.equal(typeof user.team_id, 'string');
    assert.equal(user.deleted, false);
    for (const key of PROFILE_KEYS) assert.equal(user.profile[key], last[key], key);
    assert.equal(user.profile.is_custom_image, true);
    const readOnly = await client(env.SETPHOTO_TOKEN_READONLY).users.info({ user: USER });
    assert.equal(readOnly.user.profile.avatar_hash, last.avatar_hash);
    const other = await client().users.info({ user: env.SETPHOTO_OTHER_USER });
    assert.equal(other.user.id, env.SETPHOTO_OTHER_USER);
    assert.equal(other.user.profile.is_custom_image, false);
    await rejectsWith(client().users.info({ user: 'U0NOBODY' }), 'user_not_found');
  });

  it('users.identity agrees with the last setPhoto', async () => {
    const result = await client().users.identity();
    assert.equal(result.user.id, USER);
    assert.equal(typeof result.user.name, 'string');
    assert.equal(typeof result.team.id, 'string');
    for (const key of IDENTITY_KEYS) assert.equal(result.user[key], last[key], key);
    assert.deepEqual(Object.keys(result.user).sort(), ['id', 'name', ...IDENTITY_KEYS].sort());
    const basic = await client(env.SETPHOTO_TOKEN_BASIC).users.identity();
    assert.deepEqual(Object.keys(basic.user).sort(), ['id', 'name']);
  });

  it('users.profile.set', async () => {
    // The SDK sends `profile` as JSON text in a form body; fields the server does not keep
    // (any type) are accepted and ignored, as Slack does.
    const result = await client().users.profile.set({
      profile: { real_name: 'Grace Hopper', display_name: 'grace', status_text: 'debugging', status_expiration: 0 },
    });
    assert.equal(result.ok, true);
    assert.equal(typeof result.username, 'string');
    assert.equal(result.profile.real_name, 'Grace Hopper');
    assert.equal(result.profile.display_name, 'grace');
    for (const key of PROFILE_KEYS) assert.equal(result.profile[key], last[key], key);
    const pair = await client().users.profile.set({ name: 'display_name', value: 'amazing grace' });
    assert.deepEqual([pair.profile.real_name, pair.profile.display_name], ['Grace Hopper', 'amazing grace']);
    const { user } = await client().users.info({ user: USER });
    assert.equal(user.real_name, 'Grace Hopper');
    assert.equal(user.profile.display_name, 'amazing grace');
    await rejectsWith(client().users.profile.set({ profile: { real_name: 42 } }), 'invalid_profile');
    await rejectsWith(client().users.profile.set({}), 'invalid_arguments');
  });

  it('bad_image for bytes that are not an image', async () => {
    await rejectsWith(client().users.setPhoto({ image: Buffer.from('this is not an image') }), 'bad_image');
    await rejectsWith(client().users.setPhoto({ image: Buffer.from('%PDF-1.4 lying') }), 'bad_image');
    assert.equal((await client().users.profile.get()).profile.avatar_hash, last.avatar_hash);
  });

  it('invalid_arguments for a crop outside the image', async () => {
    const image = fs.readFileSync(fixture('square_300.jpg'));
    await rejectsWith(client().users.setPhoto({ image, crop_w: 0 }), 'invalid_arguments');
    await rejectsWith(client().users.setPhoto({ image, crop_x: 300, crop_y: 0, crop_w: 10 }), 'invalid_arguments');
  });

  it('invalid_auth, not_authed, missing_scope', async () => {
    const bad = client(`xoxp-${'0'.repeat(48)}`);
    await rejectsWith(bad.users.profile.get(), 'invalid_auth');
    await rejectsWith(bad.users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')) }), 'invalid_auth');
    const nobody = new WebClient(undefined, { slackApiUrl: API_URL, retryConfig: { retries: 0 } });
    await rejectsWith(nobody.users.identity(), 'not_authed');
    const data = await rejectsWith(
      client(env.SETPHOTO_TOKEN_READONLY).users.setPhoto({ image: fs.readFileSync(fixture('sample.jpg')) }),
      'missing_scope',
    );
    assert.equal(data.needed, 'users.profile:write');
    assert.equal(data.provided, 'users:read');
  });

  it('ratelimited: rejected with slack_webapi_rate_limited_error and retryAfter', async () => {
    const rate = client(env.SETPHOTO_TOKEN_RATE);
    const events = [];
    rate.on(WebClientEvent.RATE_LIMITED, (seconds) => events.push(seconds));
    const start = performance.now();
    let allowed = 0;
    let error;
    for (let i = 0; i < RATE_LIMIT + 20; i++) {
      try {
        await rate.users.profile.get();
        allowed += 1;
      } catch (e) {
        error = e;
        break;
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    assert.ok(error, `no 429 after ${allowed} calls`);
    assert.ok(allowed >= RATE_LIMIT, `${allowed} calls allowed`);
    assert.ok(allowed <= RATE_LIMIT + Math.floor((elapsed * RATE_LIMIT) / 60) + 1, `${allowed} calls allowed`);
    assert.equal(error.code, 'slack_webapi_rate_limited_error', error.message);
    assert.equal(error.code, ErrorCode.RateLimitedError);
    assert.ok(Number.isInteger(error.retryAfter) && error.retryAfter >= 1 && error.retryAfter <= 60, `${error.retryAfter}`);
    assert.deepEqual(events, [error.retryAfter]);
    // Per token and method.
    assert.equal((await rate.users.info({ user: USER })).ok, true);
    assert.equal((await client().users.profile.get()).ok, true);
  });

  it('users.deletePhoto falls back to a placeholder', async () => {
    const current = (await client().users.profile.get()).profile;
    assert.equal(current.is_custom_image, true);
    const result = await client().users.deletePhoto();
    assert.deepEqual(withoutMetadata(result), { ok: true });
    for (const key of PROFILE_KEYS.slice(1)) {
      assert.equal((await fetchFile(current[key])).status, 404, `${key} is gone`);
    }
    const { profile } = await client().users.profile.get();
    assert.equal(profile.is_custom_image, false);
    assert.notEqual(profile.avatar_hash, current.avatar_hash);
    assert.match(profile.avatar_hash, /^[0-9a-f]{12}$/);
    assert.equal(profile.image_original, undefined, 'a default avatar has no original');
    for (const [key, size] of SIZED_KEYS) {
      assert.ok(profile[key].startsWith(`${PUBLIC_URL}/avatars/default/`), profile[key]);
      const file = await fetchFile(profile[key]);
      assert.equal(file.status, 200);
      const side = expectedSide(size, 512);
      assert.deepEqual(imageInfo(file.body).slice(1), [side, side], key);
    }
    const info = await client().users.info({ user: USER });
    assert.equal(info.user.profile.is_custom_image, false);
    assert.equal(info.user.profile.avatar_hash, profile.avatar_hash);
    const identity = await client().users.identity();
    for (const key of IDENTITY_KEYS) assert.equal(identity.user[key], profile[key], key);
    assert.equal((await client().users.deletePhoto()).ok, true, 'deleting again is fine');
  });

});
