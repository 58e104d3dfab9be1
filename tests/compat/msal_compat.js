#!/usr/bin/env node
// Microsoft's own client libraries against the tenant emulator: MSAL for Node (@azure/msal-node) and the
// Azure Identity library (@azure/identity), unchanged, at the versions deploy/local/bootstrap.sh pins in
// tools/. One line per case (PASS/FAIL name: detail); the exit status is 1 if any case failed.
//
// Run it with ctest (`ctest --preset default -L compat`, after building tenant-emulator), or by hand:
//   NODE_EXTRA_CA_CERTS=build/tenant_emulator_certs/ca.pem NODE_PATH=tools/node_modules \
//     node tests/compat/msal_compat.js build/bin/tenant-emulator build/tenant_emulator_certs
//
// The libraries reach the emulator the way a deployment behind a corporate proxy reaches Microsoft: a
// CONNECT proxy started here tunnels every <host>:443 to the emulator (which serves every Microsoft host
// name on one port), and the emulator's CA is trusted through NODE_EXTRA_CA_CERTS. Azure Identity takes
// the proxy from its documented `proxyOptions`. MSAL for Node's own `system.proxyUrl` cannot reach an
// HTTPS endpoint through a CONNECT proxy: its HttpClient writes the request in clear text into the tunnel
// (and names the host without a port in CONNECT), so MSAL gets its documented extension point instead, a
// `system.networkClient` that tunnels through the same proxy and speaks TLS inside the tunnel.
'use strict';

const assert = require('node:assert/strict');
const child_process = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');

let msal, identity;
try {
  msal = require('@azure/msal-node');
  identity = require('@azure/identity');
} catch (error) {
  console.error(`FAIL harness: ${error.message}\n(run deploy/local/bootstrap.sh: it installs the pinned ` +
                '@azure/msal-node and @azure/identity into tools/, and set NODE_PATH=tools/node_modules)');
  process.exit(1);
}

const [emulatorBinary, certDir] = process.argv.slice(2);
if (!emulatorBinary || !certDir) {
  console.error('usage: msal_compat.js TENANT_EMULATOR_BINARY CERT_DIR');
  process.exit(2);
}

const TENANT = 'contoso.onmicrosoft.com';
const TENANT_ID = '7f1d1c1e-0000-4000-8000-000000000001';
const APP = '11111111-1111-4111-8111-111111111111';
const SECRET = 'contoso-compat-secret';
const PUBLIC_CLIENT = '14d82eec-204b-4c2f-b7e8-296a70dab67e';
const ADMIN = 'admin@contoso.onmicrosoft.com';
const ADMIN_PASSWORD = 'Contoso-Admin-1!';
const AUTHORITY = `https://login.microsoftonline.com/${TENANT}`;
const GRAPH = 'https://graph.microsoft.com/.default';
const SHAREPOINT_ADMIN = 'https://contoso-admin.sharepoint.com/.default';

const certificatePem = fs.readFileSync(path.join(certDir, 'migration-app.pem'), 'utf8');
const privateKeyPem = fs.readFileSync(path.join(certDir, 'migration-app.key'), 'utf8');
const certificateDer = new crypto.X509Certificate(certificatePem).raw;
const sha1Hex = crypto.createHash('sha1').update(certificateDer).digest('hex');
const sha256Hex = crypto.createHash('sha256').update(certificateDer).digest('hex');

// ---- the emulator ----------------------------------------------------------------------------------

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
fs.copyFileSync(path.join(__dirname, 'seed.yaml'), path.join(workDir, 'seed.yaml'));
fs.copyFileSync(path.join(certDir, 'migration-app.pem'), path.join(workDir, 'migration-app.pem'));
const readyFile = path.join(workDir, 'ready.json');
const emulator = child_process.spawn(
    emulatorBinary,
    ['--seed', path.join(workDir, 'seed.yaml'), '--tls-cert', path.join(certDir, 'emulator.pem'), '--tls-key',
     path.join(certDir, 'emulator.key'), '--signing-key', path.join(certDir, 'emulator-signing.key'), '--address',
     '127.0.0.1:0', '--ready-file', readyFile, '--threads', '16'],
    {stdio: ['ignore', 'ignore', fs.openSync(path.join(workDir, 'emulator.log'), 'w')]});
emulator.on('error', (error) => {
  console.log(`FAIL harness: cannot start ${emulatorBinary}: ${error.message} (build the tenant-emulator target)`);
  process.exit(1);
});
let emulatorPort = 0;

async function waitForEmulator() {
  for (let i = 0; i < 300; ++i) {
    if (emulator.exitCode !== null) throw new Error(`tenant-emulator exited with ${emulator.exitCode}`);
    if (fs.existsSync(readyFile)) {
      emulatorPort = Number(JSON.parse(fs.readFileSync(readyFile, 'utf8')).address.split(':').pop());
      return;
    }
    await sleep(100);
  }
  throw new Error('tenant-emulator did not become ready in 30 s');
}

// The emulator's admin API (/_emulator/...), straight to its port.
function admin(method, route, body) {
  return new Promise((resolve, reject) => {
    const request = https.request(
        {host: '127.0.0.1', port: emulatorPort, servername: 'login.microsoftonline.com', method,
         path: `/_emulator/${route}`, headers: {host: 'login.microsoftonline.com', 'content-type': 'application/json'}},
        (response) => {
          let text = '';
          response.on('data', (chunk) => text += chunk);
          response.on('end', () => {
            if (response.statusCode >= 300) return reject(new Error(`${route}: ${response.statusCode} ${text}`));
            resolve(text.startsWith('{') ? JSON.parse(text) : text);
          });
        });
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
const accounting = () => admin('GET', 'accounting');
const tokenRequests = async () => (await accounting()).requests.by_route['entra.token'] || 0;
async function tokensIssued(grantType) {
  const text = await admin('GET', 'metrics');
  const line = text.split('\n').find((l) => l.startsWith(`tenant_emulator_tokens_issued_total{grant_type="${grantType}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

// ---- the corporate proxy ---------------------------------------------------------------------------

const tunnels = [];  // the CONNECT targets, in order
const proxy = http.createServer((request, response) => {
  response.writeHead(405).end('CONNECT only');
});
proxy.on('connect', (request, client, head) => {
  tunnels.push(request.url);
  const [, port] = request.url.split(':');
  if (port !== '443') {
    client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    return;
  }
  const upstream = net.connect(emulatorPort, '127.0.0.1', () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});
let proxyPort = 0;

// MSAL's INetworkModule over the proxy: CONNECT, then TLS to the real host name inside the tunnel.
// `responses` keeps each answer's URL, status and headers for the cases that look at them.
const responses = [];
const msalNetwork = {
  sendGetRequestAsync: (url, options) => send('GET', url, options),
  sendPostRequestAsync: (url, options) => send('POST', url, options),
};
function connectThroughProxy(host) {
  return new Promise((resolve, reject) => {
    const request = http.request({host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: `${host}:443`});
    request.on('connect', (response, socket) => {
      if (response.statusCode !== 200) return reject(new Error(`proxy answered ${response.statusCode}`));
      resolve(socket);
    });
    request.on('error', reject);
    request.end();
  });
}
async function send(method, urlString, options = {}) {
  const url = new URL(urlString);
  const socket = await connectThroughProxy(url.hostname);
  return new Promise((resolve, reject) => {
    const body = options.body || '';
    const headers = {...(options.headers || {})};
    if (method === 'POST') headers['content-length'] = Buffer.byteLength(body);
    const request = https.request(
        {method, host: url.hostname, path: url.pathname + url.search, headers,
         createConnection: () => tls.connect({socket, servername: url.hostname})},
        (response) => {
          let text = '';
          response.on('data', (chunk) => text += chunk);
          response.on('end', () => {
            const answer = {url: urlString, status: response.statusCode, headers: response.headers};
            responses.push(answer);
            let parsed = {};
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = {error: 'not_json', error_description: text};
            }
            resolve({headers: response.headers, body: parsed, status: response.statusCode});
          });
        });
    request.on('error', reject);
    request.end(method === 'POST' ? body : undefined);
  });
}
const msalSystem = {networkClient: msalNetwork};
const identityProxy = () => ({proxyOptions: {host: 'http://127.0.0.1', port: proxyPort}});

// ---- helpers ---------------------------------------------------------------------------------------

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}
async function assertionsSince(count) {
  return (await accounting()).client_assertions.slice(count);
}
async function assertionCount() {
  return (await accounting()).client_assertions.length;
}
function confidential(credential) {
  return new msal.ConfidentialClientApplication(
      {auth: {clientId: APP, authority: AUTHORITY, ...credential}, system: msalSystem});
}
function publicClient(authority = AUTHORITY) {
  return new msal.PublicClientApplication({auth: {clientId: PUBLIC_CLIENT, authority}, system: msalSystem});
}
// A device code sign-in the admin approves (or declines) through the emulator's admin API, as they
// would on https://microsoft.com/devicelogin.
function deviceCode(app, approve) {
  return app.acquireTokenByDeviceCode({
    scopes: [GRAPH],
    deviceCodeCallback: (response) => {
      const decision = approve ? admin('POST', 'devicecode/approve', {user_code: response.userCode, upn: ADMIN})
                               : admin('POST', 'devicecode/decline', {user_code: response.userCode});
      decision.catch((error) => console.error(`admin decision failed: ${error.message}`));
    },
  });
}

// ---- the cases -------------------------------------------------------------------------------------

const cases = [];
const test = (name, fn) => cases.push({name, fn});

test('msal-node: client secret gives an app token with appidacr 1', async () => {
  const result = await confidential({clientSecret: SECRET}).acquireTokenByClientCredential({scopes: [GRAPH]});
  const claims = claimsOf(result.accessToken);
  assert.equal(claims.appid, APP);
  assert.equal(claims.appidacr, '1', 'a secret is appidacr 1');
  return `appidacr ${claims.appidacr}, aud ${claims.aud}`;
});

test('msal-node: certificate with a SHA-1 thumbprint (RS256, x5t) gives appidacr 2', async () => {
  const before = await assertionCount();
  const result = await confidential({clientCertificate: {thumbprint: sha1Hex, privateKey: privateKeyPem}})
                     .acquireTokenByClientCredential({scopes: [GRAPH]});
  assert.equal(claimsOf(result.accessToken).appidacr, '2', 'a certificate is appidacr 2');
  const [record] = await assertionsSince(before);
  assert.ok(record, 'the emulator recorded no assertion');
  assert.equal(record.header.alg, 'RS256');
  assert.equal(record.header.x5t, Buffer.from(sha1Hex, 'hex').toString('base64url'));
  assert.equal(record.claims.aud, `${AUTHORITY}/oauth2/v2.0/token`);
  return `${record.header.alg} x5t, aud ${record.claims.aud}`;
});

test('msal-node: certificate with a SHA-256 thumbprint (PS256, x5t#S256) gives appidacr 2', async () => {
  const before = await assertionCount();
  const result = await confidential({clientCertificate: {thumbprintSha256: sha256Hex, privateKey: privateKeyPem}})
                     .acquireTokenByClientCredential({scopes: [GRAPH]});
  assert.equal(claimsOf(result.accessToken).appidacr, '2');
  const [record] = await assertionsSince(before);
  assert.ok(record, 'the emulator recorded no assertion');
  assert.equal(record.header.alg, 'PS256');
  assert.equal(record.header['x5t#S256'], Buffer.from(sha256Hex, 'hex').toString('base64url'));
  return `${record.header.alg} x5t#S256`;
});

test('msal-node: a second acquire of the same scope is served from the token cache', async () => {
  const app = confidential({clientSecret: SECRET});
  const first = await app.acquireTokenByClientCredential({scopes: [GRAPH]});
  const requests = await tokenRequests();
  const second = await app.acquireTokenByClientCredential({scopes: [GRAPH]});
  assert.equal(await tokenRequests(), requests, 'the second acquire reached the token endpoint');
  assert.equal(second.fromCache, true);
  assert.equal(second.accessToken, first.accessToken);
  return 'no second token request';
});

test('msal-node: device code approved through the admin API (grant_type=device_code)', async () => {
  const result = await deviceCode(publicClient(), true);
  assert.equal(claimsOf(result.accessToken).upn, ADMIN);
  assert.equal(result.account.username, ADMIN);
  return `signed in as ${result.account.username}`;
});

test('msal-node: a declined device code is reported by the library', async () => {
  // MSAL for Node reports any polling error other than authorization_pending as post_request_failed,
  // with Entra's error as the message.
  await assert.rejects(deviceCode(publicClient(), false), (error) => {
    assert.match(error.message, /authorization_declined/, `${error.errorCode}: ${error.message}`);
    return true;
  });
  return 'rejected with authorization_declined';
});

test('msal-node: username and password (ROPC) for a seeded admin', async () => {
  const result = await publicClient().acquireTokenByUsernamePassword(
      {scopes: [GRAPH], username: ADMIN, password: ADMIN_PASSWORD});
  assert.equal(claimsOf(result.accessToken).upn, ADMIN);
  assert.equal(claimsOf(result.accessToken).appidacr, '0');
  await assert.rejects(publicClient().acquireTokenByUsernamePassword(
                           {scopes: [GRAPH], username: ADMIN, password: 'wrong'}),
                       (error) => error.errorCode === 'invalid_grant');
  return 'token for the admin; a wrong password is invalid_grant';
});

test('msal-node: acquireTokenSilent with forceRefresh redeems the refresh token', async () => {
  const app = publicClient();
  const scopes = ['https://graph.microsoft.com/User.Read'];
  const first = await app.acquireTokenByUsernamePassword({scopes, username: ADMIN, password: ADMIN_PASSWORD});
  await sleep(1100);  // a new token differs in iat/exp
  const refreshes = await tokensIssued('refresh_token');
  const silent = await app.acquireTokenSilent({account: first.account, scopes, forceRefresh: true});
  assert.equal(await tokensIssued('refresh_token'), refreshes + 1, 'no refresh_token grant reached the emulator');
  assert.notEqual(silent.accessToken, first.accessToken);
  assert.equal(silent.fromCache, false);
  const requests = await tokenRequests();
  const cached = await app.acquireTokenSilent({account: first.account, scopes});
  assert.equal(cached.fromCache, true, 'the refreshed token was not cached');
  assert.equal(await tokenRequests(), requests);
  return 'new access token from the refresh token, then served from the cache';
});

test('msal-node: instance discovery refuses an authority host Entra does not know', async () => {
  // MSAL asks login.microsoftonline.com about a host it has no metadata for; on invalid_instance it
  // stops (untrusted authority, reported as endpoints_resolution_error) and never contacts the host.
  const from = responses.length, tunnelsFrom = tunnels.length;
  await assert.rejects(
      publicClient('https://login.contoso.example/contoso.onmicrosoft.com')
          .acquireTokenByUsernamePassword({scopes: [GRAPH], username: ADMIN, password: ADMIN_PASSWORD}),
      (error) => {
        assert.equal(error.errorCode, 'endpoints_resolution_error', `${error.errorCode}: ${error.message}`);
        return true;
      });
  const discovery = responses.slice(from).filter((r) => r.url.includes('/common/discovery/instance'));
  assert.deepEqual(discovery.map((r) => r.status), [400], 'instance discovery was not asked once, or did not refuse');
  assert.ok(!tunnels.slice(tunnelsFrom).some((t) => t.startsWith('login.contoso.example')),
            'MSAL went on to the unknown host');
  return `${discovery[0].url.split('?')[0]} 400, the unknown host never contacted`;
});

test('token answers carry Cache-Control: no-store and Pragma: no-cache (success and error)', async () => {
  const from = responses.length;
  await confidential({clientSecret: SECRET}).acquireTokenByClientCredential({scopes: [SHAREPOINT_ADMIN]});
  await assert.rejects(confidential({clientSecret: 'wrong'}).acquireTokenByClientCredential({scopes: [GRAPH]}));
  const answers = responses.slice(from).filter((r) => new URL(r.url).pathname.endsWith('/oauth2/v2.0/token'));
  assert.deepEqual(answers.map((r) => r.status), [200, 401]);
  for (const answer of answers) {
    assert.match(answer.headers['cache-control'] || '', /no-store/, `status ${answer.status}`);
    assert.equal(answer.headers.pragma, 'no-cache');
  }
  return `${answers[0].headers['cache-control']} on 200 and 401`;
});

test('azure-identity: ClientSecretCredential through proxyOptions gives appidacr 1', async () => {
  const from = tunnels.length;
  const credential = new identity.ClientSecretCredential(TENANT, APP, SECRET, identityProxy());
  const token = await credential.getToken(GRAPH);
  assert.equal(claimsOf(token.token).appidacr, '1');
  assert.ok(tunnels.slice(from).includes('login.microsoftonline.com:443'), 'the request did not go through the proxy');
  return 'appidacr 1, through the proxy';
});

test('azure-identity: HTTPS_PROXY from the environment works as well', async () => {
  const from = tunnels.length;
  process.env.HTTPS_PROXY = `http://127.0.0.1:${proxyPort}`;
  try {
    const token = await new identity.ClientSecretCredential(TENANT, APP, SECRET).getToken(GRAPH);
    assert.equal(claimsOf(token.token).appid, APP);
  } finally {
    delete process.env.HTTPS_PROXY;
  }
  assert.ok(tunnels.slice(from).includes('login.microsoftonline.com:443'), 'the request did not go through the proxy');
  return 'through the proxy';
});

test('azure-identity: ClientCertificateCredential (SHA-1, certificate chain) signs in to Graph and SharePoint admin with one assertion', async () => {
  const before = await assertionCount();
  const credential = new identity.ClientCertificateCredential(
      TENANT, APP, {certificate: `${privateKeyPem}\n${certificatePem}`},
      {...identityProxy(), sendCertificateChain: true});
  const graph = await credential.getToken(GRAPH);
  const sharepoint = await credential.getToken(SHAREPOINT_ADMIN);
  assert.equal(claimsOf(graph.token).aud, 'https://graph.microsoft.com');
  assert.equal(claimsOf(sharepoint.token).aud, 'https://contoso-admin.sharepoint.com');
  assert.equal(claimsOf(sharepoint.token).appidacr, '2', 'SharePoint needs a certificate token');
  const records = await assertionsSince(before);
  assert.equal(records.length, 2, 'one assertion per scope');
  assert.ok(records[0].header.x5t, 'no x5t');
  const reused = records[0].claims.jti === records[1].claims.jti;
  assert.ok(reused, 'the library signed a new assertion for the second scope: the reuse case was not exercised');
  return `both scopes, the second with the same assertion (jti ${records[0].claims.jti.slice(0, 8)}…)`;
});

test('azure-identity: the SharePoint admin host accepts the certificate token and refuses the secret one', async () => {
  const call = (token) => new Promise((resolve, reject) => {
    const request = https.request(
        {host: '127.0.0.1', port: emulatorPort, servername: 'contoso-admin.sharepoint.com', method: 'POST',
         path: '/_api/contextinfo', headers: {host: 'contoso-admin.sharepoint.com', authorization: `Bearer ${token}`,
                                              accept: 'application/json;odata=nometadata', 'content-length': 0}},
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        });
    request.on('error', reject);
    request.end();
  });
  const secret = await new identity.ClientSecretCredential(TENANT, APP, SECRET, identityProxy()).getToken(SHAREPOINT_ADMIN);
  const certificate = await new identity.ClientCertificateCredential(
      TENANT, APP, {certificate: `${privateKeyPem}\n${certificatePem}`}, identityProxy()).getToken(SHAREPOINT_ADMIN);
  assert.equal(await call(secret.token), 401, 'SharePoint took an app-only token from a secret');
  assert.equal(await call(certificate.token), 200);
  return 'certificate 200, secret 401';
});

test('azure-identity: DeviceCodeCredential approved through the admin API', async () => {
  const credential = new identity.DeviceCodeCredential({
    tenantId: TENANT, clientId: PUBLIC_CLIENT, ...identityProxy(),
    userPromptCallback: (info) => {
      admin('POST', 'devicecode/approve', {user_code: info.userCode, upn: ADMIN})
          .catch((error) => console.error(`approve failed: ${error.message}`));
    },
  });
  const token = await credential.getToken(GRAPH);
  assert.equal(claimsOf(token.token).upn, ADMIN);
  return `signed in as ${ADMIN}`;
});

test('azure-identity: UsernamePasswordCredential for a seeded admin', async () => {
  const credential = new identity.UsernamePasswordCredential(TENANT, PUBLIC_CLIENT, ADMIN, ADMIN_PASSWORD, identityProxy());
  const token = await credential.getToken(GRAPH);
  assert.equal(claimsOf(token.token).upn, ADMIN);
  return 'token for the admin';
});

// ---- run -------------------------------------------------------------------------------------------

async function main() {
  await waitForEmulator();
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = proxy.address().port;
  console.log(`tenant-emulator on 127.0.0.1:${emulatorPort}, CONNECT proxy on 127.0.0.1:${proxyPort}; ` +
              `@azure/msal-node ${require('@azure/msal-node/package.json').version}, ` +
              `@azure/identity ${require('@azure/identity/package.json').version}, node ${process.version}`);
  let failed = 0;
  for (const {name, fn} of cases) {
    const started = Date.now();
    try {
      const detail = await fn();
      console.log(`PASS ${name}: ${detail} (${Date.now() - started} ms)`);
    } catch (error) {
      ++failed;
      console.log(`FAIL ${name}: ${error.message}`);
    }
  }
  console.log(`${cases.length - failed} of ${cases.length} cases passed`);
  return failed;
}

main()
    .then((failed) => finish(failed ? 1 : 0))
    .catch((error) => {
      console.log(`FAIL harness: ${error.stack}`);
      finish(1);
    });

function finish(code) {
  proxy.close();
  emulator.kill('SIGTERM');
  if (code !== 0) {
    try {
      console.log(`emulator log (${path.join(workDir, 'emulator.log')}):\n` +
                  fs.readFileSync(path.join(workDir, 'emulator.log'), 'utf8').split('\n').slice(-20).join('\n'));
    } catch {}
  }
  emulator.on('exit', () => {
    if (code === 0) fs.rmSync(workDir, {recursive: true, force: true});
    process.exit(code);
  });
  setTimeout(() => process.exit(code), 5000).unref();
}
