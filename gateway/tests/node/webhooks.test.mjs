// Webhook signatures verified by the published `standardwebhooks` npm package, not by our code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const CURRENT = "whsec_" + Buffer.from("node-current-secret-0123456789ab").toString("base64");
const PREVIOUS = "whsec_" + Buffer.from("node-previous-secret-0123456789a").toString("base64");
const UNRELATED = "whsec_" + Buffer.from("not-our-secret-0123456789abcdefg").toString("base64");
const KEY = "local-dev-key";

async function startMinoots(args) {
  const bin = process.env.MINOOTS_BIN ?? "target/debug/minoots";
  const dataDir = mkdtempSync(join(tmpdir(), "minoots-node-"));
  const child = spawn(bin, ["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const [line] = await once(lines, "line");
  assert.match(line, /^minoots listening on /);
  const url = line.replace("minoots listening on ", "").trim();
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch (error) {
      if (i > 600) throw error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url };
}

test("deliveries verify with every active secret and nothing else", async (t) => {
  const deliveries = [];
  let arrived;
  const delivered = new Promise((resolve) => (arrived = resolve));
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200).end();
      arrived();
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
  const { child, url } = await startMinoots(["--webhook-allow", "127.0.0.1", "--signing-secrets", `${CURRENT},${PREVIOUS}`]);
  t.after(() => {
    child.kill("SIGKILL");
    receiver.close();
  });

  const response = await fetch(`${url}/timers`, {
    method: "POST",
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: JSON.stringify({
      name: "signed",
      duration: "20ms",
      actionBundle: { actions: [{ type: "webhook", url: hook }] },
    }),
  });
  assert.equal(response.status, 201);
  const timer = await response.json();
  await delivered;

  const { headers, body } = deliveries[0];
  const wanted = {
    "webhook-id": headers["webhook-id"],
    "webhook-timestamp": headers["webhook-timestamp"],
    "webhook-signature": headers["webhook-signature"],
  };
  for (const secret of [CURRENT, PREVIOUS]) {
    const payload = new Webhook(secret).verify(body, wanted);
    assert.equal(payload.type, "timer.fired");
    assert.equal(payload.data.id, timer.id);
  }
  assert.equal(headers["webhook-id"], `${timer.id}:0`);
  assert.throws(() => new Webhook(UNRELATED).verify(body, wanted));
  assert.throws(() => new Webhook(CURRENT).verify(body.replace("timer.fired", "timer.failed"), wanted));
});
