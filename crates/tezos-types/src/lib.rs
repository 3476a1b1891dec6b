//! Tezos types and encodings shared by the node, the sandbox, the client and the signer.
