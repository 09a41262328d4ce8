package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// RunIngest drives the events that do not pass through a gateway to the ingest API
// (POST /v1/events with the ingest token): a classic ML model (churn-model) whose inputs
// drift after its baseline forms, with ground-truth feedback and a protected attribute;
// backdated access history, then access events (repeated denials then success, a bulk export
// at an hour unusual for the actor to a destination it never used, elevated privilege without
// approval); and pipeline events (an unapproved artifact change, a manual redeployment, config,
// dataset and registry changes outside a change, a training run outside a change, a dependency
// change). One line per round goes to w.
func RunIngest(ctx context.Context, apiURL, ingestToken string, w io.Writer, opts Options) error {
	if opts.Interval <= 0 {
		opts.Interval = 3 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	send := func(evs []map[string]any) (int, []byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return 0, nil, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/v1/events", &b)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := opts.Client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode, body, nil
	}
	post := func(evs []map[string]any) error {
		code, body, err := send(evs)
		if err != nil {
			return err
		}
		if code != http.StatusAccepted {
			return fmt.Errorf("ingest: %d: %s", code, body)
		}
		return nil
	}
	// Backdated history, so that the rules judging an actor against its own past have one: two
	// weeks of dana's work at hours far from now (her usual day is 8–15 hours from the demo's
	// wall clock) with daily exports to the team bucket. The live rounds then show her exporting
	// at an hour she never works, to a destination she never used.
	start := time.Now().UTC()
	var hist []map[string]any
	for d := 14; d >= 1; d-- {
		day := start.Add(-time.Duration(d) * 24 * time.Hour)
		for h := 8; h <= 15; h++ {
			at := day.Add(time.Duration(h) * time.Hour)
			hist = append(hist, access(at, "dana", "read_dataset", "allow", "", map[string]any{"resource": "crm/customers"}))
		}
		hist = append(hist, access(day.Add(10*time.Hour), "dana", "export_data", "allow", "",
			map[string]any{"resource": "crm/customers", "records": 2000, "bytes": 1500000, "format": "csv", "source": map[string]any{"destination": "s3://crm-team-exports"}}))
	}
	if err := post(hist); err != nil {
		fmt.Fprintf(w, "%s  ingest  history error: %v\n", time.Now().Format("15:04:05"), err)
	} else {
		fmt.Fprintf(w, "%s  ingest  backdated history: 14 days of dana's access (her usual hours) and exports to s3://crm-team-exports\n", time.Now().Format("15:04:05"))
	}
	const perRound = 150
	seq := 0
	lastSHA := ""
	for round := 1; opts.Rounds == 0 || round <= opts.Rounds; round++ {
		now := time.Now().UTC()
		// After the baseline has formed (200 events) the traffic of churn-model shifts: a new
		// integration sends much longer-tenured, higher-paying customers on another plan.
		shifted := round > 4
		var evs, feedback []map[string]any
		for i := 0; i < perRound; i++ {
			seq++
			tenure := math.Max(0, rng.NormFloat64()*8+24)
			charges := math.Max(5, rng.NormFloat64()*15+60)
			plan := []string{"basic", "standard", "premium"}[rng.IntN(3)]
			if shifted {
				tenure = math.Max(0, rng.NormFloat64()*10+60)
				charges = math.Max(5, rng.NormFloat64()*20+110)
				plan = []string{"enterprise", "premium"}[rng.IntN(2)]
			}
			region := []string{"north", "south"}[rng.IntN(2)]
			p := 1 / (1 + math.Exp(-(charges-70)/15+tenure/30))
			if region == "south" {
				p *= 0.55 // a biased model: one group is selected far less often
			}
			pred := "0"
			if rng.Float64() < p {
				pred = "1"
			}
			label := pred
			if rng.Float64() < 0.12 || (shifted && rng.Float64() < 0.3) {
				label = map[string]string{"0": "1", "1": "0"}[pred]
			}
			rid := fmt.Sprintf("churn-%d-%d", round, i)
			evs = append(evs, map[string]any{
				"type": "inference", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "churn-model", "version": "3"},
				"actor":      map[string]any{"service_account": "crm-batch"},
				"attributes": map[string]any{"region": region},
				"request":    map[string]any{"id": rid, "features": map[string]any{"tenure_months": math.Round(tenure), "monthly_charges": math.Round(charges*100) / 100, "plan": plan}},
				"response":   map[string]any{"status": "ok", "latency_ms": 3 + rng.Float64()*4, "prediction": pred, "confidence": math.Round(p*1000) / 1000},
			})
			feedback = append(feedback, map[string]any{"type": "feedback", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "churn-model", "version": "3"},
				"request_id": rid, "label": label})
		}
		evs = append(evs, feedback...)
		var note string
		switch round % 5 {
		case 1: // five denials then an allow for the same actor
			for i := 0; i < 5; i++ {
				evs = append(evs, access(now, "mallory", "login", "deny", "bad password", nil))
			}
			evs = append(evs, access(now, "mallory", "login", "allow", "", nil))
			note = "access: 5 denied logins then success (mallory)"
		case 2:
			evs = append(evs, access(now, "dana", "export_data", "allow", "", map[string]any{"resource": "crm/customers", "records": 250000, "bytes": 180000000, "format": "csv",
				"source": map[string]any{"destination": "https://transfer.example-share.net/u/dana"}}))
			evs = append(evs, access(now, "ops-bot", "update_policy", "allow", "", map[string]any{"resource": "support-bot", "privilege": "elevated"}))
			note = "access: dana exports 250k records at an hour she never works, to a new destination; elevated privilege without approval_id"
		case 3:
			sha := fmt.Sprintf("%064x", seq)
			lastSHA = sha
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "fraud-model"},
				"actor": map[string]any{"service_account": "ci-deployer"},
				"stage": "deployment", "action": "model_deployed", "artifact": map[string]any{"uri": "s3://models/fraud/12", "sha256": sha}})
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "support-bot"},
				"actor": map[string]any{"user": "ml-eng-3"}, "stage": "infrastructure", "action": "config_changed", "details": map[string]any{"key": "temperature", "from": "0.2", "to": "1.4"}})
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "churn-model"},
				"actor": map[string]any{"user": "data-scientist-7"}, "stage": "ingestion", "action": "dataset_changed",
				"artifact": map[string]any{"uri": "s3://data/churn/train.parquet", "sha256": fmt.Sprintf("%064x", seq+1)}})
			note = "pipeline: fraud-model artifact replaced without approval; support-bot config and churn-model training data changed outside a change"
		case 4:
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "churn-model"},
				"actor": map[string]any{"user": "data-scientist-7"},
				"stage": "training", "action": "training_started", "details": map[string]any{"job": "nightly-retrain"}})
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "payments-agent"},
				"actor": map[string]any{"service_account": "renovate-bot"}, "artifact": map[string]any{"uri": "pypi:tokenizers@0.20.0"},
				"stage": "dependency", "action": "dependency_changed", "details": map[string]any{"package": "tokenizers", "from": "0.19.1", "to": "0.20.0"}})
			evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "payments-agent"},
				"actor": map[string]any{"user": "data-scientist-7"}, "stage": "registry", "action": "model_registered",
				"artifact": map[string]any{"uri": fmt.Sprintf("registry://payments-agent/%d", round)}})
			note = "pipeline: training run outside a change; dependency change on a critical model; a model version registered without approval"
		default:
			note = "access: quiet round"
			if lastSHA != "" {
				// The same artifact redeployed by hand: no change to the bytes, but no approval.
				evs = append(evs, map[string]any{"type": "pipeline", "time": now.Format(time.RFC3339Nano), "model": map[string]any{"name": "fraud-model"},
					"actor": map[string]any{"user": "on-call-2"}, "stage": "deployment", "action": "model_deployed",
					"artifact": map[string]any{"uri": "s3://models/fraud/12", "sha256": lastSHA}})
				note = "pipeline: fraud-model redeployed by hand without approval"
			}
		}
		if err := post(evs); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(w, "%s  ingest  error: %v\n", time.Now().Format("15:04:05"), err)
		} else {
			state := "stable"
			if shifted {
				state = "SHIFTED"
			}
			fmt.Fprintf(w, "%s  ingest  churn-model: %d predictions + labels (%s inputs); %s\n", time.Now().Format("15:04:05"), perRound, state, note)
		}
		if round == 1 {
			if err := replay(send, w, now); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fmt.Fprintf(w, "%s  ingest  hardening: error: %v\n", time.Now().Format("15:04:05"), err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Interval):
		}
	}
	return nil
}

// replay shows that an event id is bound to its content (issue 12): an event is sent, re-sent
// unchanged (an idempotent 202), then re-sent with the denial rewritten as an allow, which an
// attacker could use to pre-claim or overwrite an id: 409, and the log keeps the original.
func replay(send func([]map[string]any) (int, []byte, error), w io.Writer, now time.Time) error {
	id := fmt.Sprintf("demo-refund-%d", now.Unix())
	ev := access(now, "mallory", "refund_override", "deny", "not authorised", map[string]any{"id": id, "resource": "payments/refunds"})
	forged := access(now, "mallory", "refund_override", "allow", "", map[string]any{"id": id, "resource": "payments/refunds"})
	var codes [3]int
	var last []byte
	for k, evs := range [][]map[string]any{{ev}, {ev}, {forged}} {
		code, body, err := send(evs)
		if err != nil {
			return err
		}
		codes[k], last = code, body
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(last, &e)
	fmt.Fprintf(w, "%s  ingest  hardening: event %s sent → %d, re-sent unchanged → %d (idempotent), re-sent with deny rewritten to allow → %d %s: %s\n",
		time.Now().Format("15:04:05"), id, codes[0], codes[1], codes[2], e.Error.Code, e.Error.Message)
	return nil
}

func access(now time.Time, user, action, decision, reason string, extra map[string]any) map[string]any {
	ev := map[string]any{"type": "access", "time": now.Format(time.RFC3339Nano), "actor": map[string]any{"user": user},
		"action": action, "decision": decision}
	if reason != "" {
		ev["reason"] = reason
	}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}
