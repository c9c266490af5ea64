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
import { readFileSync } from 'node:fs';
import { KernelManager, KernelSpecAPI, ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';

// The library logs its websocket life cycle with console.log; stdout is kept
// for the one JSON document.
const emit = (text) => process.stdout.write(`${text}\n`);
for (const level of ['log', 'info', 'debug']) console[level] = (...args) => console.error(...args);

const CODE = 'import sys\nprint(sys.executable)\n6 * 7';
const TIMEOUT_MS = Number(process.env.JUPYTER_CHECK_TIMEOUT_MS || 120000);

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function secretFromEnv(name) {
  const file = process.env[`${name}_FILE`];
  return file ? readFileSync(file, 'utf8') : process.env[name] || '';
}

async function runIn(manager, name) {
  const kernel = await withTimeout(manager.startNew({ name }), `starting kernel ${name}`);
  const result = { kernel: name, stdout: '', result: null, status: null };
  try {
    const future = kernel.requestExecute({ code: CODE, stop_on_error: true });
    future.onIOPub = (msg) => {
      const type = msg.header.msg_type;
      if (type === 'stream' && msg.content.name === 'stdout') result.stdout += msg.content.text;
      if (type === 'execute_result') result.result = msg.content.data['text/plain'];
      if (type === 'error') result.error = `${msg.content.ename}: ${msg.content.evalue}`;
    };
    const reply = await withTimeout(future.done, `executing in kernel ${name}`);
    result.status = reply.content.status;
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
  const baseUrl = url.endsWith('/') ? url : `${url}/`;
  const settings = ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token: secretFromEnv('JUPYTER_TOKEN'),
    appendToken: true,
    WebSocket,
  });

  const specs = await withTimeout(KernelSpecAPI.getSpecs(settings), 'listing kernelspecs');
  const names = Object.keys(specs.kernelspecs).sort();
  const unknown = wanted.filter((name) => !names.includes(name));
  if (unknown.length) {
    throw new Error(`kernel(s) ${unknown.join(', ')} not among the server's kernelspecs: ${names.join(', ')}`);
  }
  const manager = new KernelManager({ serverSettings: settings });
  const executions = [];
  for (const name of wanted.length ? wanted : names) {
    executions.push(await runIn(manager, name));
  }
  manager.dispose();
  emit(JSON.stringify({ default: specs.default, kernelspecs: names, executions }));
}

main().catch((err) => {
  // The message names what failed; the token is never part of it.
  const status = err.response ? ` (HTTP ${err.response.status} from ${err.response.url.split('?')[0]})` : '';
  console.error(`jupyter_client_check: ${err.message || err}${status}`);
  process.exit(1);
});
