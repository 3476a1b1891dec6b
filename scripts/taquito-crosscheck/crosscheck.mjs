// Independent oracle for tezos-types: forge and sign operations with Taquito.
//
// Input (stdin): {"cases":[{"op":{"branch":"B…","contents":[…]},"sk":"edsk…"|null}, …],
//                 "remote":"http://host:port"|absent}
// Output (stdout): {"results":[{"forged":"<hex>","signature":"edsig…"|null,"parsed":{…},
//                   "remote_signature":"sig…"|null}, …]}
// With "remote", each case with a key is also signed by Taquito's `RemoteSigner` against that
// signer's HTTP API (`POST /keys/<pkh>`, l1-and-signer.md §5.3); `RemoteSigner` itself checks the
// answer against the public key it reads with `GET /keys/<pkh>`.
// Setup: `npm ci` (or `npm install`) in this directory; run with `node crosscheck.mjs`.
import { LocalForger } from '@taquito/local-forging';
import { InMemorySigner } from '@taquito/signer';
import { RemoteSigner } from '@taquito/remote-signer';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const forger = new LocalForger();
const results = [];
for (const { op, sk } of input.cases) {
  const forged = await forger.forge(op);
  const parsed = await forger.parse(forged);
  let signature = null;
  let remote_signature = null;
  if (sk) {
    const signer = await InMemorySigner.fromSecretKey(sk);
    signature = (await signer.sign(forged, new Uint8Array([3]))).prefixSig;
    // Taquito's RemoteSigner (21.0.0, the last release) refuses `BLsig` answers: tz4 keys
    // are checked against InMemorySigner only.
    if (input.remote && !(await signer.publicKeyHash()).startsWith('tz4')) {
      const remote = new RemoteSigner(await signer.publicKeyHash(), input.remote);
      remote_signature = (await remote.sign(forged, new Uint8Array([3]))).prefixSig;
    }
  }
  results.push({ forged, signature, parsed, remote_signature });
}
process.stdout.write(JSON.stringify({ results }));
