package probe

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Families are the probe families of the built-in packs. Packs may name others.
var Families = []string{
	"prompt_injection", "indirect_injection", "jailbreak", "encoding", "invisible_text",
	"system_prompt_extraction", "pii_leak", "secret_leak", "harmful", "multilingual",
}

// Probe is one adversarial test.
type Probe struct {
	Name      string `yaml:"name" json:"name"`
	Family    string `yaml:"family" json:"family"`
	Technique string `yaml:"technique,omitempty" json:"technique,omitempty"`
	Lang      string `yaml:"lang,omitempty" json:"lang,omitempty"`
	// Prompt is the user message; Document, when set, is untrusted content placed before it
	// (indirect injection: the attack hides in a retrieved page or e-mail).
	Prompt   string `yaml:"prompt" json:"prompt"`
	Document string `yaml:"document,omitempty" json:"document,omitempty"`
	// Expect describes the safe behaviour in words, for reports.
	Expect string `yaml:"expect" json:"expect"`
	Judge  Judge  `yaml:"judge" json:"judge"`

	line int // where it was defined, for errors
}

// Judge says how an answer is judged; a probe fails when any configured check fails.
type Judge struct {
	// Refusal: the safe behaviour is to refuse; an answer that is not a refusal fails.
	Refusal bool `yaml:"refusal,omitempty" json:"refusal,omitempty"`
	// Marker: the attack asks the model to emit this string; an answer containing it fails.
	Marker string `yaml:"marker,omitempty" json:"marker,omitempty"`
	// Canary: the run plants the model's canary in a system message; an answer that reveals
	// the canary or overlaps the system prompt fails.
	Canary bool `yaml:"canary,omitempty" json:"canary,omitempty"`
	// Scan: output scanner categories (pii, secret, harmful, exfiltration, …) that fail the probe.
	Scan []string `yaml:"scan,omitempty" json:"scan,omitempty"`
}

func (j Judge) empty() bool { return !j.Refusal && j.Marker == "" && !j.Canary && len(j.Scan) == 0 }

// Pack is a named set of probes.
type Pack struct {
	Name        string  `yaml:"pack" json:"pack"`
	Description string  `yaml:"description,omitempty" json:"description,omitempty"`
	Probes      []Probe `yaml:"probes" json:"probes"`
	// Source is the file the pack came from ("builtin:<file>" for embedded packs).
	Source string `yaml:"-" json:"source"`
}

// PackError is a problem in a pack file, with its position.
type PackError struct {
	File string
	Line int
	Msg  string
}

func (e *PackError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// maxPackBytes bounds one pack file.
const maxPackBytes = 4 << 20

// Parse reads a pack from data; file names it in errors and picks the format: ".jsonl" is
// JSON Lines (one probe per line, the pack named after the file), anything else YAML.
func Parse(file string, data []byte) (*Pack, error) {
	if len(data) > maxPackBytes {
		return nil, &PackError{File: file, Msg: fmt.Sprintf("larger than %d bytes", maxPackBytes)}
	}
	var p *Pack
	var err error
	if strings.HasSuffix(file, ".jsonl") {
		p, err = parseJSONL(file, data)
	} else {
		p, err = parseYAML(file, data)
	}
	if err != nil {
		return nil, err
	}
	p.Source = file
	return p, p.validate(file)
}

func parseYAML(file string, data []byte) (*Pack, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(file, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &PackError{File: file, Msg: "empty pack"}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &PackError{File: file, Line: doc.Line, Msg: "a pack is a mapping with pack, description and probes"}
	}
	p := &Pack{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		switch k.Value {
		case "pack":
			p.Name = v.Value
		case "description":
			p.Description = v.Value
		case "probes":
			if v.Kind != yaml.SequenceNode {
				return nil, &PackError{File: file, Line: v.Line, Msg: "probes must be a list"}
			}
			for _, n := range v.Content {
				var pr Probe
				if err := decodeStrict(n, &pr); err != nil {
					return nil, yamlErr(file, err)
				}
				pr.line = n.Line
				p.Probes = append(p.Probes, pr)
			}
		default:
			return nil, &PackError{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want pack, description, probes)", k.Value)}
		}
	}
	if p.Name == "" {
		p.Name = packName(file)
	}
	return p, nil
}

// decodeStrict decodes a node refusing unknown keys.
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		// Re-anchor the line to the document: the re-encoded node starts at line 1.
		return relineErr(err, n.Line-1)
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func relineErr(err error, offset int) error {
	msg := lineRE.ReplaceAllStringFunc(err.Error(), func(s string) string {
		var n int
		fmt.Sscanf(s, "line %d", &n)
		return fmt.Sprintf("line %d", n+offset)
	})
	return errors.New(msg)
}

func yamlErr(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	line := 0
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscanf(m[1], "%d", &line)
		if i := strings.Index(msg, m[0]); i >= 0 {
			rest := strings.TrimLeft(msg[i+len(m[0]):], ": ")
			if rest != "" {
				msg = rest
			}
		}
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &PackError{File: file, Line: line, Msg: msg}
}

func parseJSONL(file string, data []byte) (*Pack, error) {
	p := &Pack{Name: packName(file)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxPackBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var pr Probe
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pr); err != nil {
			return nil, &PackError{File: file, Line: n, Msg: jsonMsg(err)}
		}
		if dec.More() {
			return nil, &PackError{File: file, Line: n, Msg: "one JSON object per line"}
		}
		pr.line = n
		p.Probes = append(p.Probes, pr)
	}
	if err := sc.Err(); err != nil {
		return nil, &PackError{File: file, Msg: err.Error()}
	}
	return p, nil
}

func jsonMsg(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: wrong type (%s)", te.Field, te.Value)
	}
	return err.Error()
}

func packName(file string) string {
	base := path.Base(filepath.ToSlash(file))
	for _, ext := range []string{".yaml", ".yml", ".jsonl", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

func (p *Pack) validate(file string) error {
	if !nameRE.MatchString(p.Name) {
		return &PackError{File: file, Msg: fmt.Sprintf("pack name %q: use lower-case letters, digits, '.', '_' and '-'", p.Name)}
	}
	if len(p.Probes) == 0 {
		return &PackError{File: file, Msg: "no probes"}
	}
	seen := map[string]bool{}
	for _, pr := range p.Probes {
		bad := func(format string, args ...any) error {
			return &PackError{File: file, Line: pr.line, Msg: fmt.Sprintf("probe %q: ", pr.Name) + fmt.Sprintf(format, args...)}
		}
		switch {
		case !nameRE.MatchString(pr.Name):
			return &PackError{File: file, Line: pr.line, Msg: fmt.Sprintf("probe name %q: use lower-case letters, digits, '.', '_' and '-'", pr.Name)}
		case seen[pr.Name]:
			return bad("duplicate name")
		case !nameRE.MatchString(pr.Family):
			return bad("family %q: use lower-case letters, digits, '.', '_' and '-'", pr.Family)
		case strings.TrimSpace(pr.Prompt) == "":
			return bad("prompt is required")
		case pr.Judge.empty():
			return bad("judge needs at least one of refusal, marker, canary, scan")
		}
		for _, c := range pr.Judge.Scan {
			if !slices.Contains(scanCategories, c) {
				return bad("judge.scan: %q is not one of %s", c, strings.Join(scanCategories, ", "))
			}
		}
		seen[pr.Name] = true
	}
	return nil
}

// scanCategories are the output scanner categories a judge may name.
var scanCategories = []string{"pii", "secret", "harmful", "exfiltration", "system_prompt_leak", "invisible_text", "encoded_payload"}

//go:embed packs/*.yaml
var builtinFS embed.FS

// Builtin returns the packs embedded in the binary, sorted by name.
func Builtin() ([]*Pack, error) {
	packs, errs := loadFS(builtinFS, "packs", "builtin:")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return packs, nil
}

// LoadDir reads every *.yaml, *.yml and *.jsonl file of dir. A file that does not parse is
// reported in errs (as a *PackError naming file:line) and skipped; the others are returned.
func LoadDir(dir string) (packs []*Pack, errs []error) {
	return loadFS(os.DirFS(dir), ".", dir+string(filepath.Separator))
}

func loadFS(fsys fs.FS, root, prefix string) ([]*Pack, []error) {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, []error{fmt.Errorf("read probe packs %s: %w", strings.TrimSuffix(prefix, string(filepath.Separator)), err)}
	}
	var packs []*Pack
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".jsonl")) {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(root, name))
		if err != nil {
			errs = append(errs, &PackError{File: prefix + name, Msg: err.Error()})
			continue
		}
		p, err := Parse(prefix+name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		packs = append(packs, p)
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].Name < packs[j].Name })
	return packs, errs
}

// Select returns the packs named in names (all when names is empty) or an error naming an
// unknown pack.
func Select(packs []*Pack, names []string) ([]*Pack, error) {
	if len(names) == 0 {
		return packs, nil
	}
	var out []*Pack
	for _, n := range names {
		i := slices.IndexFunc(packs, func(p *Pack) bool { return p.Name == n })
		if i < 0 {
			known := make([]string, len(packs))
			for k, p := range packs {
				known[k] = p.Name
			}
			return nil, fmt.Errorf("unknown probe pack %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, packs[i])
	}
	return out, nil
}

// Merge combines built-in and directory packs; a directory pack with a built-in's name
// replaces it.
func Merge(builtin, extra []*Pack) []*Pack {
	byName := map[string]*Pack{}
	for _, p := range builtin {
		byName[p.Name] = p
	}
	for _, p := range extra {
		byName[p.Name] = p
	}
	out := make([]*Pack, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
