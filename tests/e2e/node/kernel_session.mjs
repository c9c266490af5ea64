// One step of a kernel's life through @jupyterlab/services (what JupyterLab and
// VS Code's Jupyter extension use), with URL + token: start a kernel (or
// connect to a running one) and run one cell in it, then leave the kernel
// running, so that the next call (another user's, after something was done to
// the pod) can come back to it. Prints one JSON document:
//
//   JUPYTER_TOKEN_FILE=path node kernel_session.mjs URL new:KERNELSPEC CODE
//   JUPYTER_TOKEN_FILE=path node kernel_session.mjs URL id:KERNEL_ID CODE
//
//   {"id", "name", "startSeconds", "status": "ok"|"error"|"timeout"|null,
//    "stdout", "error", "statuses": [kernel statuses seen], "startError"}
//
// A start the server refuses (a kernel pod that cannot start) is reported in
// startError with the server's message, not as a failure of this client; a
// cell whose kernel dies is reported as status "timeout" after
// KERNEL_SESSION_TIMEOUT_S (60) with the statuses the kernel went through
// (autorestarting, restarting, dead). Shutting kernels down is the caller's.
import { KernelManager } from '@jupyterlab/services';
import { serverSettings, withSlash } from './server_settings.mjs';

const emit = (text) => process.stdout.write(`${text}\n`);
for (const level of ['log', 'info', 'debug']) console[level] = (...args) => console.error(...args);

const TIMEOUT_MS = Number(process.env.KERNEL_SESSION_TIMEOUT_S || 60) * 1000;
const START_TIMEOUT_MS = Number(process.env.KERNEL_SESSION_START_TIMEOUT_S || 180) * 1000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { timeout: true })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const [url, which, code] = process.argv.slice(2);
  if (!url || !/^(new|id):./.test(which || '') || code === undefined) {
    console.error('usage: JUPYTER_TOKEN_FILE=... node kernel_session.mjs URL new:KERNELSPEC|id:KERNEL_ID CODE');
    process.exit(2);
  }
  const settings = serverSettings(withSlash(url));
  const manager = new KernelManager({ serverSettings: settings });
  const result = { id: null, name: null, startSeconds: null, status: null, stdout: '', error: null, statuses: [],
    startError: null };
  const [how, what] = [which.slice(0, which.indexOf(':')), which.slice(which.indexOf(':') + 1)];
  const started = Date.now();
  let kernel;
  try {
    if (how === 'new') {
      kernel = await withTimeout(manager.startNew({ name: what }), START_TIMEOUT_MS, `starting kernel ${what}`);
    } else {
      await manager.ready;
      kernel = manager.connectTo({ model: { id: what, name: '' } });
    }
  } catch (err) {
    // The server's own message (the REST API's "message"), as JupyterLab's dialog shows it.
    let message = err.message || String(err);
    if (err.response) {
      const body = await err.response.json().catch(() => ({}));
      message = `HTTP ${err.response.status}: ${body.message || message}`;
    }
    result.startError = message;
    result.startSeconds = (Date.now() - started) / 1000;
    manager.dispose();
    emit(JSON.stringify(result));
    return;
  }
  result.startSeconds = (Date.now() - started) / 1000;
  result.id = kernel.id;
  result.name = kernel.name;
  kernel.statusChanged.connect((_, status) => result.statuses.push(status));
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg) => {
    const type = msg.header.msg_type;
    if (type === 'stream' && msg.content.name === 'stdout') result.stdout += msg.content.text;
    if (type === 'error') result.error = `${msg.content.ename}: ${msg.content.evalue}`;
  };
  try {
    const reply = await withTimeout(future.done, TIMEOUT_MS, `executing in kernel ${result.id}`);
    result.status = reply.content.status;
  } catch (err) {
    if (!err.timeout) result.error = result.error || err.message || String(err);
    result.status = err.timeout ? 'timeout' : 'error';
  }
  // Leave the kernel running: only this client's connection goes.
  kernel.dispose();
  manager.dispose();
  emit(JSON.stringify(result));
}

main().then(() => process.exit(0)).catch((err) => {
  const status = err.response ? ` (HTTP ${err.response.status} from ${err.response.url.split('?')[0]})` : '';
  console.error(`kernel_session: ${err.message || err}${status}`);
  process.exit(1);
});
