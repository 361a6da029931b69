// A real OpenID provider (panva's oidc-provider) for Device Portal integration tests.
//
//   node tests/idp/server.mjs config.json
//
// config.json:
//   {"port": 0, "issuer": "http://127.0.0.1:PORT", "client_id": "portal",
//    "client_secret": "portal-secret", "audience": "https://portal.test/api",
//    "accounts": [{"sub": "...", "email": "...", "name": "...", "groups": ["..."]}]}
//
//   Optional "ssf": {"issuer": "<portal origin>", "audience": "<aud, default: this issuer>",
//                    "jwks": {"keys": [...]} or "jwks_uri": "...", "token": "<bearer>"}
//   makes POST /ssf/events a Shared Signals receiver: it verifies each pushed CAEP
//   session-revoked SET (RFC 8935) and ends the IdP session whose sid it names.
//
// Prints "READY <issuer>" once listening; exits on SIGTERM/SIGINT.
// Everything lives in memory (oidc-provider's memory adapter): restart = clean slate.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import {
  createLocalJWKSet, createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify,
} from 'jose';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const API_SCOPES = ['devices:read', 'devices:write'];
// Shared Signals receivers managing their streams on the portal (SSF 1.0 section 8): machine
// clients with the client-credentials grant, whose JWT access tokens are for the API resource.
const SSF_SCOPES = ['ssf.manage', 'ssf.read'];
const SSF_CLIENTS = [
  { client_id: 'ssf-receiver-1', client_secret: 'ssf-secret-1' },
  { client_id: 'ssf-receiver-2', client_secret: 'ssf-secret-2' },
];
const CALLBACK_PATH = '/auth/callback';

// ---------------------------------------------------------------- accounts
const accounts = cfg.accounts || [];
const findAccountByLogin = (login) => {
  const value = String(login || '').trim().toLowerCase();
  if (!value) return undefined;
  return accounts.find((a) => a.sub.toLowerCase() === value || (a.email || '').toLowerCase() === value);
};
const claimsOf = (a) => ({
  sub: a.sub,
  email: a.email,
  email_verified: true,
  name: a.name,
  groups: a.groups || [],
});

// --------------------------------------------------------------- loopback
const isLoopbackHttp = (value) => {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(u.hostname) && !u.hash;
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------- html
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));
const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}.error{color:#b00}</style>
</head><body>${body}</body></html>`;

const loginPage = (uid, clientId, error, login = '') => page('Test IdP - Sign in', `
<h1>Test IdP</h1>
<p>Sign in to <strong>${esc(clientId)}</strong>. Enter a test account's sub or email (no password).</p>
${error ? `<p class="error" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Account <input type="text" name="login" value="${esc(login)}" autofocus></label>
  <button type="submit" id="login-submit">Sign in</button>
</form>`);

// ------------------------------------------------------- sessions by sid
// The memory adapter, remembering which stored Session holds each client's sid (the ID
// token's "sid"), so a session-revoked event naming a sid finds the IdP session to end.
const sessionIdBySid = new Map();
const accountBySid = new Map(); // sid -> accountId, for GET /test/sids (tests name one session)
class Adapter extends MemoryAdapter {
  async upsert(id, payload, expiresIn) {
    if (this.model === 'Session') {
      for (const { sid } of Object.values(payload.authorizations || {})) {
        if (sid) sessionIdBySid.set(sid, id);
        if (sid && payload.accountId) accountBySid.set(sid, payload.accountId);
      }
    }
    return super.upsert(id, payload, expiresIn);
  }
}

// -------------------------------------------------------------- provider
async function main() {
  const port = Number(cfg.port || 0);
  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = cfg.issuer || `http://127.0.0.1:${server.address().port}`;
  const audience = cfg.audience;

  // RS256 signing key, generated fresh at every start.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig',
  };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: cfg.client_id,
      client_secret: cfg.client_secret,
      // Placeholders: any loopback .../auth/callback is accepted (see patch below).
      redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`],
      post_logout_redirect_uris: ['http://127.0.0.1/'],
      // OIDC Back-Channel Logout: the portal's endpoint, with the IdP session id (sid).
      ...(cfg.backchannel_logout_uri ? {
        backchannel_logout_uri: cfg.backchannel_logout_uri,
        backchannel_logout_session_required: true,
      } : {}),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // client_secret_post is accepted too: oidc-provider treats basic/post alike.
      token_endpoint_auth_method: 'client_secret_basic',
    }, ...SSF_CLIENTS.map((c) => ({
      ...c,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: SSF_SCOPES.join(' '),
      token_endpoint_auth_method: 'client_secret_basic',
    }))],
    jwks: { keys: [signingKey] },
    adapter: Adapter,
    ttl: {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400,
      Interaction: 3600, Session: 86400, Grant: 86400,
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    // Refresh tokens for every code exchange (no offline_access consent dance in tests).
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // oidc-provider refuses outgoing requests to loopback and other special-use addresses
    // (SSRF protection). The portal under test listens on 127.0.0.1, so the back-channel
    // logout request to exactly that configured URI goes out without the guard.
    fetch: (url, options) => {
      if (cfg.backchannel_logout_uri && String(url) === new URL(cfg.backchannel_logout_uri).href) {
        delete options.dispatcher;
      }
      return globalThis.fetch(url, options);
    },

    async findAccount(ctx, sub) {
      const account = accounts.find((a) => a.sub === sub);
      if (!account) return undefined;
      return { accountId: account.sub, claims: async () => claimsOf(account) };
    },
    // Which claims each scope releases; groups travels with `profile`.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    scopes: ['openid', 'email', 'profile', 'offline_access', ...API_SCOPES, ...SSF_SCOPES],
    // Put scope-requested claims IN the ID token (the RP reads them there).
    conformIdTokenClaims: false,

    pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },

    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // Auto-confirm the logout (a browser submits at once; plain HTTP clients
        // can POST the form: xsrf + logout=yes).
        async logoutSource(ctx, form) {
          const autoForm = form.replace('</form>',
            '<input type="hidden" name="logout" value="yes"/><button type="submit" id="logout-submit">Sign out</button></form>');
          ctx.body = page('Test IdP - Signing out', `<h1>Signing out…</h1>${autoForm}
<script>document.getElementById('op.logoutForm').submit()</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Test IdP - Signed out', '<h1 id="signed-out">Signed out</h1>');
        },
      },
      // RFC 8707: one resource server, the portal API, issuing RFC 9068 JWTs.
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => {
          if (oneOf) return oneOf.includes(audience) ? audience : oneOf[0];
          return audience;
        },
        useGrantedResource: async () => false, // no resource at /token + openid => opaque token for userinfo
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) throw new Provider.errors.InvalidTarget();
          return {
            audience,
            scope: [...API_SCOPES, ...SSF_SCOPES].join(' '),
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    // Identity claims for JWT access tokens (RFC 9068 adds iss/aud/sub/client_id/jti/iat/exp/scope).
    // auth_time (RFC 9068 2.2.1) is when the user authenticated, also for tokens minted from
    // a refresh token: the portal refuses those whose client was revoked after that time.
    async extraTokenClaims(ctx, token) {
      const account = accounts.find((a) => a.sub === token.accountId);
      if (!account) return undefined;
      const { email, name, groups } = claimsOf(account);
      const entities = ctx?.oidc?.entities || {};
      const authTime = entities.RefreshToken?.authTime ?? entities.AuthorizationCode?.authTime;
      return { email, name, groups, ...(authTime ? { auth_time: authTime } : {}) };
    },

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Test IdP - Error', `<h1>Error</h1><pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`);
    },
  });

  // Relax redirect checks: any http loopback URL (any port) whose path is
  // /auth/callback, and any http loopback URL after logout. Tests pick ports dynamically.
  const { Client } = provider;
  Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    return isLoopbackHttp(value) && new URL(value).pathname === CALLBACK_PATH;
  };
  Client.prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    return isLoopbackHttp(value);
  };

  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  // ------------------------------------------------------ interactions
  const readForm = (req) => new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
  const send = (res, status, html) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  };

  // Grant everything that was asked for (scopes, claims, resource scopes).
  async function autoConsent(req, res, details) {
    const { prompt: { details: missing }, params, session } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  async function interaction(req, res, uid, action) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return send(res, 400, page('Test IdP - Error', `<h1>Error</h1><p id="error">${esc(err.message)}</p>`));
    }
    if (details.uid !== uid) return send(res, 400, page('Test IdP - Error', '<h1>Error</h1><p id="error">interaction mismatch</p>'));
    const clientId = details.params.client_id;

    if (details.prompt.name === 'consent') return autoConsent(req, res, details);
    if (details.prompt.name !== 'login') return send(res, 400, page('Test IdP - Error', `<p id="error">unsupported prompt ${esc(details.prompt.name)}</p>`));

    if (req.method === 'GET') return send(res, 200, loginPage(uid, clientId, undefined, details.params.login_hint));
    if (req.method === 'POST' && action === 'login') {
      const login = (await readForm(req)).get('login');
      const account = findAccountByLogin(login);
      if (!account) return send(res, 200, loginPage(uid, clientId, `Unknown account: ${login || '(empty)'}`, login));
      return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    }
    return send(res, 405, page('Test IdP - Error', '<p id="error">method not allowed</p>'));
  }

  // Test-only: a logout token signed exactly as the IdP signs its own (POST JSON
  // {"sub", "sid", "claims": {...}}), so tests can replay one or send a sub-only logout.
  async function mintLogoutToken(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    const client = await provider.Client.find(cfg.client_id);
    const token = new provider.IdToken(body.sub ? { sub: body.sub } : {}, { client, ctx: undefined });
    if (body.sub) token.mask = { sub: null };
    token.set('events', { 'http://schemas.openid.net/event/backchannel-logout': {} });
    token.set('jti', randomBytes(16).toString('hex'));
    if (body.sid) token.set('sid', body.sid);
    for (const [key, value] of Object.entries(body.claims || {})) token.set(key, value);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ logout_token: await token.issue({ use: 'logout' }) }));
  }

  // ------------------------------------------ Shared Signals receiver (SSF push)
  const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
  const ssf = cfg.ssf || null;
  const transmitterKeys = ssf && (ssf.jwks
    ? createLocalJWKSet(ssf.jwks)
    : ssf.jwks_uri && createRemoteJWKSet(new URL(ssf.jwks_uri)));
  const pushes = []; // every push received: {jti, status, err}, for tests to read
  const seenJti = new Set();
  let forcedAnswers = []; // test-only: statuses to answer the next pushes with, in turn

  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const readBody = async (req) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  };
  const verifyError = (err) => {
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === 'iss') return 'invalid_issuer';
      if (err.claim === 'aud') return 'invalid_audience';
      return 'invalid_request';
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed
      || err instanceof joseErrors.JWKSNoMatchingKey
      || err instanceof joseErrors.JOSEAlgNotAllowed) return 'invalid_key';
    return 'invalid_request';
  };

  // RFC 8935: 202 when taken; 400 with {"err", "description"} when refused.
  async function receiveSet(req, res) {
    const body = await readBody(req);
    let jti = null; // what the log records: read unverified, then as verified
    try { jti = decodeJwt(body.trim()).jti || null; } catch { /* not a JWT */ }
    const answer = (status, err, description) => {
      pushes.push({ jti, status, err: err || null });
      if (!err) return json(res, status);
      return json(res, status, { err, description });
    };
    const forced = forcedAnswers.shift();
    if (forced) return answer(forced, forced >= 400 && forced < 500 ? 'invalid_request' : null, 'told to refuse');
    if (!ssf) return answer(404, 'invalid_request', 'no receiver configured');
    if (ssf.token && req.headers.authorization !== `Bearer ${ssf.token}`) {
      return answer(401, 'authentication_failed', 'a bearer token is required');
    }
    if ((req.headers['content-type'] || '').split(';')[0].trim() !== 'application/secevent+jwt') {
      return answer(400, 'invalid_request', 'Content-Type must be application/secevent+jwt');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(body.trim(), transmitterKeys, {
        issuer: ssf.issuer,
        audience: ssf.audience || issuer,
        typ: 'secevent+jwt',
        algorithms: ['ES256', 'RS256'],
      }));
    } catch (err) {
      return answer(400, verifyError(err), err.message);
    }
    jti = payload.jti || null;
    const event = payload.events && payload.events[SESSION_REVOKED];
    const subject = payload.sub_id || {};
    const sid = subject.format === 'complex' && subject.session?.format === 'opaque'
      ? subject.session.id : null;
    if (!jti || !event || !sid) return answer(400, 'invalid_request', 'not a session-revoked event naming a session');
    if (!seenJti.has(jti)) {
      seenJti.add(jti);
      const sessionId = sessionIdBySid.get(sid);
      const session = sessionId && await provider.Session.find(sessionId);
      const user = subject.user;
      if (session && (!user || user.sub === session.accountId)) {
        await session.destroy();
        sessionIdBySid.delete(sid);
      }
    }
    return answer(202);
  }

  // ------------------------------------------------------------ routing
  const oidc = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url === '/ssf/events') {
      return receiveSet(req, res).catch((err) => {
        console.error('ssf receiver error', err);
        if (!res.headersSent) json(res, 500, { err: 'server_error', description: err.message });
      });
    }
    if (req.url === '/test/ssf/pushes') { // test-only: what the receiver was sent
      if (req.method === 'DELETE') { pushes.length = 0; forcedAnswers = []; return json(res, 204); }
      return json(res, 200, pushes);
    }
    if (req.method === 'POST' && req.url === '/test/ssf/answers') { // test-only
      return readBody(req).then((text) => {
        forcedAnswers = JSON.parse(text || '[]').map(Number);
        json(res, 204);
      });
    }
    if (req.method === 'GET' && req.url.startsWith('/test/sids?')) { // test-only: an account's sids
      const sub = new URL(req.url, issuer).searchParams.get('sub');
      return json(res, 200, [...accountBySid].filter(([, a]) => a === sub).map(([sid]) => sid));
    }
    if (req.method === 'POST' && req.url === '/test/logout-token') {
      return mintLogoutToken(req, res).catch((err) => {
        console.error('logout token error', err);
        res.writeHead(500);
        res.end(String(err.message));
      });
    }
    const m = /^\/interaction\/([^/?]+)(?:\/(login))?\/?(?:\?.*)?$/.exec(req.url);
    if (!m) return oidc(req, res);
    return interaction(req, res, m[1], m[2]).catch((err) => {
      console.error('interaction error', err);
      if (!res.headersSent) send(res, 500, page('Test IdP - Error', `<p id="error">${esc(err.message)}</p>`));
      else res.end();
    });
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
