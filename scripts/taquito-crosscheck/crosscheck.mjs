// Independent oracle for tezos-types: forge and sign operations with Taquito.
//
// Input (stdin): {"cases":[{"op":{"branch":"B…","contents":[…]},"sk":"edsk…"|null}, …]}
// Output (stdout): {"results":[{"forged":"<hex>","signature":"edsig…"|null,"parsed":{…}}, …]}
// Setup: `npm ci` (or `npm install`) in this directory; run with `node crosscheck.mjs`.
import { LocalForger } from '@taquito/local-forging';
import { InMemorySigner } from '@taquito/signer';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const forger = new LocalForger();
const results = [];
for (const { op, sk } of input.cases) {
  const forged = await forger.forge(op);
  const parsed = await forger.parse(forged);
  let signature = null;
  if (sk) {
    const signer = await InMemorySigner.fromSecretKey(sk);
    signature = (await signer.sign(forged, new Uint8Array([3]))).prefixSig;
  }
  results.push({ forged, signature, parsed });
}
process.stdout.write(JSON.stringify({ results }));
