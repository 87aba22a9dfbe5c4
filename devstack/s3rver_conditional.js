#!/usr/bin/env node
// s3rver with S3's conditional writes and atomic objects: `PUT` with `If-None-Match: *` fails
// (412) when the key exists, `PUT` with `If-Match: <etag>` fails (412) unless the key holds
// exactly that version.
//
// Why: tansu's s3 storage engine keeps each partition's high watermark, the topic metadata
// and the consumer groups in single objects updated optimistically (create-if-absent,
// update-if-unchanged), and writes each record batch create-if-absent at its offset. s3rver
// 3.7.1 ignores both headers, so a restarted broker (which starts with nothing cached)
// "creates" every watermark afresh at 0 and then overwrites acknowledged batches at the reused
// offsets: the fault suite's broker restart lost acknowledged events that way (up to 60 of 65
// in tests/faults/test_broker_restart.py's probe). Real S3, MinIO and R2 honour both headers.
//
// And every read or write of one object is atomic here, as on S3: s3rver writes an object in
// place (a reader racing it sees a truncated file, or the new bytes with the old ETag) and
// answers before its write stream has flushed. Here every PUT is written to a temporary file
// and renamed over the object, then its ETag is recorded; and the reads and writes of one key
// are serialised, so a GET sees one whole version with its own ETag. (Found by the broker
// restart fault test: a record acknowledged at an offset tansu had already given away.)
//
// Usage (the same options as s3rver's CLI that devstack uses):
//   node s3rver_conditional.js -d DIR -a 127.0.0.1 -p PORT --configure-bucket NAME
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const S3RVER = path.join(__dirname, '..', '.tools', 's3rver', 'node_modules', 's3rver');
const S3rver = require(S3RVER);

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const bucket = option('--configure-bucket');
const server = new S3rver({
  directory: option('-d'),
  address: option('-a', '127.0.0.1'),
  port: Number(option('-p', '4568')),
  silent: true,
  configureBuckets: bucket ? [{ name: bucket, configs: [] }] : [],
});

const tails = new Map(); // key -> the promise of the last write queued on it

// No request holds its key's turn longer than this, whatever hangs (a safety net: one stuck
// request must not stop the broker's every later read of that key).
const TURN_LIMIT_MS = 15000;

function serialised(key, work) {
  const previous = tails.get(key) || Promise.resolve();
  let timer;
  let turnOver;
  const limit = new Promise(resolve => {
    turnOver = resolve;
  });
  const start = () => {
    timer = setTimeout(turnOver, TURN_LIMIT_MS); // the turn starts now, not when queued
    return work();
  };
  const run = previous.then(start, start);
  const tail = Promise.race([run.catch(() => undefined), limit]).then(() => clearTimeout(timer));
  tails.set(key, tail);
  tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return run;
}

function bareEtag(value) {
  return String(value).trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

function preconditionFailed(ctx) {
  ctx.status = 412;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
    '<Message>At least one of the pre-conditions you specified did not hold</Message></Error>';
}

// The whole body, or an error as soon as the client is gone: a broker killed -9 in the middle
// of an upload never finishes it, and waiting for it would hold its key's turn forever (every
// later read and write of that key would hang).
function readAll(content) {
  if (Buffer.isBuffer(content)) return Promise.resolve(content);
  return new Promise((resolve, reject) => {
    const chunks = [];
    let ended = false;
    content.on('data', chunk => chunks.push(Buffer.from(chunk)));
    content.on('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    content.on('error', reject);
    content.on('aborted', () => reject(new Error('client went away mid-upload')));
    content.on('close', () => {
      if (!ended) reject(new Error('client went away mid-upload'));
    });
  });
}

// The store's write, made whole: after s3rver's own checks (authentication, decoding), the
// object is written to a temporary file and renamed over the old one, then its ETag recorded.
server.store.putObject = async function putObject(object) {
  const body = await readAll(object.content);
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  await fs.promises.writeFile(temporary, body);
  await fs.promises.rename(temporary, objectPath);
  const md5 = crypto.createHash('md5').update(body).digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size: body.length, md5 };
};

async function consistentObjects(ctx, next) {
  // Path-style object requests only (/bucket/key); multipart uploads pass untouched.
  const parts = ctx.path.split('/').filter(Boolean);
  const isObject = parts.length >= 2 && !ctx.querystring.includes('uploadId');
  if (!isObject || !['GET', 'HEAD', 'PUT', 'DELETE'].includes(ctx.method)) return next();
  const objectBucket = decodeURIComponent(parts[0]);
  const key = parts.slice(1).map(decodeURIComponent).join('/');
  return serialised(`${objectBucket}/${key}`, async () => {
    if (ctx.method !== 'PUT') return next(); // a GET's file is open before the next write
    const noneMatch = ctx.get('if-none-match');
    const match = ctx.get('if-match');
    if (noneMatch === '*' && (await ctx.store.existsObject(objectBucket, key))) {
      return preconditionFailed(ctx);
    }
    if (match) {
      let current;
      try {
        current = await ctx.store.getMetadata(objectBucket, key);
      } catch (error) {
        if (error.code !== 'ENOENT') throw error;
        return preconditionFailed(ctx);
      }
      if (match !== '*' && bareEtag(match) !== bareEtag(current.etag)) {
        return preconditionFailed(ctx);
      }
    }
    return next();
  });
}

server.middleware.unshift(consistentObjects);
server.run().then(
  address => console.log(`s3rver (conditional writes) listening on ${address.address}:${address.port}`),
  error => {
    console.error(error);
    process.exit(1);
  },
);
