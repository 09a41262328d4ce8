// Package probe is Warden's active assessment: adversarial probe packs, their judging, and a
// scheduler that runs them against live model routes (docs/PROBES.md).
//
// A [Pack] is a data file (YAML or JSON Lines) of probes; each probe names its family (prompt
// injection, jailbreak, encoding, system-prompt extraction, leakage bait, harmful request,
// multilingual …), the technique, the expected safe behaviour and how it is judged. Built-in
// packs are embedded in the binary ([Builtin]); more are read from a directory ([LoadDir]),
// where a bad file is reported as file:line and skipped. Importers turn garak payload lists
// and promptfoo red-team test files into packs.
//
// A [Runner] sends every probe through a [Target] (in Warden: the gateway's own route for the
// model, under the reserved probe identity, so the traffic is marked and kept out of baselines,
// drift, usage and cost), judges each answer ([Judge]) as resisted, failed or error with
// evidence, respects per-run caps on requests, tokens and spend, and reports every result as a
// probe event. A [Scheduler] runs opted-in models by risk-tier cadence. A [Tracker] turns the
// stream of probe events into detections for the rules engine: a family that was resisted and
// now fails (regression), a family pass rate below its threshold, and a newly failing family.
//
// Concurrency: Runner, Scheduler and Tracker are safe for concurrent use; packs are immutable
// once parsed.
package probe
