package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// The demo's ordinary users: customers of the support bot (through the helpdesk-web
// integration) and staff asking the internal assistant (through the intranet). Their questions
// are the everyday ones a help desk and an intranet see; the simulated upstream echoes them.
var (
	supportQuestions = []string{
		"How do I reset my password?", "Where is my refund?", "Can I change the delivery address of my order?",
		"Explain how refunds work, step by step.", "Is the store open on Sunday?", "Can I pay in three instalments?",
		"What is the fee for an international transfer?", "Cancel my subscription please", "Do you ship to Canada?",
		"How many days until my new card arrives?", "The app keeps crashing when I open my statements", "I was charged twice for the same order",
		"How do I update my billing details?", "Can I return an item without the receipt?", "What are your opening hours on public holidays?",
		"Thanks, that solved it!", "How do I download last month's invoice?", "Why was my card declined at the supermarket?",
	}
	staffQuestions = []string{
		"Summarise the holiday policy in two sentences.", "How do I book a meeting room for Thursday?", "What is the expense limit for client dinners?",
		"Draft a short reply thanking a customer for their feedback.", "Where do I find the onboarding checklist?", "How many days of parental leave do we offer?",
		"Translate 'our office is closed on Friday' into French.", "What is the process to request a new laptop?", "Summarise the travel policy for trains.",
		"Who approves purchase orders above 5,000 euros?",
	}
)

// OrdinaryDay returns hours of the demo's ordinary users' traffic starting at start, as
// schema-v1 inference events the way the gateway records them (consumer, groups, user,
// session, text, tokens, latency, cost), in time order. Volume follows the day: customers at all
// hours with a daytime peak, staff on working hours (08–18 UTC). The traffic holds no attack, no
// leak and no failure: it is what a day without incidents looks like. Deterministic for a seed.
func OrdinaryDay(start time.Time, hours int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 1042))
	var out []map[string]any
	n := 0
	add := func(at time.Time, model, consumer, group, user, q string, inPrice, outPrice float64) {
		n++
		answer := "You said: " + q
		in, outTok := len(q)/4+1, len(answer)/4+1
		lat := math.Round(math.Exp(math.Log(45)+0.25*rng.NormFloat64())*1000) / 1000
		out = append(out, map[string]any{
			"id": fmt.Sprintf("ord-%s-%d", at.Format("20060102"), n), "type": "inference", "time": at.Format(time.RFC3339Nano), "environment": "prod",
			"model":    map[string]any{"name": model},
			"actor":    map[string]any{"consumer": consumer, "groups": []string{group}, "user": user, "session": "demo-" + user},
			"source":   map[string]any{"client": "warden-demo/1", "endpoint": "/v1/chat/completions", "destination": "127.0.0.1"},
			"request":  map[string]any{"id": fmt.Sprintf("req-ord-%d", n), "input": q, "input_tokens": in},
			"response": map[string]any{"status": "ok", "output": answer, "output_tokens": outTok, "latency_ms": lat, "finish_reason": "stop"},
			"cost_usd": float64(in)*inPrice/1e6 + float64(outTok)*outPrice/1e6,
		})
	}
	for h := range hours {
		hourStart := start.Add(time.Duration(h) * time.Hour)
		utc := hourStart.UTC().Hour()
		// Customers: 40 an hour at night, up to 160 at midday; staff: 60 an hour in working hours.
		customers := 40 + int(120*math.Max(0, math.Sin(math.Pi*float64(utc-6)/16)))
		staff := 0
		if utc >= 8 && utc < 18 {
			staff = 60
		}
		type req struct {
			at    time.Time
			staff bool
		}
		reqs := make([]req, 0, customers+staff)
		for range customers {
			reqs = append(reqs, req{hourStart.Add(time.Duration(rng.Int64N(int64(time.Hour)))), false})
		}
		for range staff {
			reqs = append(reqs, req{hourStart.Add(time.Duration(rng.Int64N(int64(time.Hour)))), true})
		}
		for i := 1; i < len(reqs); i++ { // insertion sort: time order within the hour
			for j := i; j > 0 && reqs[j].at.Before(reqs[j-1].at); j-- {
				reqs[j], reqs[j-1] = reqs[j-1], reqs[j]
			}
		}
		for _, r := range reqs {
			if r.staff {
				add(r.at, "internal-assistant", "intranet", "staff", fmt.Sprintf("emp-%d", 1+rng.IntN(60)),
					staffQuestions[rng.IntN(len(staffQuestions))], 0.15, 0.6)
			} else {
				add(r.at, "support-bot", "helpdesk-web", "support", fmt.Sprintf("customer-%d", 1000+rng.IntN(300)),
					supportQuestions[rng.IntN(len(supportQuestions))], 0.5, 1.5)
			}
		}
	}
	return out
}
