// Runs inside a user's code-server pod (Molecule's tasks/code_server_users.yml
// sends it there), on the Node.js code-server itself runs on: what the
// Jupyter extension in that workspace does with what the role gave it, the
// server URL and the user's token as a mounted file. Asks /api/me, starts a
// kernel, executes a cell over the kernel websocket, reads the kernel's model
// (who started it) and deletes the kernel. Prints one JSON line; never the token.
"use strict";
const crypto = require("crypto");
const fs = require("fs");

const url = process.env.JUPYTER_SERVER_URL;
const token = fs.readFileSync(process.env.JUPYTER_TOKEN_FILE, "utf8").trim();
const headers = { Authorization: "token " + token, "Content-Type": "application/json" };

async function call(method, path, body) {
  const response = await fetch(url + path, { method, headers, body: body && JSON.stringify(body) });
  if (!response.ok) throw new Error(method + " " + path + ": HTTP " + response.status);
  return response.status === 204 ? null : response.json();
}

function execute(kernelId, code) {
  return new Promise((resolve, reject) => {
    // Browsers' WebSocket API (Node's too) sends no headers: the token goes in the query, as JupyterLab's does.
    const ws = new WebSocket(url.replace(/^http/, "ws") + "api/kernels/" + kernelId + "/channels?token=" + encodeURIComponent(token));
    const msgId = crypto.randomUUID();
    const out = [];
    let reply = null;
    let idle = false;
    const timer = setTimeout(() => { ws.close(); reject(new Error("no reply within 60 s")); }, 60000);
    ws.onopen = () => ws.send(JSON.stringify({
      channel: "shell", buffers: [], metadata: {}, parent_header: {},
      header: { msg_id: msgId, msg_type: "execute_request", username: "", session: crypto.randomUUID(),
                date: new Date().toISOString(), version: "5.3" },
      content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    }));
    ws.onerror = (event) => { clearTimeout(timer); reject(new Error("websocket: " + (event.message || event.type))); };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if ((msg.parent_header || {}).msg_id !== msgId) return;
      const type = msg.header.msg_type;
      if (type === "stream") out.push(msg.content.text);
      if (type === "execute_reply") reply = msg.content.status;
      if (type === "status" && msg.content.execution_state === "idle") idle = true;
      // The reply (shell) and the output (iopub) come on different channels: wait for both.
      if (reply && idle) {
        clearTimeout(timer);
        ws.close();
        resolve({ status: reply, stdout: out.join("") });
      }
    };
  });
}

(async () => {
  const me = await call("GET", "api/me");
  const kernel = await call("POST", "api/kernels", { name: "python3" });
  let execution;
  let model;
  try {
    execution = await execute(kernel.id, "print(6 * 7)");
  } finally {
    model = await call("GET", "api/kernels/" + kernel.id);
    await call("DELETE", "api/kernels/" + kernel.id);
  }
  console.log(JSON.stringify({ user: me.identity.username, kernel: kernel.id, kernel_user: model.remotedev_user,
                               status: execution.status, stdout: execution.stdout.trim() }));
})().catch((error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
