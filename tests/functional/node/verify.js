// The code-server side of the password_hash tests.
//
// code-server (src/node/util.ts) hashes with `argon2.hash(password)` and checks
// with isHashMatch below, using the npm argon2 package pinned in package.json.
// Reads a JSON request on stdin, prints a JSON answer:
//   {"verify": [{"hash": ..., "password": ...}, ...]} -> [true|false, ...]
//   {"hash": ["password", ...]}                       -> ["$argon2id$...", ...]
"use strict";
const argon2 = require("argon2");

// Same logic as code-server's isHashMatch.
async function isHashMatch(password, hash) {
  if (password === "" || hash === "" || !hash.startsWith("$")) {
    return false;
  }
  return await argon2.verify(hash, password);
}

async function main() {
  let input = "";
  for await (const chunk of process.stdin) {
    input += chunk;
  }
  const request = JSON.parse(input);
  let answer;
  if (request.verify) {
    answer = [];
    for (const item of request.verify) {
      try {
        answer.push(await isHashMatch(item.password, item.hash));
      } catch (error) {
        answer.push("error: " + error.message);
      }
    }
  } else {
    answer = await Promise.all(request.hash.map((password) => argon2.hash(password)));
  }
  process.stdout.write(JSON.stringify(answer));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
