// Package witness is a transparency-log witness and its client (C2SP tlog-witness,
// https://c2sp.org/tlog-witness; cosignatures per https://c2sp.org/tlog-cosignature).
//
// A Witness remembers, per log origin, the latest checkpoint it cosigned and cosigns a new one
// only if it is signed by a key it trusts for that origin and is a consistent extension of the
// remembered one (RFC 6962 consistency proof supplied by the submitter). Its state is persisted
// before a cosignature is returned, so a restarted witness still refuses a rolled-back or
// forked log. A Client submits checkpoints of a log to one witness.
package witness
