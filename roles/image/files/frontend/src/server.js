// The frontend's server: serves the built page at <base URL>frontend/ and
// passes every other request, websockets included, to the shared Jupyter
// Server, so that the page and the API share one origin (no CORS opening on
// the server) and the server's own login, cookies and _xsrf flow reach the
// browser unchanged.
//
// The proxying is node-http-proxy, the library JupyterHub's
// configurable-http-proxy puts in front of every Jupyter server: it streams
// request and response bodies, and on an Upgrade it joins the two sockets, so
// the kernel websocket's subprotocol (v1.kernel.websocket.jupyter.org) and
// frames pass through untouched. The Host header is kept (no changeOrigin):
// the server compares it with the browser's Origin for websockets and names
// its login cookie after it.
//
// Settings (environment):
//   FRONTEND_UPSTREAM   the Jupyter Server, e.g. http://jupyter:8888 (required)
//   FRONTEND_BASE_URL   the server's base URL (ServerApp.base_url), default /
//   FRONTEND_HOST       address to listen on, default 0.0.0.0
//   FRONTEND_PORT       port to listen on, default 8080
//   FRONTEND_APP_DIR    the built page, default: the directory of this file's app/
// Nothing is logged of a request but its method and path (no query string: a
// token can travel in one; no header: cookies do).
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const httpProxy = require('http-proxy');

const APP_DIR_NAME = 'frontend/';
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
};
// The page runs only its own scripts; images may be data: (kernel output is
// inline PNG) or blob:; styles inline (CodeMirror injects its own). HTML
// outputs cannot bring scripts in.
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    + "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    + "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

function log(message) {
  process.stderr.write(`${new Date().toISOString()} frontend: ${message}\n`);
}

function requestPath(req) {
  return (req.url || '').split('?')[0];
}

function normalizeBaseUrl(value) {
  const base = `/${(value || '/').replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(base)) throw new Error(`FRONTEND_BASE_URL: not a URL path: ${value}`);
  return base;
}

// The built page, read once: a fixed set of files, so no request path ever
// reaches the file system.
function loadApp(dir) {
  const files = new Map();
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.posix.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (TYPES[path.extname(entry.name)]) {
        files.set(rel, { body: fs.readFileSync(path.join(dir, rel)), type: TYPES[path.extname(entry.name)] });
      }
    }
  };
  walk('');
  if (!files.has('index.html')) throw new Error(`FRONTEND_APP_DIR: no index.html in ${dir}`);
  return files;
}

function createServer({ upstream, baseUrl = '/', appDir }) {
  const target = new URL(upstream);
  if (!['http:', 'https:'].includes(target.protocol)) throw new Error(`FRONTEND_UPSTREAM: not an http(s) URL: ${upstream}`);
  const base = normalizeBaseUrl(baseUrl);
  const appPrefix = `${base}${APP_DIR_NAME}`;
  const files = loadApp(appDir);
  const agent = new (target.protocol === 'https:' ? require('node:https') : http).Agent({ keepAlive: true, maxSockets: 128 });
  const proxy = httpProxy.createProxyServer({ target: target.origin, agent, xfwd: true, ws: true });

  proxy.on('error', (error, req, resOrSocket) => {
    log(`upstream error on ${req.method} ${requestPath(req)}: ${error.code || error.message}`);
    if (resOrSocket instanceof http.ServerResponse) {
      if (!resOrSocket.headersSent) resOrSocket.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
      resOrSocket.end('The Jupyter Server cannot be reached.\n');
    } else if (resOrSocket && typeof resOrSocket.destroy === 'function') {
      resOrSocket.destroy();
    }
  });

  function serveApp(req, res, rel) {
    if (rel === 'healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('ok\n');
      return;
    }
    const file = files.get(rel || 'index.html');
    if (!file || !['GET', 'HEAD'].includes(req.method)) {
      res.writeHead(file ? 405 : 404, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
      res.end(file ? 'Method not allowed\n' : 'Not found\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Length': file.body.length,
      // index.html names the bundle, which changes with each image: revalidate.
      'Cache-Control': 'no-cache',
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  const server = http.createServer((req, res) => {
    const urlPath = requestPath(req);
    if (urlPath === '/' || urlPath === base || urlPath === appPrefix.slice(0, -1)) {
      const query = (req.url || '').slice(urlPath.length);
      res.writeHead(302, { Location: `${appPrefix}${urlPath === '/' || urlPath === base ? '' : query}` });
      res.end();
    } else if (urlPath.startsWith(appPrefix)) {
      serveApp(req, res, urlPath.slice(appPrefix.length));
    } else {
      proxy.web(req, res);
    }
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    proxy.ws(req, socket, head);
  });
  // Long-lived websockets are not requests: only the request head is timed.
  server.requestTimeout = 0;
  server.headersTimeout = 60000;
  server.on('close', () => { proxy.close(); agent.destroy(); });
  return server;
}

function main() {
  const upstream = process.env.FRONTEND_UPSTREAM;
  if (!upstream) {
    log('FRONTEND_UPSTREAM (the Jupyter Server URL) is not set');
    process.exit(2);
  }
  let server;
  try {
    server = createServer({
      upstream,
      baseUrl: process.env.FRONTEND_BASE_URL || '/',
      appDir: process.env.FRONTEND_APP_DIR || path.join(__dirname, 'app'),
    });
  } catch (error) {
    log(error.message);
    process.exit(2);
  }
  const host = process.env.FRONTEND_HOST || '0.0.0.0';
  const port = Number(process.env.FRONTEND_PORT || 8080);
  server.listen(port, host, () => log(`serving on ${host}:${server.address().port}, proxying to ${new URL(upstream).origin}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { createServer, normalizeBaseUrl };
if (require.main === module) main();
