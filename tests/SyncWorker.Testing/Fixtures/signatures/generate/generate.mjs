// Writes ../stripe-node-vectors.json with Stripe-Signature headers produced by the official
// `stripe` npm package (stripe.webhooks.generateTestHeaderString). SyncWorker's C# tests verify
// every vector with StripeSignatureVerifier, so they need neither node nor this folder at test time.
//
//   cd tests/SyncWorker.Testing/Fixtures/signatures/generate
//   npm install && node generate.mjs && rm -rf node_modules
//
// Vectors are deterministic: fixed secrets, fixed timestamps, payloads from ../../events or inline.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import Stripe from 'stripe';

const here = dirname(fileURLToPath(import.meta.url));
const eventsDir = join(here, '..', '..', 'events');
const outFile = join(here, '..', 'stripe-node-vectors.json');

// No network call is made: the key is only needed to construct the client.
const stripe = new Stripe('sk_test_not_a_real_key_used_offline_only');
const fixtureSecret = 'whsec_test_ExampleSecretForFixturesOnly';

const fileVectors = [
  { payloadFile: 'checkout.session.completed.json', secret: fixtureSecret, timestamp: 1786003297 },
  { payloadFile: 'account.application.authorized.json', secret: fixtureSecret, timestamp: 1785916802 },
  { payloadFile: 'charge.refunded.json', secret: 'whsec_nodeVectorSecondSecret0123456789', timestamp: 1786176002 },
  { payloadFile: 'stripe-dotnet_event_test_signature.json', secret: 'webhook_secret', timestamp: 1533204620 },
];

const inlineVectors = [
  {
    payload: '{"id":"evt_node_utf8","object":"event","created":1786003300,"livemode":false,"type":"customer.created","data":{"object":{"id":"cus_node_utf8","object":"customer","name":"Zoë Müller","address":{"city":"Düsseldorf","line1":"Königsallee 1"}}}}',
    secret: fixtureSecret,
    timestamp: 1786003302,
  },
  {
    payload: '{"id":"evt_node_emoji","object":"event","created":1786003400,"livemode":true,"type":"checkout.session.completed","data":{"object":{"id":"cs_node_emoji","object":"checkout.session","metadata":{"note":"🎁 gift — 東京"}}}}',
    secret: 'whsec_nodeVectorSecondSecret0123456789',
    timestamp: 1786003401,
  },
  {
    // Whitespace and key order exactly as written: the signature covers the raw bytes.
    payload: '{\n  "id": "evt_node_ws",\n  "object": "event",\n  "created": 1786003500,\n  "livemode": false,\n  "type": "invoice.paid",\n  "data": { "object": { "id": "in_node_ws", "object": "invoice" } }\n}\n',
    secret: fixtureSecret,
    timestamp: 1786003500,
  },
  {
    // CRLF line endings and an escaped string: bytes must not be normalised before hashing.
    payload: '{"id":"evt_node_crlf",\r\n"object":"event",\r\n"created":1786003600,"livemode":false,"type":"refund.created","data":{"object":{"id":"re_node_crlf","object":"refund","description":"say \\"hi\\" \\u00e9"}}}',
    secret: 'whsec_nodeVectorSecondSecret0123456789',
    timestamp: 1786003601,
  },
];

const vectors = [];
for (const v of [...fileVectors, ...inlineVectors]) {
  const payload = v.payloadFile !== undefined ? readFileSync(join(eventsDir, v.payloadFile), 'utf8') : v.payload;
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret: v.secret, timestamp: v.timestamp });
  // Sanity check with the package's own verifier before saving anything.
  stripe.webhooks.signature.verifyHeader(payload, header, v.secret, 300, undefined, v.timestamp + 10);
  const entry = v.payloadFile !== undefined ? { payloadFile: v.payloadFile } : { payload: v.payload };
  vectors.push({ ...entry, secret: v.secret, timestamp: v.timestamp, header });
}

const stripeVersion = JSON.parse(readFileSync(join(here, 'node_modules', 'stripe', 'package.json'), 'utf8')).version;
const output = {
  generator: `stripe@${stripeVersion} webhooks.generateTestHeaderString (generate/generate.mjs)`,
  vectors,
};
writeFileSync(outFile, JSON.stringify(output, null, 2) + '\n', 'utf8');
console.log(`wrote ${vectors.length} vectors to ${outFile}`);
