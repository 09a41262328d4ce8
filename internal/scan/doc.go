// Package scan holds Warden's stateless content scanners: prompt injection,
// jailbreak, invisible text and homoglyphs, encoded payloads, indirect
// injection and exfiltration markup, PII, secrets, harmful content,
// system-prompt leakage, refusals and an external HTTP classifier hook.
//
// # Contract
//
// An [Engine] is built once from [Options] and is safe for concurrent use.
// [Engine.Scan] normalizes the text exactly once (NFKC, removal of
// zero-width, bidi-control and tag characters, confusable and leetspeak
// folding, lower-casing, whitespace folding) into a [Doc] and hands the
// same Doc to every enabled [Scanner]. Scanners never modify the Doc.
// Every [Finding] carries byte offsets into the ORIGINAL text: scanners that
// work on the normalized view map their spans back with [Doc.Span].
//
// A [Policy] turns findings into one [Action] per text (allow, flag, redact,
// block) from per-category (or per-detector) thresholds; [Redact] replaces
// redactable spans with typed placeholders that are consistent within one
// text ([EMAIL_1] stays [EMAIL_1] for the same address). [Batch] is the
// `warden scan` JSON Lines contract.
//
// Long texts are scored per window (sentences packed into windows of at most
// a few hundred bytes) as well as whole, so one benign paragraph cannot dilute
// an injected one.
//
// Learned models (the injection and harmful-content classifiers) are hashed
// n-gram logistic regressions whose weights are embedded with go:embed; they
// are produced by the reproducible command cmd/scantrain from the public data
// sets described in docs/DETECTION.md. The two models are merged at load
// time and a Doc's features are extracted and scored once, for all heads of
// both scanners (see package linear).
package scan
