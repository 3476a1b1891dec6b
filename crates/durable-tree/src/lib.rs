//! The durable Merkle tree: an Irmin binary-context tree, hashed as Octez hashes it.
