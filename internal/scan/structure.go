package scan

import (
	"strings"
)

// Structural features of instructions addressed to a model. The n-gram
// model of the first stage learns the words of its training sources; these
// features describe what an injection *does* in any source — it speaks to
// the model in the second person, names its instructions, orders it to
// forget them, resets the task, asks for secrecy, hides an order inside a
// document — as counts of small multilingual cue lists plus sentence
// structure. The second-stage model (weights/structure.json, package dense)
// reads them together with the first stage's scores.

// cue groups.
const (
	cueYou        = iota // second person
	cueModel             // the AI, assistant, model, system
	cueInstr             // instructions, prompt, rules, task
	cueOverride          // ignore, forget, disregard
	cueReset             // from now on, new task, instead
	cuePersona           // you are, act as, pretend
	cueOutput            // say, print, respond, reply
	cueRespRef           // your response, your answer
	cueSecrecy           // do not tell, without notifying
	cueUnrestrict        // no restrictions, uncensored, not bound
	cueExtract           // reveal, system prompt, password
	cueFiction           // hypothetical, story, imagine
	cueUrgent            // important, must, immediately
	cueAction            // send, forward, execute, transfer
	cueDelim             // ###, <system>, [inst]
	cuePraise            // well done, great, good job
	cueAffirm            // sure, here is; begin your reply with
	cueImper             // imperative verbs (counted at sentence starts)
	nCue
)

var cueNames = [nCue]string{"you", "model", "instr", "override", "reset", "persona", "output", "respref", "secrecy",
	"unrestrict", "extract", "fiction", "urgent", "action", "delim", "praise", "affirm", "imper"}

var cueLists = [nCue][]string{
	cueYou: {"you", "your", "yours", "yourself", "you're", "you've", "you'll", "u",
		"du", "dein", "deine", "deinen", "deiner", "dich", "dir", "euch", "ihr", "tu", "toi", "ton", "ta", "tes", "vous", "votre", "vos",
		"tú", "usted", "tus", "te", "ti", "tuo", "tua", "você", "voce", "seu", "sua", "ты", "вы", "тебя", "тебе", "твой", "ваш",
		"你", "您", "あなた", "너", "당신", "sen", "sie sind"},
	cueModel: {"ai", "assistant", "chatbot", "bot", "language model", "llm", "gpt", "chatgpt", "openai", "model", "agent", "system",
		"ki", "sprachmodell", "assistent", "künstliche intelligenz", "ia", "asistente", "modelo", "modèle", "assistente", "ии",
		"модель", "ассистент", "人工智能", "助手", "模型"},
	cueInstr: {"instruction", "instructions", "prompt", "prompts", "rules", "rule", "guidelines", "task", "tasks", "assignment",
		"directive", "directives", "programming", "constraints", "policy", "policies", "context", "conversation",
		"anweisung", "anweisungen", "aufgabe", "aufgaben", "regeln", "auftrag", "aufträge", "vorgaben",
		"consigne", "consignes", "tâche", "règles", "instrucciones", "tarea", "reglas", "istruzioni", "compito", "regole",
		"instruções", "tarefa", "regras", "инструкции", "задача", "правила", "指令", "任务", "规则", "指示"},
	cueOverride: {"ignore", "ignoring", "disregard", "forget", "override", "bypass", "overrule", "circumvent", "abandon", "discard",
		"ignoriere", "ignorieren", "ignorier", "vergiss", "vergesse", "vergessen", "missachte", "überschreibe",
		"ignorez", "ignore", "oublie", "oubliez", "ignora", "olvida", "olvide", "dimentica", "esqueça", "esqueca",
		"игнорируй", "забудь", "忽略", "忘记", "无视"},
	cueReset: {"from now on", "new task", "new tasks", "new instructions", "new instruction", "new assignment", "new rules",
		"instead", "starting now", "now you", "now,", "but now", "next task", "now comes", "now come", "here comes",
		"ab jetzt", "von nun an", "ab sofort", "neue aufgabe", "neue aufgaben", "neue anweisung", "stattdessen", "jetzt kommt",
		"nun", "jetzt", "à partir de maintenant", "désormais", "nouvelle tâche", "a partir de ahora", "nueva tarea",
		"d'ora in poi", "nuovo compito", "a partir de agora", "nova tarefa", "теперь", "новая задача", "从现在开始", "新任务"},
	cuePersona: {"you are", "you're a", "act as", "acting as", "pretend", "roleplay", "role-play", "role play", "imagine you",
		"play the role", "you will be", "you will now", "you are now", "your name is", "as a", "persona", "character",
		"du bist", "stell dir vor", "tu so", "spiele", "rolle", "sei ein", "sei eine", "tu es", "vous êtes", "fais semblant",
		"eres", "actúa como", "finge", "sei un", "fingi", "você é", "finja", "ты —", "представь", "притворись", "你是", "扮演"},
	cueOutput: {"say", "print", "output", "respond", "reply", "answer", "write", "type", "return", "repeat", "spell",
		"sag", "sage", "schreib", "schreibe", "antworte", "antwort", "gib", "ausgabe", "dis", "écris", "réponds",
		"di", "escribe", "responde", "scrivi", "rispondi", "diga", "escreva", "скажи", "напиши", "ответь", "说", "写", "回答"},
	cueRespRef: {"your response", "your answer", "your reply", "your output", "your responses", "your answers", "your replies",
		"in your response", "response should", "respond with", "reply with", "answer with", "the response", "your next response",
		"deine antwort", "deiner antwort", "antworte mit", "ta réponse", "votre réponse", "tu respuesta", "la tua risposta",
		"sua resposta", "твой ответ", "你的回答"},
	cueSecrecy: {"do not tell", "don't tell", "without telling", "do not mention", "don't mention", "without mentioning",
		"without notifying", "without informing", "without the user", "secretly", "without leaving", "do not reveal that",
		"don't let", "do not inform", "do not notify", "without alerting", "silently", "covertly", "unnoticed",
		"without anyone", "hide this", "keep this secret", "nicht verraten", "heimlich", "sans le dire", "en secreto", "秘密"},
	cueUnrestrict: {"no restrictions", "without restrictions", "unrestricted", "unfiltered", "uncensored", "no limits",
		"no rules", "not bound", "free from", "no longer", "any restrictions", "ethical", "ethics", "moral", "morals",
		"guidelines", "content policy", "safety", "filter", "filters", "censorship", "can do anything", "anything now",
		"do anything", "jailbreak", "jailbroken", "developer mode", "illegal", "immoral", "unethical", "not allowed",
		"ohne einschränkungen", "keine regeln", "unzensiert", "sans restrictions", "sin restricciones", "без ограничений"},
	cueExtract: {"reveal", "system prompt", "initial prompt", "password", "passwort", "secret", "confidential", "above",
		"previous", "earlier", "everything before", "the text above", "prior", "original", "embeddings", "internal",
		"oben", "vorherigen", "bisherigen", "précédentes", "anteriores", "precedenti", "предыдущие", "之前", "以上"},
	cueFiction: {"hypothetical", "hypothetically", "imagine", "fiction", "fictional", "story", "novel", "scenario", "theoretical",
		"game", "movie", "script", "screenplay", "writer", "once upon", "in a world", "let's play", "suppose", "dream",
		"hypothetisch", "stell dir", "geschichte", "spiel", "hypothétique", "histoire", "hipotético", "historia", "ipotetico"},
	cueUrgent: {"important", "must", "immediately", "urgent", "urgently", "critical", "mandatory", "required", "now!",
		"very important", "!!", "always", "never", "at all times", "under no circumstances", "strictly",
		"wichtig", "sofort", "unbedingt", "muss", "immer", "niemals", "important", "immédiatement", "importante", "siempre"},
	cueAction: {"send", "forward", "email", "e-mail", "transfer", "execute", "run", "download", "upload", "click", "visit",
		"navigate", "delete", "grant", "install", "http", "https", "www", "credentials", "api key", "account", "exfiltrate",
		"sende", "schicke", "leite", "überweise", "führe", "envoie", "envía", "invia", "envie"},
	cueDelim: {"###", "---", "===", "```", "<system", "</system", "[system", "system:", "user:", "assistant:", "[inst]", "[/inst]",
		"<|", "|>", "{{", "}}", "<rule>", "[[", "]]", ">>>", "<<", "***", "@@", "admin:", "developer:", "note to", "attention",
		"important:", "instruction:", "instructions:", "begin", "end of"},
	cuePraise: {"well done", "great job", "good job", "excellent", "perfect", "great.", "great!", "super", "wonderful", "thank you",
		"thanks", "you passed", "that's enough", "that is enough", "gut gemacht", "sehr gut", "toll", "prima", "bravo", "très bien",
		"muy bien", "molto bene", "отлично", "很好"},
	cueAffirm: {"sure, here", "sure here", "begin your reply", "begin your response", "start your response", "start your reply",
		"start with", "begin with", "begin by", "respond only", "only respond", "only answer", "answer only", "reply only",
		"exact structure", "never refuse", "do not refuse", "don't refuse", "cannot refuse", "always comply", "will comply",
		"absolutely", "of course", "certainly"},
	cueImper: {"ignore", "forget", "disregard", "write", "tell", "give", "say", "print", "make", "create", "generate", "list",
		"explain", "describe", "provide", "show", "send", "add", "translate", "answer", "respond", "reply", "output", "return",
		"repeat", "include", "insert", "append", "encode", "use", "change", "replace", "remove", "delete", "do", "don't",
		"stop", "start", "begin", "now", "please", "act", "pretend", "imagine", "let's", "let", "be", "remember", "note",
		"summarize", "analyze", "recommend", "determine", "compose", "draft", "forward", "execute", "run", "visit", "click",
		"schreibe", "schreib", "sag", "sage", "gib", "erzähle", "erkläre", "vergiss", "ignoriere", "nenne", "zeige",
		"mach", "mache", "übersetze", "antworte", "bitte", "beschreibe", "konzentriere", "écris", "dis", "donne", "oublie",
		"ignore", "traduis", "réponds", "escribe", "dime", "di", "olvida", "ignora", "traduce", "responde", "scrivi",
		"dimmi", "dimentica", "напиши", "скажи", "забудь", "игнорируй", "请", "忽略", "写"},
}

// structPatterns flattens the cue lists for the shared automaton; structCue
// maps a pattern (relative id) to its group.
func structPatterns() (pats []string, group []uint8) {
	for g, l := range cueLists {
		seen := map[string]bool{}
		for _, p := range l {
			if n := NewDoc(p, Input, Context{}).Norm; n != "" && strings.TrimSpace(p) == p {
				p = n
			}
			if seen[p] {
				continue // one count per occurrence and group
			}
			seen[p] = true
			pats = append(pats, p)
			group = append(group, uint8(g))
		}
	}
	return pats, group
}

// StructFeatureNames lists the structural features in order. The first
// stage's scores are appended by the scanner (see stage2Inputs). Features
// do not grow with the length of the text: cue groups are counted inside
// the densest window (an injection packs its cues together; a long benign
// document spreads them out) and as densities per sentence.
var StructFeatureNames = func() []string {
	var n []string
	for _, c := range cueNames {
		n = append(n, "win_"+c)
	}
	for _, c := range cueNames {
		n = append(n, "dens_"+c)
	}
	return append(n, "win_groups", "imper_first", "imper_mid", "respref_mid", "you_density", "instr_x_override",
		"model_x_instr", "weird_tokens", "short_text", "sig_injection", "sig_jailbreak", "sig_indirect",
		"override_x_backref", "doc_like", "order_inside", "respref_inside", "odd_head", "odd_tail", "line_density",
		"bracket_imbalance")
}()

// cueWindow is the byte width of the window in which cue groups are counted.
const cueWindow = 240

// structState is the outcome of the structural pass: the feature vector
// and the span of the strongest instruction-like sentence (evidence).
type structState struct {
	x    []float64
	span [2]int
}

// sentenceStarts returns the start offsets of the sentences of norm.
func sentenceStarts(dst []int, norm string) []int {
	dst = append(dst, 0)
	for i := 0; i < len(norm); i++ {
		c := norm[i]
		switch {
		case c == '\n':
			if i+1 < len(norm) {
				dst = append(dst, i+1)
			}
		case (c == '.' || c == '!' || c == '?' || c == ':' || c == ';') && i+1 < len(norm) && norm[i+1] == ' ':
			if i+2 < len(norm) {
				dst = append(dst, i+2)
			}
		}
		if len(dst) >= 4096 {
			break
		}
	}
	return dst
}

// structFeatures computes the structural features of in given the
// signature layer's result r. hits are the cue matches: (group, start, end)
// in Norm, in order of their end offsets.
func structFeatures(in *Doc, r sigResult, hits []cueHit, x []float64) structState {
	norm := in.Norm
	x = x[:0]
	var cnt [nCue]int
	var starts [64]int
	ss := sentenceStarts(starts[:0], norm)
	// sentence index of offset p: ss is sorted.
	sentOf := func(p int) int {
		lo, hi := 0, len(ss)
		for lo+1 < hi {
			m := (lo + hi) / 2
			if ss[m] <= p {
				lo = m
			} else {
				hi = m
			}
		}
		return lo
	}
	imperFirst, imperMid, respMid := 0.0, 0.0, 0.0
	orderInside, respInside := 0.0, 0.0
	// inside: an order with at least insideMargin bytes and 15% of the
	// text on either side (an instruction planted in pasted or retrieved
	// data, rather than the user's own request before or after it).
	inside := func(p int) bool {
		n := len(norm)
		return p >= insideMargin && n-p >= insideMargin && p*100 >= 15*n && p*100 <= 85*n
	}
	var extractHits []cueHit
	lastImperSent := -1
	var instrHits, overrideHits, modelHits []cueHit
	best := [2]int{0, len(norm)}
	bestW := 0
	for _, h := range hits {
		cnt[h.g]++
		switch h.g {
		case cueImper:
			si := sentOf(h.start)
			st := ss[si]
			// sentence-initial, allowing "please" / "now" / "and" before it
			lead := strings.TrimSpace(norm[st:h.start])
			if lead == "" || lead == "please" || lead == "now" || lead == "and" || lead == "then" || lead == "bitte" || lead == "-" || lead == "*" {
				if si != lastImperSent {
					lastImperSent = si
					if inside(h.start) {
						orderInside = 1
					}
					if si == 0 {
						imperFirst = 1
					} else if si >= 2 {
						imperMid = 1
						if bestW < 1 {
							best, bestW = sentSpan(ss, si, len(norm)), 1
						}
					}
				}
			}
		case cueRespRef:
			if inside(h.start) {
				respInside = 1
			}
			if si := sentOf(h.start); si >= 1 {
				respMid = 1
				if bestW < 2 {
					best, bestW = sentSpan(ss, si, len(norm)), 2
				}
			}
		case cueInstr:
			instrHits = append(instrHits, h)
		case cueOverride:
			overrideHits = append(overrideHits, h)
		case cueModel:
			modelHits = append(modelHits, h)
		case cueExtract:
			extractHits = append(extractHits, h)
		}
	}
	// The densest window: the most distinct cue groups among hits whose
	// starts lie within cueWindow bytes (two pointers over hits in order).
	var wc [nCue]int
	var bestMask uint32
	bestN, bestLo, bestHi := 0, 0, 0
	distinct := 0
	lo := 0
	for hi, h := range hits {
		if wc[h.g] == 0 {
			distinct++
		}
		wc[h.g]++
		for hits[lo].start < h.start-cueWindow {
			wc[hits[lo].g]--
			if wc[hits[lo].g] == 0 {
				distinct--
			}
			lo++
		}
		if distinct > bestN {
			bestN, bestLo, bestHi = distinct, lo, hi
			bestMask = 0
			for g := range nCue {
				if wc[g] > 0 {
					bestMask |= 1 << g
				}
			}
		}
	}
	for g := range nCue {
		x = append(x, float64(bestMask>>g&1))
	}
	nSent := float64(len(ss))
	for g := range nCue {
		x = append(x, min(3, float64(cnt[g])/nSent))
	}
	words := 0
	weird, toks := 0, 0
	inWord := false
	tokStart := 0
	for i := 0; i <= len(norm); i++ {
		if i == len(norm) || norm[i] == ' ' || norm[i] == '\n' {
			if inWord {
				toks++
				if weirdToken(norm[tokStart:i]) {
					weird++
				}
			}
			inWord = false
			continue
		}
		if !inWord {
			inWord, tokStart = true, i
			words++
		}
	}
	near := func(a, b []cueHit, gap int) float64 {
		for _, p := range a {
			for _, q := range b {
				if p.end <= q.start && q.start-p.end <= gap || q.end <= p.start && p.start-q.end <= gap {
					return 1
				}
			}
		}
		return 0
	}
	short := 0.0
	if words < 12 {
		short = 1
	}
	x = append(x, float64(bestN), imperFirst, imperMid, respMid,
		float64(cnt[cueYou])/float64(max(words, 1)),
		near(overrideHits, instrHits, 48), near(modelHits, instrHits, 48),
		float64(weird)/float64(max(toks, 1)), short,
		r.inj, r.jail, r.indirect,
		near(overrideHits, extractHits, 40), docLike(norm), orderInside, respInside)
	x = appendSuffixFeatures(x, in.Text)
	if bestN >= 3 && bestW < 3 {
		best, bestW = [2]int{hits[bestLo].start, hits[bestHi].end}, 3
	}
	if r.inj >= 0.5 && bestW < 4 {
		best = r.injSpan
	}
	return structState{x: x, span: best}
}

// insideMargin is the least text on each side of an order "inside" a text.
const insideMargin = 100

// docLike reports (0/1) whether norm looks like pasted data rather than a
// typed request: several lines, a table, a code fence or e-mail headers.
func docLike(norm string) float64 {
	if strings.Count(norm, "\n") >= 4 || strings.Count(norm, "|") >= 4 || strings.Contains(norm, "```") ||
		strings.Contains(norm, "subject:") || strings.Contains(norm, "from:") {
		return 1
	}
	return 0
}

// responseRefs refer to the reader's own response. In a user's request
// they are ordinary ("keep your answer short"); planted inside pasted or
// retrieved data (an e-mail, a table, a web page) they are an order to the
// AI that reads it ("Add a sentence in your response …").
var responseRefs = []string{"your response", "your responses", "your answer", "your answers", "your reply", "your replies",
	"your output", "in the response", "to the response",
	"deine antwort", "deiner antwort", "ihre antwort", "ihrer antwort", "ta réponse", "votre réponse", "tu respuesta",
	"su respuesta", "la tua risposta", "sua resposta", "твой ответ", "ваш ответ"}

// responseOrderInside returns the span of a reference to the reader's
// response that stands inside pasted data: the text looks like a document
// (docLike) and the reference has at least insideMargin bytes and 15% of
// the text on either side.
func responseOrderInside(norm string) (sp [2]int, ok bool) {
	if docLike(norm) == 0 {
		return sp, false
	}
	n := len(norm)
	for _, r := range responseRefs {
		for off := 0; off < n; {
			i := strings.Index(norm[off:], r)
			if i < 0 {
				break
			}
			p := off + i
			off = p + len(r)
			if p > 0 && isWordChar(norm[p-1]) || off < n && isWordChar(norm[off]) {
				continue
			}
			if p >= insideMargin && n-p >= insideMargin && p*100 >= 15*n && p*100 <= 85*n {
				return [2]int{p, off}, true
			}
		}
	}
	return sp, false
}

// suffixTokens is the number of leading and trailing tokens compared by
// the adversarial-suffix features.
const suffixTokens = 16

// appendSuffixFeatures appends features of optimised adversarial suffixes
// (GCG-style token noise after an ordinary request), computed on the raw
// text because case and script mixing are lost in Norm: the share of odd
// tokens among the first and the last suffixTokens tokens, newlines per
// token (code is line-structured, a suffix is not) and unbalanced brackets
// and quotes in the last 200 bytes.
func appendSuffixFeatures(x []float64, text string) []float64 {
	var ring [suffixTokens][2]int // spans of the last tokens; oddToken runs on them at the end
	toks, head, lines := 0, 0, 0
	start := -1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && text[i] == '\n' {
			lines++
		}
		if i == len(text) || text[i] == ' ' || text[i] == '\n' || text[i] == '\t' {
			if start >= 0 {
				if toks < suffixTokens && oddToken(text[start:i]) {
					head++
				}
				ring[toks%suffixTokens] = [2]int{start, i}
				toks++
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	oddHead, oddTail := 0.0, 0.0
	if toks >= 8 {
		tail := 0
		for _, sp := range ring[:min(toks, suffixTokens)] {
			if oddToken(text[sp[0]:sp[1]]) {
				tail++
			}
		}
		n := float64(min(toks, suffixTokens))
		oddHead, oddTail = float64(head)/n, float64(tail)/n
	}
	imb := bracketImbalance(text[max(0, len(text)-200):])
	return append(x, oddHead, oddTail, min(1, float64(lines)/float64(max(toks, 1))), float64(min(imb, 4)))
}

// adversarialSuffix reports an optimised adversarial suffix (GCG-style):
// a last line of at least suffixTokens/2 tokens whose last suffixTokens
// tokens include at least 3 odd ones (oddToken) and whose last 200 bytes
// leave at least two brackets or quotes unbalanced. start is the byte
// offset in text of the first odd token of that window (the evidence).
// The rule was written from the published form of such suffixes
// (token-level noise after an ordinary request); its constants were
// checked against the benign sources (≤ 0.2% of any of them) in the
// leave-one-source-out table of docs/DETECTION.md.
func adversarialSuffix(text string) (start int, ok bool) {
	var ring [suffixTokens][2]int // spans of the last tokens; oddToken runs on them at the end
	toks, lineToks, prevLine := 0, 0, 0
	ts := -1
	for i := 0; i <= len(text); i++ {
		c := byte('\n')
		if i < len(text) {
			c = text[i]
		}
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			if ts >= 0 {
				ring[toks%suffixTokens] = [2]int{ts, i}
				toks++
				lineToks++
				ts = -1
			}
			if c == '\n' && lineToks > 0 {
				prevLine, lineToks = lineToks, 0 // the last non-empty line counts
			}
			continue
		}
		if ts < 0 {
			ts = i
		}
	}
	if lineToks == 0 {
		lineToks = prevLine
	}
	if toks < suffixTokens/2 || lineToks < suffixTokens/2 {
		return 0, false
	}
	odd := 0
	start = len(text)
	for _, sp := range ring[:min(toks, suffixTokens)] {
		if oddToken(text[sp[0]:sp[1]]) {
			odd++
			start = min(start, sp[0])
		}
	}
	if odd < 3 || bracketImbalance(text[max(0, len(text)-200):]) < 2 {
		return 0, false
	}
	return start, true
}

// bracketImbalance counts unclosed or unopened (), [] and {} in t, plus
// one for an odd number of double quotes.
func bracketImbalance(t string) int {
	var paren, square, curly, quote int
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '(':
			paren++
		case ')':
			paren--
		case '[':
			square++
		case ']':
			square--
		case '{':
			curly++
		case '}':
			curly--
		case '"':
			quote++
		}
	}
	abs := func(v int) int { return max(v, -v) }
	return abs(paren) + abs(square) + abs(curly) + quote%2
}

// oddToken reports a token of the raw text that ordinary prose rarely
// contains: letters mixed with punctuation inside it (weirdToken), a
// capital after a lower-case letter inside a word ("SecFootnote"), or
// Latin letters next to letters of another script ("double運行rač").
func oddToken(t string) bool {
	lowerBefore, upperIn, latin, other := false, false, false, false
	letters, punct := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z':
			lowerBefore = true
			latin = true
			letters++
		case c >= 'A' && c <= 'Z':
			if lowerBefore {
				upperIn = true
			}
			latin = true
			letters++
		case c >= 0xC0 && len(t) <= 20:
			// A lead byte outside Latin-1 and Latin Extended-A/B, U+1xxx
			// (Vietnamese letters, among other scripts), general
			// punctuation (curly quotes, dashes), specials and emoji. Long
			// tokens are skipped: scripts written without spaces (Chinese,
			// Thai) make whole clauses one token.
			if (c < 0xC3 || c > 0xC9) && c != 0xE1 && c != 0xE2 && c != 0xEF && c < 0xF0 {
				other = true
			}
		case punctByte[c]:
			punct++
		}
	}
	if upperIn || latin && other {
		return true
	}
	return letters >= 2 && punct >= 2 && weirdToken(t)
}

// sentSpan is the byte range of sentence si.
func sentSpan(ss []int, si, n int) [2]int {
	end := n
	if si+1 < len(ss) {
		end = ss[si+1]
	}
	return [2]int{ss[si], end}
}

// punctByte marks ASCII punctuation.
var punctByte = func() (t [256]bool) {
	for _, c := range []byte("!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~") {
		t[c] = true
	}
	return t
}()

// weirdToken reports a token that mixes letters with punctuation inside it
// (optimised adversarial suffixes: `!rewornotherepeat`, `lu....",strongbold`).
// Trailing sentence punctuation and leading quotes or brackets do not count.
func weirdToken(t string) bool {
	for len(t) > 0 && strings.IndexByte(".,!?;:\"')", t[len(t)-1]) >= 0 {
		t = t[:len(t)-1]
	}
	for len(t) > 0 && (t[0] == '"' || t[0] == '\'' || t[0] == '(') {
		t = t[1:]
	}
	letters, punct := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			letters++
		} else if punctByte[c] {
			punct++
		}
	}
	return letters >= 2 && punct >= 2
}

// cueHit is one cue-list match in Norm.
type cueHit struct {
	g          uint8
	start, end int
}
