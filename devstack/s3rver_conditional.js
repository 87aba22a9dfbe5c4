#!/usr/bin/env node
// s3rver with S3's conditional writes: `PUT` with `If-None-Match: *` fails (412) when the key
// exists, `PUT` with `If-Match: <etag>` fails (412) unless the key holds exactly that version.
//
// Why: tansu's s3 storage engine keeps each partition's high watermark, the topic metadata
// and the consumer groups in single objects updated optimistically (create-if-absent,
// update-if-unchanged), and writes each record batch create-if-absent at its offset. s3rver
// 3.7.1 ignores both headers, so a restarted broker (which starts with nothing cached)
// "creates" every watermark afresh at 0 and then overwrites acknowledged batches at the reused
// offsets: the fault suite's broker restart lost acknowledged events that way (up to 60 of 65
// in tests/faults/test_broker_restart.py's probe). Real S3, MinIO and R2 honour both headers.
//
// Writes to one key are serialised here so the check and the write are one step (Node runs one
// request handler at a time, but the store's file operations interleave across awaits).
//
// Usage (the same options as s3rver's CLI that devstack uses):
//   node s3rver_conditional.js -d DIR -a 127.0.0.1 -p PORT --configure-bucket NAME
'use strict';

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

function serialised(key, work) {
  const previous = tails.get(key) || Promise.resolve();
  const run = previous.then(work, work);
  const tail = run.catch(() => undefined);
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

async function conditionalWrites(ctx, next) {
  // Path-style object writes only (/bucket/key); multipart parts and subresources pass.
  const parts = ctx.path.split('/').filter(Boolean);
  const isObjectWrite =
    (ctx.method === 'PUT' || ctx.method === 'DELETE') &&
    parts.length >= 2 &&
    !ctx.querystring.includes('uploadId');
  if (!isObjectWrite) return next();
  const objectBucket = decodeURIComponent(parts[0]);
  const key = parts.slice(1).map(decodeURIComponent).join('/');
  return serialised(`${objectBucket}/${key}`, async () => {
    const noneMatch = ctx.get('if-none-match');
    const match = ctx.get('if-match');
    if (ctx.method === 'PUT' && noneMatch === '*') {
      if (await ctx.store.existsObject(objectBucket, key)) return preconditionFailed(ctx);
    }
    if (ctx.method === 'PUT' && match) {
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

server.middleware.unshift(conditionalWrites);
server.run().then(
  address => console.log(`s3rver (conditional writes) listening on ${address.address}:${address.port}`),
  error => {
    console.error(error);
    process.exit(1);
  },
);
