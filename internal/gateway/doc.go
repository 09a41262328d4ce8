// Package gateway is Warden's inline, OpenAI-compatible proxy (docs/ARCHITECTURE.md §5, "Gateway"):
// POST /v1/chat/completions (with and without SSE streaming), POST /v1/completions,
// POST /v1/embeddings and GET /v1/models, in front of the upstreams of the model inventory.
//
// Per request, in order: authenticate the virtual key ([keys.Store]); apply containment
// ([contain.Store]: suspended key, blocked consumer, paused model, consumer rate limit); apply
// the access policy (unknown model, model not in the key's list, consumer outside the model's
// allowed_groups); apply the key's rate limits (requests and tokens per minute, token buckets,
// 429 with Retry-After); scan the input and decide allow | flag | redact | block with the
// model's policy (tier defaults from [scan.DefaultPolicy], per-category overrides from the
// model's "scanning" map, fail-open or fail-closed per tier); forward to the upstream with its
// credential, trying fallbacks on connection errors and 5xx; scan the output (for streams, the
// accumulated text as it passes, optionally cutting the stream on a block); answer; and emit an
// access event and an inference event through the [Emitter] without blocking the response.
//
// Denials use the OpenAI error shape with type "warden_policy". Upstream credentials never
// appear in logs, events, errors or metrics: events carry only the upstream host.
//
// Concurrency: a [Gateway] is safe for concurrent use. Options.Models is called on every
// request and must be cheap; return the same slice until the configuration changes (the route
// table is rebuilt only when the returned slice changes).
package gateway
