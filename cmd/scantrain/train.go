package main

import (
	"strings"

	"github.com/warden-ai/warden/internal/scan"
)

func norm(s string) string { return scan.NewDoc(s, scan.Input, scan.Context{}).Norm }

// personaOnly reports deepset-style persona prompts ("act as …", "now you
// are Ted …") that carry no override, extraction or restriction-removal cue.
// deepset labels them injections; Warden's policy treats a persona request
// alone as benign (it is what role-play users ask for, see benign-mtbench),
// so such rows are not trained on and are reported separately.
func personaOnly(text string) bool {
	t := strings.ToLower(text)
	persona := false
	for _, p := range []string{"act as", "pretend", "imagine you are", "you are now", "now you are", "you are a ", "roleplay",
		"role-play", "du bist", "stell dir vor", "tu so", "spiel", "rolle", "als ob", "bist du jetzt", "nun bist du"} {
		if strings.Contains(t, p) {
			persona = true
			break
		}
	}
	if !persona {
		return false
	}
	for _, c := range []string{"ignore", "forget", "disregard", "instruction", "prompt", "rules", "restriction", "filter",
		"vergiss", "ignorier", "anweisung", "regeln", "vorherig", "dan", "jailbreak", "password", "passwort", "say \"", "sag \"",
		"output", "ausgabe", "no longer", "nicht mehr", "uncensored", "unzensiert", "without", "ohne"} {
		if strings.Contains(t, c) {
			return false
		}
	}
	return true
}
