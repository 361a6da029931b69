// An independent Shared Signals partner (SSF 1.0, CAEP 1.0, RISC 1.0, CAEP Interoperability
// Profile 1.0, RFC 8417 / 8935 / 8936 / 9493) for Device Portal's tests, written from the
// specifications and the portal's published contract only, never from the portal's code: what
// it accepts and sends is evidence that another implementation interoperates with the portal.
//
//   node tests/idp/ssf_partner.mjs config.json
//
// config.json:
//   {"port": 0, "portal": "http://127.0.0.1:PORT" (the portal's SSF issuer),
//    "idp": "http://127.0.0.1:PORT" (OIDC issuer giving client-credentials tokens),
//    "resource": "https://portal.test/api" (the API audience the tokens are for),
//    "audience": "<aud of the SETs it sends, default: portal>",
//    "push_token": "<bearer it presents at the portal's POST /ssf/events>",
//    "poll_token": "<bearer the portal must present at its poll endpoint>"}
//
// As a RECEIVER it discovers the portal's /.well-known/ssf-configuration, gets access tokens,
// creates and manages streams, receives pushed SETs at /receiver/events/<label> (RFC 8935) and
// polls (RFC 8936), verifying each SET with its own checks. As a TRANSMITTER it publishes its
// metadata and JWKS, pushes SETs to the portal and serves polls at /transmitter/poll; it crafts
// valid events and bad ones on request. Tests drive it through /control/... (JSON).
//
// Prints "READY <issuer>" once listening; exits on SIGTERM/SIGINT. State lives in memory.

import {
  createHmac, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign as rsaSign,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import {
  compactVerify, createRemoteJWKSet, importJWK, jwtVerify,
} from 'jose';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';
const PUSH = 'urn:ietf:rfc:8935';
const POLL = 'urn:ietf:rfc:8936';
const EVENT_URIS = {
  'session-revoked': `${CAEP}session-revoked`,
  'credential-change': `${CAEP}credential-change`,
  'token-claims-change': `${CAEP}token-claims-change`,
  'account-disabled': `${RISC}account-disabled`,
  'account-enabled': `${RISC}account-enabled`,
  verification: `${SSF}verification`,
  'stream-updated': `${SSF}stream-updated`,
  unknown: 'https://partner.example/secevent/event-type/unknown',
};
const PROFILE_FORMATS = ['email', 'iss_sub']; // profile 2.5; opaque only for verification

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

// ------------------------------------------------------------------ keys
const newKey = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const mainKey = newKey();
const otherKey = newKey(); // never published: "signed with another key"
const KID = `partner-${randomBytes(6).toString('hex')}`;
const publicJwk = { ...createPublicKey(mainKey).export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
const publicPem = createPublicKey(mainKey).export({ format: 'pem', type: 'spki' });

function signRs256(header, claims, key = mainKey) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

// ------------------------------------------------------------------ http helpers
const readBody = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
};
const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
};
async function call(method, url, { token, body, contentType, headers = {} } = {}) {
  const h = { accept: 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] = contentType || 'application/json';
  }
  const r = await fetch(url, { method, headers: h, body: payload, redirect: 'manual' });
  const text = await r.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  return {
    status: r.status,
    headers: Object.fromEntries(['content-type', 'cache-control', 'www-authenticate', 'retry-after', 'location']
      .filter((k) => r.headers.has(k)).map((k) => [k, r.headers.get(k)])),
    body: parsed,
  };
}

// ======================================================== the partner as a TRANSMITTER
const defaultBodies = {
  'session-revoked': () => ({
    initiating_entity: 'admin', reason_admin: { en: 'Partner: session revoked by policy' }, event_timestamp: now(),
  }),
  'credential-change': () => ({
    credential_type: 'password', change_type: 'update', initiating_entity: 'user',
    reason_admin: { en: 'Partner: password changed' }, event_timestamp: now(),
  }),
  'token-claims-change': () => ({ claims: {}, event_timestamp: now() }),
  'account-disabled': () => ({ reason: 'hijacking' }),
  'account-enabled': () => ({}),
  unknown: () => ({}),
};

// A SET of `spec.event` about `spec.subject` (an RFC 9493 / SSF subject), made bad as
// `spec.bad` says. Returns {set, jti, claims, header}.
function craft(spec) {
  const event = spec.event || 'session-revoked';
  const uri = EVENT_URIS[event] || event;
  const body = { ...(defaultBodies[event] ? defaultBodies[event]() : {}), ...(spec.body || {}) };
  const iat = now();
  const claims = {
    iss: spec.iss || self.issuer,
    aud: spec.aud || cfg.audience || cfg.portal,
    jti: spec.jti || randomBytes(16).toString('hex'),
    iat,
    txn: randomUUID(),
    sub_id: spec.subject,
    events: { [uri]: body },
    ...(spec.extra_claims || {}),
  };
  const header = { alg: 'RS256', typ: 'secevent+jwt', kid: KID };
  let set;
  switch (spec.bad || null) {
    case null: set = signRs256(header, claims); break;
    case 'tampered': { // signed, then the subject changed under the signature
      set = signRs256(header, claims);
      const [h, , s] = set.split('.');
      const forged = { ...claims, sub_id: spec.tamper_subject || { format: 'email', email: 'mallory@example.test' } };
      set = `${h}.${b64(forged)}.${s}`;
      break;
    }
    case 'other_key': set = signRs256(header, claims, otherKey); break; // same kid, unpublished key
    case 'unknown_kid': set = signRs256({ ...header, kid: 'no-such-key' }, claims, otherKey); break;
    case 'other_audience': claims.aud = 'https://someone-else.example/'; set = signRs256(header, claims); break;
    case 'other_issuer': claims.iss = 'https://not-the-partner.example/'; set = signRs256(header, claims); break;
    case 'expired': claims.iat = iat - 7200; claims.exp = iat - 3600; set = signRs256(header, claims); break;
    case 'iat_future': claims.iat = iat + 3600; set = signRs256(header, claims); break;
    case 'two_events':
      claims.events[EVENT_URIS['account-disabled']] = { reason: 'hijacking' };
      set = signRs256(header, claims);
      break;
    case 'no_events': claims.events = {}; set = signRs256(header, claims); break;
    case 'wrong_typ': set = signRs256({ ...header, typ: 'JWT' }, claims); break;
    case 'alg_none': set = `${b64({ alg: 'none', typ: 'secevent+jwt' })}.${b64(claims)}.`; break;
    case 'hs256': { // the classic confusion: HMAC keyed with the published RSA public key
      const h = { alg: 'HS256', typ: 'secevent+jwt', kid: KID };
      const input = `${b64(h)}.${b64(claims)}`;
      set = `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
      break;
    }
    case 'not_a_jwt': set = 'this is not a security event token'; break;
    default: throw new Error(`unknown bad kind ${spec.bad}`);
  }
  return { set, jti: claims.jti, claims, header };
}

const pollQueue = new Map(); // jti -> SET, until acknowledged
const pollLog = []; // every poll the portal made: {authorized, request, returned}

// RFC 8936 section 2: the recipient POSTs {ack, setErrs, maxEvents, returnImmediately}; the
// answer is {sets: {jti: SET}, moreAvailable}. Acknowledged or refused SETs leave the queue.
// The poll endpoint is protected as SSF 1.0 section 6.1.1 says (the authorization_schemes, here
// OAuth 2.0): a JWT access token of the IdP for the API resource with scope ssf.manage or
// ssf.read (profile 2.7.2), or the static poll token of the partner's configuration.
let idpKeys = null;
async function pollCaller(auth) {
  if (!auth.startsWith('Bearer ')) return null;
  const token = auth.slice(7);
  if (token === cfg.poll_token) return 'poll_token';
  try {
    idpKeys = idpKeys || createRemoteJWKSet(new URL((await call('GET', `${cfg.idp}/.well-known/openid-configuration`)).body.jwks_uri));
    const { payload } = await jwtVerify(token, idpKeys, {
      issuer: cfg.idp, audience: cfg.resource, algorithms: ['RS256', 'ES256', 'PS256'],
    });
    const scopes = String(payload.scope || '').split(' ');
    return scopes.includes('ssf.manage') || scopes.includes('ssf.read') ? payload.client_id || payload.sub : null;
  } catch {
    return null;
  }
}

async function servePoll(req, res) {
  const caller = await pollCaller(req.headers.authorization || '');
  const entry = { authorized: Boolean(caller), caller, request: null, returned: [] };
  pollLog.push(entry);
  if (!entry.authorized) {
    return json(res, 401, { err: 'authentication_failed', description: 'bearer token required' },
      { 'www-authenticate': 'Bearer' });
  }
  let request;
  try { request = JSON.parse((await readBody(req)) || '{}'); } catch {
    return json(res, 400, { err: 'invalid_request', description: 'body is not JSON' });
  }
  entry.request = request;
  for (const jti of request.ack || []) pollQueue.delete(jti);
  for (const jti of Object.keys(request.setErrs || {})) pollQueue.delete(jti);
  const max = request.maxEvents === undefined ? Infinity : Number(request.maxEvents);
  if (max > 0 && request.returnImmediately === false && pollQueue.size === 0) {
    const until = Date.now() + 3000; // a short long poll
    while (pollQueue.size === 0 && Date.now() < until) await new Promise((r) => { setTimeout(r, 100); });
  }
  const sets = {};
  for (const [jti, set] of pollQueue) {
    if (Object.keys(sets).length >= max) break;
    sets[jti] = set;
  }
  entry.returned = Object.keys(sets);
  return json(res, 200, { sets, moreAvailable: pollQueue.size > Object.keys(sets).length });
}

// ======================================================== the partner as a RECEIVER
const state = {
  metadata: null, // the portal's transmitter configuration, as discovered
  tokens: {}, // client_id -> access token
  streams: {}, // stream_id -> {client, label, authHeader, config, states: [], pendingAcks: []}
  received: [], // every SET received, pushed or polled, with this partner's verdict
  forcedAnswers: [], // statuses to answer the next pushes with, unread
};
const streamByLabel = (label) => Object.values(state.streams).find((s) => s.label === label);

async function discover() {
  const r = await call('GET', `${cfg.portal}/.well-known/ssf-configuration`);
  const problems = [];
  const m = r.body || {};
  if (r.status !== 200) problems.push(`status ${r.status}`);
  if (!(r.headers['content-type'] || '').startsWith('application/json')) problems.push('not application/json');
  // SSF 1.0 section 6.2.1: the issuer MUST be identical to the URL the configuration came from.
  if (m.issuer !== cfg.portal) problems.push(`issuer ${m.issuer} is not ${cfg.portal}`);
  if (r.status === 200 && m.issuer === cfg.portal) state.metadata = m;
  return { ...r, problems };
}

async function clientToken({
  client_id: clientId, client_secret: secret, scope = 'ssf.manage ssf.read', store = true,
}) {
  const oidc = await call('GET', `${cfg.idp}/.well-known/openid-configuration`);
  const form = new URLSearchParams({ grant_type: 'client_credentials', scope, resource: cfg.resource });
  const r = await fetch(oidc.body.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: form.toString(),
  });
  const body = await r.json();
  if (r.status === 200 && store) state.tokens[clientId] = body.access_token; // the client's token from now on
  return { status: r.status, body };
}

const endpointOf = (name) => {
  if (!state.metadata) throw new Error('discover first');
  const url = state.metadata[`${name}_endpoint`];
  if (!url) throw new Error(`the portal advertises no ${name}_endpoint`);
  return url;
};
const tokenFor = (opts) => {
  if (opts.token === 'none') return undefined;
  if (opts.token) return opts.token;
  return state.tokens[opts.client || 'ssf-receiver-1'];
};

// Checks the iss of a stream configuration the transmitter answered (SSF 1.0 sections
// 8.1.1.1, 8.1.1.2, 8.1.1.3: the Receiver MUST confirm iss matches the Issuer).
function configProblems(config) {
  const out = [];
  const list = Array.isArray(config) ? config : [config];
  for (const c of list) {
    if (!c || typeof c !== 'object') { out.push('not a JSON object'); continue; }
    if (c.iss !== state.metadata.issuer) out.push(`iss ${c.iss} is not ${state.metadata.issuer}`);
    if (typeof c.stream_id !== 'string' || !c.stream_id) out.push('no stream_id');
    if (c.aud === undefined) out.push('no aud');
    if (!c.delivery || ![PUSH, POLL].includes(c.delivery.method)) out.push('no delivery with a profile method');
    if (!Array.isArray(c.events_delivered)) out.push('no events_delivered');
    else {
      const supported = c.events_supported || [];
      const requested = c.events_requested || [];
      for (const e of c.events_delivered) {
        if (!supported.includes(e) || !requested.includes(e)) out.push(`events_delivered has ${e} outside supported and requested`);
      }
    }
    if (c.delivery && c.delivery.method === POLL && !c.delivery.endpoint_url) out.push('poll delivery without endpoint_url');
  }
  return out;
}

async function createStream(opts) {
  const label = randomBytes(6).toString('hex');
  const authHeader = opts.authorization_header || `Bearer partner-push-${randomBytes(12).toString('hex')}`;
  const body = {};
  if (opts.delivery === 'push') {
    body.delivery = { method: PUSH, endpoint_url: `${self.issuer}/receiver/events/${label}`, authorization_header: authHeader };
  } else if (opts.delivery === 'poll') {
    body.delivery = { method: POLL };
  } // "none": no delivery at all, the transmitter MUST assume poll (SSF 1.0 section 8.1.1.1)
  if (opts.events_requested) body.events_requested = opts.events_requested;
  if (opts.description) body.description = opts.description;
  Object.assign(body, opts.extra || {}); // members outside SSF 1.0 the parties agreed on
  const r = await call('POST', endpointOf('configuration'), { token: tokenFor(opts), body });
  const problems = [];
  if (r.status !== 201) problems.push(`status ${r.status}, not 201`);
  else {
    problems.push(...configProblems(r.body));
    const wanted = opts.delivery === 'push' ? PUSH : POLL;
    if (r.body.delivery && r.body.delivery.method !== wanted) problems.push(`delivery method ${r.body.delivery.method}, asked ${wanted}`);
    state.streams[r.body.stream_id] = {
      client: opts.client || 'ssf-receiver-1', label, authHeader, config: r.body, states: [], pendingAcks: [],
    };
  }
  return { ...r, problems, label, authorization_header: authHeader };
}

// Any management call: endpoint "configuration", "status", "add_subject", "remove_subject",
// "verification" (or a URL), with the client's token (or token "none" / another token).
async function manage(opts) {
  let url = opts.url || endpointOf(opts.endpoint);
  if (opts.query) url += `?${new URLSearchParams(opts.query)}`;
  const r = await call(opts.method || 'GET', url, { token: tokenFor(opts), body: opts.body, headers: opts.headers });
  const problems = [];
  if (opts.endpoint === 'configuration' && r.status >= 200 && r.status < 300 && r.body) {
    problems.push(...configProblems(r.body));
    for (const c of Array.isArray(r.body) ? r.body : [r.body]) {
      if (c && state.streams[c.stream_id]) state.streams[c.stream_id].config = c;
    }
  }
  return { ...r, problems };
}

async function requestVerification(opts) {
  const stream = state.streams[opts.stream_id];
  if (stream && opts.state !== undefined) stream.states.push(opts.state);
  const body = { stream_id: opts.stream_id };
  if (opts.state !== undefined) body.state = opts.state;
  return call('POST', endpointOf('verification'), { token: tokenFor(opts), body });
}

// ------------------------------------------------ checking a SET the portal sent
let jwksCache = null;
async function portalKey(kid) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (!jwksCache || attempt === 1) {
      const r = await call('GET', state.metadata.jwks_uri);
      jwksCache = r.status === 200 ? r.body : { keys: [] };
    }
    const jwk = (jwksCache.keys || []).find((k) => k.kid === kid);
    if (jwk) return jwk;
  }
  return null;
}

const isNonEmptyLocalized = (v) => v && typeof v === 'object' && !Array.isArray(v)
  && Object.keys(v).length > 0 && Object.values(v).every((s) => typeof s === 'string' && s.length > 0);

function subjectFormatOk(s) {
  if (!s || typeof s !== 'object') return false;
  if (s.format === 'email') return typeof s.email === 'string' && s.email.includes('@');
  if (s.format === 'iss_sub') return typeof s.iss === 'string' && typeof s.sub === 'string';
  if (s.format === 'opaque') return typeof s.id === 'string';
  return false;
}

// Verifies one SET with this partner's own checks. `fatal` problems make it refuse the SET
// (RFC 8935 section 2.3 / RFC 8936 setErrs) with `err`; `notes` are other departures from the
// profile, recorded for the tests.
async function verifySet(token, streamId, via) {
  const fatal = [];
  const notes = [];
  let err = null;
  const fail = (code, text) => { fatal.push(text); err = err || code; };
  const stream = state.streams[streamId];
  let header = {};
  let claims = {};
  const parts = String(token).split('.');
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    fail('invalid_request', 'not a JWS compact serialization');
  }
  if (parts.length !== 3) fail('invalid_request', 'not three parts');
  // SSF 1.0 section 4.1.1 / RFC 8417 section 2.3: explicit typing.
  if (!['secevent+jwt', 'application/secevent+jwt'].includes(String(header.typ).toLowerCase())) fail('invalid_request', `typ ${header.typ}`);
  // Profile 2.6: RS256 with a key of 2048 bits or more.
  if (header.alg !== 'RS256') fail('invalid_key', `alg ${header.alg}, not RS256`);
  if (!header.kid) notes.push('no kid');
  if (!fatal.length) {
    const jwk = await portalKey(header.kid);
    if (!jwk) fail('invalid_key', `kid ${header.kid} not in the portal's JWKS`);
    else if (jwk.kty !== 'RSA') fail('invalid_key', `key type ${jwk.kty}`);
    else {
      const bits = Buffer.from(jwk.n, 'base64url').length * 8;
      if (bits < 2048) fail('invalid_key', `RSA key of ${bits} bits`);
      try {
        await compactVerify(token, await importJWK({ ...jwk, alg: 'RS256' }, 'RS256'), { algorithms: ['RS256'] });
      } catch (e) {
        fail('invalid_key', `signature: ${e.message}`);
      }
    }
  }
  const m = state.metadata || {};
  // SSF 1.0 section 4.1.6: iss matches the stream's iss and the discovered Issuer.
  if (claims.iss !== m.issuer || (stream && claims.iss !== stream.config.iss)) fail('invalid_issuer', `iss ${claims.iss}`);
  if (stream) {
    const want = [].concat(stream.config.aud);
    const got = [].concat(claims.aud);
    if (!got.length || !got.every((a) => want.includes(a))) fail('invalid_audience', `aud ${JSON.stringify(claims.aud)}`);
  } else fail('invalid_audience', `no stream ${streamId} here`);
  if (typeof claims.jti !== 'string' || !claims.jti) fail('invalid_request', 'no jti');
  if (typeof claims.iat !== 'number' || claims.iat > now() + 60) fail('invalid_request', `iat ${claims.iat}`);
  if ('exp' in claims) fail('invalid_request', 'exp present (SSF 1.0 section 4.1.7)');
  if ('sub' in claims) fail('invalid_request', 'sub present (SSF 1.0 section 4.1.2)');
  const types = Object.keys(claims.events || {});
  // Profile 2.8.1: the events claim MUST contain only one event.
  if (types.length !== 1) fail('invalid_request', `${types.length} events`);
  const type = types[0];
  const event = (claims.events || {})[type] || {};
  const sub = claims.sub_id;
  if (!sub) fail('invalid_request', 'no sub_id (SSF 1.0 section 3.1.1)');
  let profileSubject = false;
  if (type === EVENT_URIS.verification || type === EVENT_URIS['stream-updated']) {
    // SSF 1.0 sections 8.1.4.1 and 8.1.5: opaque, the stream id.
    if (!sub || sub.format !== 'opaque' || sub.id !== streamId) fail('invalid_request', `sub_id ${JSON.stringify(sub)} is not the stream`);
    else profileSubject = true;
    // SSF 1.0 section 8.1.4.1: a state that was never asked for is invalid_state; one the
    // Transmitter sent on its own initiative carries none.
    if (type === EVENT_URIS.verification && stream && event.state !== undefined && !stream.states.includes(event.state)) {
      fail('invalid_state', `state ${event.state} was never asked for`);
    }
  } else if (sub) {
    if (PROFILE_FORMATS.includes(sub.format)) profileSubject = subjectFormatOk(sub);
    else if (sub.format === 'complex') {
      const members = Object.entries(sub).filter(([k]) => k !== 'format');
      if (!members.length || !members.every(([, v]) => subjectFormatOk(v))) notes.push(`complex subject with members outside the profile: ${JSON.stringify(sub)}`);
      if (!members.some(([k, v]) => k === 'user' && PROFILE_FORMATS.includes(v.format))) notes.push('complex subject without a profile user');
    } else notes.push(`sub_id format ${sub.format} is not in the profile`);
    if (!profileSubject) notes.push(`sub_id is not a simple email or iss_sub subject: ${JSON.stringify(sub)}`);
    if (stream && Array.isArray(stream.config.events_delivered) && !stream.config.events_delivered.includes(type)) {
      notes.push(`${type} is not in events_delivered`);
    }
    // Profile 3.1 and 3.2: reason_admin non-empty.
    if ([EVENT_URIS['session-revoked'], EVENT_URIS['credential-change']].includes(type) && !isNonEmptyLocalized(event.reason_admin)) {
      notes.push('reason_admin missing or empty');
    }
  }
  const duplicate = state.received.some((r) => r.claims.jti === claims.jti && r.stream_id === streamId && r.accepted);
  return {
    via, stream_id: streamId, header, claims, event_type: type, fatal, notes, err,
    profile_subject: profileSubject, duplicate, accepted: !fatal.length, set: token, at: Date.now() / 1000,
  };
}

async function receivePush(req, res, label) {
  const stream = streamByLabel(label);
  const body = await readBody(req);
  const record = (r) => { state.received.push(r); return r; };
  const forced = state.forcedAnswers.shift();
  if (forced) {
    record({ via: 'push', stream_id: stream && Object.keys(state.streams).find((k) => state.streams[k] === stream), forced, claims: {}, accepted: false, set: body, fatal: [], notes: [] });
    return json(res, forced, forced >= 400 && forced < 500 ? { err: 'invalid_request', description: 'told to refuse' } : undefined);
  }
  if (!stream) return json(res, 404, { err: 'invalid_request', description: 'no such stream' });
  const streamId = Object.keys(state.streams).find((k) => state.streams[k] === stream);
  // SSF 1.0 section 5.1.1: the Transmitter MUST provide the authorization_header with every request.
  if (req.headers.authorization !== stream.authHeader) {
    record({ via: 'push', stream_id: streamId, claims: {}, accepted: false, set: body, fatal: ['wrong authorization header'], notes: [], err: 'authentication_failed' });
    return json(res, 401, { err: 'authentication_failed', description: 'the authorization header of the stream is required' });
  }
  if ((req.headers['content-type'] || '').split(';')[0].trim().toLowerCase() !== 'application/secevent+jwt') {
    record({ via: 'push', stream_id: streamId, claims: {}, accepted: false, set: body, fatal: [`content-type ${req.headers['content-type']}`], notes: [], err: 'invalid_request' });
    return json(res, 400, { err: 'invalid_request', description: 'Content-Type must be application/secevent+jwt' });
  }
  const verdict = record(await verifySet(body.trim(), streamId, 'push'));
  verdict.accept_header = req.headers.accept || null;
  if (!verdict.accepted) return json(res, 400, { err: verdict.err, description: verdict.fatal.join('; ') });
  res.writeHead(202);
  return res.end();
}

// RFC 8936: poll the portal's endpoint for a stream; "ack": "auto" acknowledges what earlier
// polls received and accepted, a list acknowledges those jtis.
async function poll(opts) {
  const stream = state.streams[opts.stream_id];
  if (!stream) throw new Error(`no stream ${opts.stream_id}`);
  const request = {};
  const ack = opts.ack === 'auto' || opts.ack === undefined ? stream.pendingAcks.splice(0) : opts.ack;
  if (ack.length) request.ack = ack;
  if (opts.setErrs) request.setErrs = opts.setErrs;
  if (opts.maxEvents !== undefined) request.maxEvents = opts.maxEvents;
  request.returnImmediately = opts.returnImmediately !== false;
  const url = opts.url || stream.config.delivery.endpoint_url;
  const r = await call('POST', url, { token: tokenFor({ ...opts, client: opts.client || stream.client }), body: request });
  const sets = [];
  const problems = [];
  if (r.status === 200) {
    if (!r.body || typeof r.body.sets !== 'object') problems.push('no "sets" object (RFC 8936 section 2.5)');
    if (r.body && typeof r.body.moreAvailable !== 'boolean' && r.body.moreAvailable !== undefined) problems.push('moreAvailable is not a boolean');
    for (const [jti, token] of Object.entries((r.body && r.body.sets) || {})) {
      const verdict = await verifySet(token, opts.stream_id, 'poll');
      if (verdict.claims.jti !== jti) verdict.fatal.push(`keyed ${jti} but its jti is ${verdict.claims.jti}`);
      state.received.push(verdict);
      sets.push(verdict);
      if (verdict.accepted) stream.pendingAcks.push(jti);
    }
  }
  return { status: r.status, headers: r.headers, body: r.body, request, sets, problems };
}

// ======================================================== routing
const self = { issuer: null };
const routes = {
  'POST /control/discover': () => discover(),
  'POST /control/token': (b) => clientToken(b),
  'POST /control/streams': (b) => createStream(b),
  'POST /control/manage': (b) => manage(b),
  'POST /control/verify': (b) => requestVerification(b),
  'POST /control/poll': (b) => poll(b),
  'GET /control/received': () => state.received,
  'DELETE /control/received': () => { state.received.length = 0; return {}; },
  'POST /control/answers': (b) => { state.forcedAnswers = (b.statuses || []).map(Number); return {}; },
  'GET /control/streams': () => state.streams,
  'POST /control/craft': (b) => craft(b),
  'POST /control/push': async (b) => {
    const crafted = b.set ? { set: b.set, jti: null, claims: null } : craft(b);
    let token = cfg.push_token;
    if (b.token === 'none') token = undefined;
    else if (b.token) token = b.token;
    const r = await call('POST', b.url || `${cfg.portal}/ssf/events`, {
      token, body: crafted.set, contentType: b.content_type || 'application/secevent+jwt',
    });
    return { ...r, ...crafted };
  },
  'POST /control/queue': (b) => {
    const crafted = b.set ? { set: b.set, jti: b.jti } : craft(b);
    pollQueue.set(crafted.jti, crafted.set);
    return crafted;
  },
  'GET /control/queue': () => [...pollQueue.keys()],
  'GET /control/polls': () => pollLog,
  'DELETE /control/all': () => {
    state.received.length = 0; state.forcedAnswers = []; pollQueue.clear(); pollLog.length = 0;
    state.streams = {}; state.tokens = {}; state.metadata = null; jwksCache = null;
    return {};
  },
};

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => { server.listen(Number(cfg.port || 0), '127.0.0.1', resolve); });
  self.issuer = `http://127.0.0.1:${server.address().port}`;

  server.on('request', async (req, res) => {
    const path = req.url.split('?')[0];
    try {
      if (req.method === 'GET' && path === '/.well-known/ssf-configuration') {
        return json(res, 200, {
          spec_version: '1_0',
          issuer: self.issuer,
          jwks_uri: `${self.issuer}/jwks.json`,
          delivery_methods_supported: [PUSH, POLL],
          authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
          default_subjects: 'ALL',
        });
      }
      if (req.method === 'GET' && path === '/jwks.json') return json(res, 200, { keys: [publicJwk] });
      if (req.method === 'POST' && path === '/transmitter/poll') return await servePoll(req, res);
      const push = /^\/receiver\/events\/([0-9a-f]+)$/.exec(path);
      if (req.method === 'POST' && push) return await receivePush(req, res, push[1]);
      const handler = routes[`${req.method} ${path}`];
      if (!handler) return json(res, 404, { error: `no route ${req.method} ${path}` });
      const text = await readBody(req);
      const result = await handler(text ? JSON.parse(text) : {});
      return json(res, 200, result);
    } catch (err) {
      console.error('partner error', err);
      if (!res.headersSent) return json(res, 500, { error: String(err.message || err) });
      return res.end();
    }
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`READY ${self.issuer}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
