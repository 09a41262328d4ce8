// Package audit is Warden's tamper-evident audit log, the system of record.
//
// Every accepted event is appended here first, as one entry: an opaque leaf
// (the normalized event record, hashed into an RFC 6962 Merkle tree) plus an
// optional blob (stored text kept beside the tree so retention can delete it
// without breaking the log).
//
// # Concurrency and durability
//
// [Log.Append] may be called from any number of goroutines. The [Log]'s
// writer gathers every pending call into one batch, writes blobs, entries and
// Merkle node hashes, fsyncs once per batch and only then returns to the
// callers (group commit). It is a two-goroutine pipeline: one batch is staged
// while the previous one is being fsynced; callers are released in batch
// order. The records of one call are written contiguously in one batch and
// are all-or-nothing. Re-appending an ID that is already in the log returns
// the existing index.
//
// # Verification
//
// Signed checkpoints (C2SP tlog-checkpoint, Ed25519 signed notes) are written
// at most every [Options.CheckpointInterval] and on [Log.Close]. [Verify]
// re-reads a data directory offline and names the first bad entry;
// [ExportEvidence] and [VerifyEvidence] produce and check self-contained
// evidence packages. The on-disk formats are described in docs/AUDIT.md.
package audit
