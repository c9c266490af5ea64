// Talks to a Jupyter Server the way JupyterLab and VS Code's Jupyter extension
// do: through @jupyterlab/services, with URL + token. Lists the kernelspecs and
// runs code in each requested kernel, printing one JSON document.
//
//   JUPYTER_TOKEN_FILE=path node jupyter_client_check.mjs URL [KERNEL...]
//   JUPYTER_TOKEN=... node jupyter_client_check.mjs URL [KERNEL...]
//
// With no KERNEL, every kernelspec the server offers is exercised. The token is
// read from a file or the environment so it never shows in a process listing
// or in Ansible's command logging.
//
// Behind an ingress: names under .localhost resolve to loopback, as browsers
// resolve them (RFC 6761; the C library here does not), and NODE_EXTRA_CA_CERTS
// names the CA to trust. With JUPYTER_CHECK_IDLE_SECONDS, the first kernel's
// websocket is left idle that long and must still carry the next execution,
// without reconnecting.
//
// With JUPYTER_CHECK_MIDDLEBOX_IDLE_SECONDS=N, every connection goes through a
// middlebox that closes a TCP connection silent for N seconds, as load
// balancers and proxies do (AWS's and ingress-nginx's 60 s): socat with its
// inactivity timeout, between this client and the URL's host and port. Only the
// server's websocket pings keep an idle kernel websocket open through it.
import { spawn } from 'node:child_process';
import dns from 'node:dns';
import net from 'node:net';
import { KernelManager, KernelSpecAPI } from '@jupyterlab/services';
import { serverSettings, withSlash } from './server_settings.mjs';

// The library logs its websocket life cycle with console.log; stdout is kept
// for the one JSON document.
const emit = (text) => process.stdout.write(`${text}\n`);
for (const level of ['log', 'info', 'debug']) console[level] = (...args) => console.error(...args);

const CODE = 'import sys\nprint(sys.executable)\n6 * 7';
const IDLE_SECONDS = Number(process.env.JUPYTER_CHECK_IDLE_SECONDS || 0);
const MIDDLEBOX_IDLE_SECONDS = Number(process.env.JUPYTER_CHECK_MIDDLEBOX_IDLE_SECONDS || 0);

// net and tls look dns.lookup up at each connection, so this covers fetch and ws.
const systemLookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  if (!/(^|\.)localhost\.?$/i.test(hostname)) return systemLookup(hostname, options, callback);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
  return undefined;
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// socat on a loopback port, forwarding to the URL's host and port; returns
// the URL through it and the process (killed when this client exits).
async function startMiddlebox(url, idleSeconds) {
  const target = new URL(url);
  const targetPort = target.port || (target.protocol === 'https:' ? 443 : 80);
  const address = await new Promise((resolve, reject) => {
    dns.lookup(target.hostname, (err, found) => (err ? reject(err) : resolve(found)));
  });
  const port = await freePort();
  const socat = spawn('socat', ['-T', String(idleSeconds), `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`,
    `TCP:${address}:${targetPort}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Neither keeps this client running; it dies with it.
  socat.unref();
  process.on('exit', () => socat.kill());
  for (let tries = 0; ; tries += 1) {
    const listening = await new Promise((resolve) => {
      const probe = net.connect(port, '127.0.0.1', () => { probe.end(); resolve(true); }).once('error', () => resolve(false));
    });
    if (listening) break;
    if (tries > 50 || socat.exitCode !== null) throw new Error(`the middlebox (socat) did not listen on port ${port}`);
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  target.port = String(port);
  return target.toString();
}

async function execute(kernel, name, result) {
  const future = kernel.requestExecute({ code: CODE, stop_on_error: true });
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === 'stream' && msg.content.name === 'stdout') result.stdout += msg.content.text;
    if (type === 'execute_result') result.result = msg.content.data['text/plain'];
    if (type === 'error') result.error = `${msg.content.ename}: ${msg.content.evalue}`;
  };
  const reply = await withTimeout(future.done, `executing in kernel ${name}`);
  return reply.content.status;
}
const TIMEOUT_MS = Number(process.env.JUPYTER_CHECK_TIMEOUT_MS || 120000);

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runIn(manager, name, idleSeconds) {
  const kernel = await withTimeout(manager.startNew({ name }), `starting kernel ${name}`);
  const result = { kernel: name, stdout: '', result: null, status: null };
  try {
    result.status = await execute(kernel, name, result);
    if (idleSeconds > 0) {
      // Every status the connection passes through while idle: a dropped
      // websocket shows as 'connecting' (the library reconnects by itself).
      const statuses = [];
      kernel.connectionStatusChanged.connect((_, status) => statuses.push(status));
      await new Promise((resolve) => { setTimeout(resolve, idleSeconds * 1000); });
      const after = { stdout: '', result: null };
      const status = await execute(kernel, name, after);
      // A copy: shutting the kernel down below adds its own 'disconnected'.
      result.idle = { seconds: idleSeconds, status, result: after.result, statuses: [...statuses] };
    }
  } finally {
    await kernel.shutdown().catch(() => undefined);
  }
  return result;
}

async function main() {
  const [url, ...wanted] = process.argv.slice(2);
  if (!url) {
    console.error('usage: JUPYTER_TOKEN=... node jupyter_client_check.mjs URL [KERNEL...]');
    process.exit(2);
  }
  let baseUrl = withSlash(url);
  if (MIDDLEBOX_IDLE_SECONDS > 0) baseUrl = await startMiddlebox(baseUrl, MIDDLEBOX_IDLE_SECONDS);
  const settings = serverSettings(baseUrl);

  const specs = await withTimeout(KernelSpecAPI.getSpecs(settings), 'listing kernelspecs');
  const names = Object.keys(specs.kernelspecs).sort();
  const unknown = wanted.filter((name) => !names.includes(name));
  if (unknown.length) {
    throw new Error(`kernel(s) ${unknown.join(', ')} not among the server's kernelspecs: ${names.join(', ')}`);
  }
  const manager = new KernelManager({ serverSettings: settings });
  const executions = [];
  for (const name of wanted.length ? wanted : names) {
    executions.push(await runIn(manager, name, executions.length ? 0 : IDLE_SECONDS));
  }
  manager.dispose();
  const middlebox = MIDDLEBOX_IDLE_SECONDS > 0 ? { idleSeconds: MIDDLEBOX_IDLE_SECONDS, url: baseUrl } : undefined;
  emit(JSON.stringify({ default: specs.default, kernelspecs: names, executions, middlebox }));
}

main().catch((err) => {
  // The message names what failed; the token is never part of it.
  const status = err.response ? ` (HTTP ${err.response.status} from ${err.response.url.split('?')[0]})` : '';
  console.error(`jupyter_client_check: ${err.message || err}${status}`);
  process.exit(1);
});
