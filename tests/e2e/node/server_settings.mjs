// @jupyterlab/services' settings for a Jupyter Server, as JupyterLab makes
// them: the websocket URL beside the base URL, the token appended, node's
// WebSocket. The token comes from JUPYTER_TOKEN_FILE (a file only this user
// can read: Ansible logs a command's environment and arguments at -vvv) or
// JUPYTER_TOKEN.
import { readFileSync } from 'node:fs';
import { ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';

export function secretFromEnv(name) {
  const file = process.env[`${name}_FILE`];
  return file ? readFileSync(file, 'utf8').trim() : process.env[name] || '';
}

export function withSlash(url) {
  return url.endsWith('/') ? url : `${url}/`;
}

export function serverSettings(baseUrl) {
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token: secretFromEnv('JUPYTER_TOKEN'),
    appendToken: true,
    WebSocket,
  });
}
