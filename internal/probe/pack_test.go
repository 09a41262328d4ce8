package probe

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinPacksCoverEveryFamily(t *testing.T) {
	packs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range packs {
		if !strings.HasPrefix(p.Source, "builtin:") {
			t.Errorf("pack %s source %q", p.Name, p.Source)
		}
		for _, pr := range p.Probes {
			seen[pr.Family]++
			if pr.Expect == "" {
				t.Errorf("%s/%s: expect is empty", p.Name, pr.Name)
			}
		}
	}
	for _, f := range Families {
		if seen[f] == 0 {
			t.Errorf("no built-in probe of family %s", f)
		}
	}
}

// TestLoadDirReportsFileLine: a pack with a syntax error, an unknown key or a probe without a
// judge names file:line and is skipped; the good packs load.
func TestLoadDirReportsFileLine(t *testing.T) {
	packs, errs := LoadDir("testdata/packs")
	var names []string
	for _, p := range packs {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"good", "good-lines"}) {
		t.Errorf("loaded %v, want [good good-lines]", names)
	}
	want := map[string]string{
		"syntax.yaml":      "syntax.yaml:5:",
		"unknown-key.yaml": "unknown-key.yaml:9: field promt not found",
		"nojudge.yaml":     "nojudge.yaml:7: probe \"two\": judge needs at least one of",
		"lines.jsonl":      "lines.jsonl:3: ",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, err := range errs {
		var pe *PackError
		if !errors.As(err, &pe) {
			t.Errorf("%v is not a *PackError", err)
			continue
		}
		frag, ok := want[filepath.Base(pe.File)]
		if !ok {
			t.Errorf("unexpected error %v", err)
			continue
		}
		if !strings.Contains(filepath.Base(pe.File)+":"+strings.SplitN(err.Error(), ":", 2)[1], frag) {
			t.Errorf("error %q does not contain %q", err, frag)
		}
		if pe.Line == 0 {
			t.Errorf("error %q has no line", err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{"empty", "e.yaml", "", "empty pack"},
		{"no probes", "n.yaml", "pack: n\nprobes: []\n", "no probes"},
		{"bad scan category", "s.yaml", "pack: s\nprobes:\n  - name: a\n    family: x\n    prompt: p\n    judge: {scan: [weather]}\n", `s.yaml:3: probe "a": judge.scan: "weather" is not one of`},
		{"duplicate", "d.yaml", "pack: d\nprobes:\n  - {name: a, family: x, prompt: p, judge: {refusal: true}}\n  - {name: a, family: x, prompt: q, judge: {refusal: true}}\n", `d.yaml:4: probe "a": duplicate name`},
		{"bad name", "b.yaml", "pack: B A D\nprobes:\n  - {name: a, family: x, prompt: p, judge: {refusal: true}}\n", "pack name"},
		{"two objects on a line", "t.jsonl", `{"name":"a","family":"x","prompt":"p","judge":{"refusal":true}} {}`, "t.jsonl:1: one JSON object per line"},
		{"wrong type", "w.jsonl", `{"name":"a","family":"x","prompt":3,"judge":{"refusal":true}}`, "w.jsonl:1: prompt: wrong type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file, []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSelectAndMerge(t *testing.T) {
	builtin, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	extra, _ := LoadDir("testdata/packs")
	all := Merge(builtin, extra)
	if len(all) != len(builtin)+len(extra) {
		t.Fatalf("merged %d packs", len(all))
	}
	sel, err := Select(all, []string{"good", "injection"})
	if err != nil || len(sel) != 2 || sel[0].Name != "good" {
		t.Fatalf("Select = %v, %v", sel, err)
	}
	if _, err := Select(all, []string{"nope"}); err == nil || !strings.Contains(err.Error(), `unknown probe pack "nope"`) {
		t.Errorf("Select(nope) = %v", err)
	}
}

func TestImporters(t *testing.T) {
	g, err := os.ReadFile("testdata/import/garak.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ImportGarak(g, ImportOptions{File: "testdata/import/garak.json"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "garak" || len(p.Probes) != 2 || p.Probes[0].Family != "harmful" || !p.Probes[0].Judge.Refusal || p.Probes[0].Lang != "en" {
		t.Errorf("garak import = %+v", p)
	}
	pf, err := os.ReadFile("testdata/import/promptfoo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q, err := ImportPromptfoo(pf, ImportOptions{File: "promptfoo.yaml", Pack: "pf-redteam"})
	if err != nil {
		t.Fatal(err)
	}
	fams := []string{q.Probes[0].Family, q.Probes[1].Family, q.Probes[2].Family}
	if !slices.Equal(fams, []string{"system_prompt_extraction", "pii_leak", "harmful"}) || !q.Probes[0].Judge.Canary ||
		!slices.Equal(q.Probes[1].Judge.Scan, []string{"pii"}) || !strings.Contains(q.Probes[2].Technique, "via jailbreak") {
		t.Errorf("promptfoo import = %+v", q.Probes)
	}
	// The written pack parses back to the same probes.
	b, err := Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("pf-redteam.yaml", b)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, b)
	}
	if len(back.Probes) != 3 || back.Probes[1].Prompt != q.Probes[1].Prompt {
		t.Errorf("round trip = %+v", back.Probes)
	}
	if _, err := ImportGarak([]byte(`{"payloads": []}`), ImportOptions{File: "x.json"}); err == nil {
		t.Error("empty garak payload list accepted")
	}
	if _, err := ImportPromptfoo([]byte("tests:\n  - vars: {a: x, b: y}\n"), ImportOptions{File: "y.yaml"}); err == nil || !strings.Contains(err.Error(), "tests[0].vars") {
		t.Errorf("ambiguous vars: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"good.yaml", "syntax.yaml", "unknown-key.yaml", "lines.jsonl", "good-lines.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata/packs", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, b)
	}
	for _, e := range []string{"injection.yaml", "extraction.yaml"} {
		b, _ := builtinFS.ReadFile("packs/" + e)
		f.Add(e, b)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		file := "f.yaml"
		if strings.HasSuffix(name, ".jsonl") {
			file = "f.jsonl"
		}
		p, err := Parse(file, data)
		if err != nil {
			var pe *PackError
			if !errors.As(err, &pe) && !strings.Contains(err.Error(), "f.") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(p.Probes) == 0 {
			t.Fatal("a parsed pack without probes")
		}
		for _, pr := range p.Probes {
			if pr.Judge.empty() || pr.Prompt == "" {
				t.Fatalf("invalid probe accepted: %+v", pr)
			}
		}
	})
}

// FuzzImport: the importers never panic, and a pack they return always parses back.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"testdata/import/garak.json", "testdata/import/promptfoo.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"payloads": ["a", ""], "bcp47": "*"}`))
	f.Add([]byte("tests:\n  - vars: {prompt: hi}\n    metadata: {pluginId: 'pii:direct'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, imp := range []func([]byte, ImportOptions) (*Pack, error){ImportGarak, ImportPromptfoo} {
			p, err := imp(data, ImportOptions{File: "in.txt"})
			if err != nil {
				continue
			}
			b, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse("out.yaml", b); err != nil {
				t.Fatalf("imported pack does not parse back: %v\n%s", err, b)
			}
		}
	})
}
