#!/usr/bin/env node
// A foreign testee of the tradebridge testee protocol (conformance/PROTOCOL.md, version 1), written from
// that document and the JSON Schemas of contracts/v1 alone, with Node 20's standard library only.
//
// It validates with a small JSON Schema subset (the keywords the contract uses: type, const, enum,
// required, properties, additionalProperties, items, maxItems, minimum, maximum, exclusiveMinimum,
// minLength, maxLength, pattern, anyOf, oneOf by `type`, $ref) and maps each broken rule onto the error
// catalogue of contracts/README.md. JSON is parsed by hand because JSON.parse forgets what the contract
// needs: whether a number was written as an integer (1.0 is not an integer here), and how deep it nests.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const SCHEMA_DIR = process.env.TRADEBRIDGE_SCHEMAS || path.resolve(__dirname, '../../../contracts/v1');
const DEFAULT_MAX_SIZE = 1048576;
const MAX_DEPTH = 64;
const BUS = ['bar_update', 'trade_update', 'quote_update', 'signal', 'order_update', 'heartbeat'];
const TOPICS = { market: ['bar_update', 'trade_update', 'quote_update'], signal: ['signal'], order: ['order_update'], system: ['heartbeat'] };

class Refused extends Error {
  constructor(code, where, message) { super(message); this.code = code; this.where = where; }
}

// A number as written: its value and whether its lexeme is an integer (no fraction, no exponent).
class Num {
  constructor(text, allowNonFinite) {
    this.text = text;
    this.isInt = /^-?\d+$/.test(text);
    this.value = Number(text);
    if (!Number.isFinite(this.value) && !allowNonFinite) this.huge = true;
  }
}

// ---------------------------------------------------------------- JSON, by hand
function parseJson(text, nanInFeatures) {
  let i = 0;
  const fail = (why) => { throw new Refused('invalid_json', '$', `${why} at ${i}`); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  function value(depth, where) {
    ws();
    if (depth > MAX_DEPTH) throw new Refused('too_deep', where, `nested deeper than ${MAX_DEPTH}`);
    const c = text[i];
    if (c === '{') {
      i++; const out = new Map(); ws();
      if (text[i] === '}') { i++; return out; }
      for (;;) {
        ws(); if (text[i] !== '"') fail('expected a key');
        const key = string(); ws(); if (text[i] !== ':') fail('expected :'); i++;
        out.set(key, value(depth + 1, `${where}.${key}`)); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return out; }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++; const out = []; ws();
      if (text[i] === ']') { i++; return out; }
      for (;;) {
        out.push(value(depth + 1, `${where}[${out.length}]`)); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return out; }
        fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    if (nanInFeatures && /^\$\.features\[\d+\]$/.test(where)) {
      // the option's non-finite tokens stand for a missing feature, written back as null
      const token = ['NaN', 'Infinity', '-Infinity'].find((t) => text.startsWith(t, i));
      if (token) { i += token.length; return null; }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail('unexpected token');
    i += m[0].length;
    return new Num(m[0]);
  }
  function string() {
    i++; let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i];
      if (c === '"') { i++; return out; }
      if (c < ' ') fail('control character in string');
      if (c === '\\') {
        const e = text[i + 1];
        const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) { out += simple[e]; i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16)); i += 6; continue;
        }
        fail('bad escape');
      }
      out += c; i++;
    }
  }
  const result = value(1, '$'); ws();
  if (i !== text.length) fail('trailing characters');
  return result;
}

// ---------------------------------------------------------------- schemas
const SCHEMAS = {};
for (const file of fs.readdirSync(SCHEMA_DIR)) {
  if (file.endsWith('.schema.json')) SCHEMAS[file.replace('.schema.json', '')] = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8'));
}

function resolve(schema, root) {
  while (schema && schema.$ref) {
    const [file, pointer] = schema.$ref.split('#');
    if (file) root = SCHEMAS[file.replace('.schema.json', '')];
    schema = (pointer || '').split('/').filter(Boolean).reduce((node, key) => node[key], root);
  }
  return [schema, root];
}

const typeOf = (v) => v === null ? 'null' : v instanceof Num ? (v.isInt ? 'integer' : 'number') : Array.isArray(v) ? 'array' : v instanceof Map ? 'object' : typeof v;
const accepts = (types, actual) => types.includes(actual) || (actual === 'integer' && types.includes('number'));

function check(v, schema, root, where) {
  [schema, root] = resolve(schema, root);
  if (schema === true || schema === undefined) return;
  if (schema.anyOf) {
    let last;
    for (const branch of schema.anyOf) {
      try { check(v, branch, root, where); return; } catch (e) { if (!(e instanceof Refused)) throw e; last = e; }
    }
    throw last;
  }
  const actual = typeOf(v);
  if (v instanceof Num && v.huge) throw new Refused('out_of_range', where, `${v.text} is not a finite number`);
  if (schema.type !== undefined) {
    const types = [].concat(schema.type);
    if (!accepts(types, actual)) throw new Refused('wrong_type', where, `expected ${types.join(' or ')}, got ${actual}`);
  }
  if (schema.const !== undefined && v !== schema.const) throw new Refused('invalid_value', where, `expected ${schema.const}`);
  if (v instanceof Num) {
    const n = v.value;
    if (schema.minimum !== undefined && n < schema.minimum) throw new Refused('out_of_range', where, `below ${schema.minimum}`);
    if (schema.maximum !== undefined && n > schema.maximum) throw new Refused('out_of_range', where, `above ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && n <= schema.exclusiveMinimum) throw new Refused('out_of_range', where, `not above ${schema.exclusiveMinimum}`);
  }
  if (typeof v === 'string') {
    if (schema.enum && !schema.enum.includes(v)) throw new Refused('invalid_enum', where, `not one of ${schema.enum}`);
    const length = [...v].length;
    if (schema.minLength !== undefined && length < schema.minLength) throw new Refused('invalid_value', where, 'too short');
    if (schema.maxLength !== undefined && length > schema.maxLength) throw new Refused('invalid_value', where, 'too long');
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(v)) throw new Refused('invalid_value', where, `does not match ${schema.pattern}`);
  }
  if (Array.isArray(v)) {
    if (schema.maxItems !== undefined && v.length > schema.maxItems) throw new Refused('invalid_value', where, 'too many items');
    if (schema.items) v.forEach((item, k) => check(item, schema.items, root, `${where}[${k}]`));
  }
  if (v instanceof Map) {
    const props = schema.properties || {};
    for (const [key, item] of v) {
      if (key in props) check(item, props[key], root, `${where}.${key}`);
      else if (typeof schema.additionalProperties === 'object') check(item, schema.additionalProperties, root, `${where}.${key}`);
    }
    for (const key of schema.required || []) if (!v.has(key)) throw new Refused('missing_field', `${where}.${key}`, `missing ${key}`);
  }
}

// ---------------------------------------------------------------- messages
function pickSchema(name, doc) {
  const choices = name === 'message' || name === 'signal_frame' ? BUS : name === 'market_message' ? TOPICS.market : null;
  if (!choices) return name;
  // a Signal may omit its tag; on the signal topic that is what an untagged message is
  if (name === 'signal_frame' && !doc.has('type')) return 'signal';
  if (!doc.has('type')) throw new Refused('missing_field', '$.type', 'missing type tag');
  const tag = doc.get('type');
  if (typeof tag !== 'string') throw new Refused('wrong_type', '$.type', 'the type tag is not a string');
  const found = choices.find((c) => SCHEMAS[c]['x-type'] === tag || (SCHEMAS[c]['x-type-aliases'] || []).includes(tag));
  if (!found) throw new Refused('unknown_type', '$.type', `${tag} is not expected here`);
  return found;
}

function decodeDocument(name, payload, opts) {
  if (payload.length > opts.maxSize) throw new Refused('too_large', '$', `${payload.length} bytes`);
  let text;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(payload); } catch { throw new Refused('invalid_utf8', '$', 'not UTF-8'); }
  const doc = parseJson(text, opts.nan);
  if (!(doc instanceof Map)) throw new Refused('wrong_type', '$', 'not an object');
  const version = doc.get('schema_version');
  if (version !== undefined) {
    if (typeof version !== 'string') throw new Refused('wrong_type', '$.schema_version', 'not a string');
    const m = /^(\d+)\.(\d+)$/.exec(version);
    if (!m) throw new Refused('invalid_version', '$.schema_version', 'not MAJOR.MINOR');
    if (m[1] !== '1') throw new Refused('unsupported_version', '$.schema_version', `major ${m[1]}`);
  }
  const schemaName = pickSchema(name, doc);
  const schema = SCHEMAS[schemaName];
  let legacy = false;
  if (schema['x-type'] && doc.has('type')) {
    const tag = doc.get('type');
    if (typeof tag !== 'string') throw new Refused('wrong_type', '$.type', 'the type tag is not a string');
    legacy = (schema['x-type-aliases'] || []).includes(tag);
    if (tag !== schema['x-type'] && !legacy) throw new Refused('unknown_type', '$.type', `${tag} is not ${schema['x-type']}`);
    doc.set('type', schema['x-type']);
  }
  check(doc, schema, schema, '$');
  return { schemaName, value: canonical(doc, schema), legacy };
}

// ---------------------------------------------------------------- encoding
function number(v, schema) {
  const types = [].concat(schema && schema.type || []);
  if (types.includes('integer') || (!types.includes('number') && v.isInt)) return BigInt(v.text).toString();
  const text = String(v.value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

function write(v, schema, root) {
  [schema, root] = resolve(schema, root);
  if (v === null) return 'null';
  if (v instanceof Num) return number(v, schema && !schema.anyOf ? schema : undefined);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((item) => write(item, schema && schema.items, root)).join(',')}]`;
  const props = (schema && schema.properties) || {};
  const declared = schema && schema.properties;
  const parts = [];
  for (const [key, item] of v) {
    if (declared && !(key in props)) continue;
    const sub = declared ? props[key] : schema && typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    parts.push(`${JSON.stringify(key)}:${write(item, sub, root)}`);
  }
  return `{${parts.join(',')}}`;
}

function canonical(doc, schema) {
  const out = new Map();
  if (schema['x-type']) out.set('type', schema['x-type']);
  if (!doc.has('schema_version')) out.set('schema_version', '1.0');
  for (const [key, item] of doc) if (key !== 'type') out.set(key, item);
  // a nullable field is always written: absent reads as null
  for (const [key, sub] of Object.entries(schema.properties || {})) {
    const [resolved] = resolve(sub, schema);
    if (!out.has(key) && [].concat(resolved.type || []).includes('null')) out.set(key, null);
  }
  return write(out, schema, schema);
}

// ---------------------------------------------------------------- protocol
function decodeFrame(frame, opts) {
  if (frame.length > opts.maxSize + 64) throw new Refused('too_large', '$', 'frame too large');
  const space = frame.indexOf(0x20);
  if (space < 0) throw new Refused('bad_frame', '$', 'no space between topic and payload');
  const topic = frame.subarray(0, space);
  if (topic.length === 0 || topic.some((b) => b > 0x7e || b < 0x21)) throw new Refused('bad_frame', '$', 'empty or non-ASCII topic');
  const name = topic.toString('ascii');
  if (!(name in TOPICS)) throw new Refused('unknown_topic', '$', `topic ${name} is not in v1`);
  const decoded = decodeDocument(name === 'signal' ? 'signal_frame' : 'message', frame.subarray(space + 1), opts);
  if (SCHEMAS[decoded.schemaName]['x-topic'] !== name) throw new Refused('topic_mismatch', '$.type', `${decoded.schemaName} does not go on ${name}`);
  return { ...decoded, topic: name };
}

function serve(request) {
  const opts = { maxSize: request.max_size ?? DEFAULT_MAX_SIZE, nan: request.allow_nan_tokens === true };
  const hex = request.payload_hex ?? '';
  if (!/^([0-9a-f]{2})*$/.test(hex)) return { ok: false, code: 'bad_request', path: '$.payload_hex', message: 'not hex' };
  const payload = Buffer.from(hex, 'hex');
  switch (request.op) {
    case 'hello':
      if (request.protocol !== '1') return { ok: false, code: 'unsupported_protocol', path: '$.protocol', message: 'speaks 1' };
      return { ok: true, protocol: '1', implementation: `tradebridge node testee (Node ${process.versions.node})`, options: ['max_size', 'allow_nan_tokens'] };
    case 'decode':
    case 'roundtrip':
    case 'encode': {
      if (!(request.message in SCHEMAS) && request.message !== 'message') return { ok: false, code: 'bad_request', path: '$.message', message: 'unknown message' };
      let bytes = request.op === 'encode' ? Buffer.from(JSON.stringify(request.value)) : payload;
      let decoded = decodeDocument(request.message, bytes, opts);
      if (request.op === 'roundtrip') decoded = decodeDocument(request.message, Buffer.from(decoded.value), opts);
      return { ok: true, value: '\u0000', payload_hex: Buffer.from(decoded.value).toString('hex'), legacy: decoded.legacy, raw: decoded.value };
    }
    case 'decode_frame': {
      const decoded = decodeFrame(payload, opts);
      const frame = `${decoded.topic} ${decoded.value}`;
      return { ok: true, value: '\u0000', topic: decoded.topic, payload_hex: Buffer.from(frame).toString('hex'), legacy: decoded.legacy, raw: decoded.value };
    }
    default:
      return { ok: false, code: 'bad_request', path: '$.op', message: `unknown op ${request.op}` };
  }
}

// The value is spliced in as the encoder wrote it: JSON.stringify would turn 150.0 into 150.
function respond(id, answer) {
  const raw = answer.raw;
  delete answer.raw;
  let line = JSON.stringify({ id, ...answer });
  if (raw !== undefined) line = line.replace('"value":"\\u0000"', `"value":${raw}`);
  process.stdout.write(`${line}\n`);
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (!line.trim()) return;
  let request;
  try { request = JSON.parse(line); } catch (e) { respond(null, { ok: false, code: 'bad_request', path: '$', message: String(e) }); return; }
  try { respond(request.id ?? null, serve(request)); } catch (e) {
    if (e instanceof Refused) respond(request.id, { ok: false, code: e.code, path: e.where, message: e.message });
    else respond(request.id, { ok: false, code: 'internal', path: '$', message: String(e && e.stack || e) });
  }
});
