package correlation

import (
	"math"
	"sort"
	"strings"
	"time"
	"unicode"
)

// This file keeps the scoring as it was before the allocation-free
// rewrite, unchanged but for the names, as the reference that
// TestMatchesReference holds the fast implementation to, bit for bit.

func referenceBest(cfg Config, g Graph, incoming Candidate, open []Candidate) (best Score, ok bool) {
	cfg = cfg.normalised()
	found := false
	var bestStart time.Time
	for _, c := range open {
		s, in := referenceEvaluate(cfg, g, incoming, c)
		if !in {
			continue
		}
		if !found || referenceBetter(s, c.StartedAt, best, bestStart) {
			best, bestStart, found = s, c.StartedAt, true
		}
	}
	if !found {
		return Score{}, false
	}
	return best, best.Total+epsilon >= cfg.Threshold
}

func referenceBetter(s Score, start time.Time, than Score, thanStart time.Time) bool {
	if d := s.Total - than.Total; math.Abs(d) > epsilon {
		return d > 0
	}
	if !start.Equal(thanStart) {
		return start.Before(thanStart)
	}
	return s.CandidateID < than.CandidateID
}

func referenceEvaluate(cfg Config, g Graph, incoming, c Candidate) (s Score, in bool) {
	cfg = cfg.normalised()
	if incoming.StartedAt.IsZero() || c.StartedAt.IsZero() {
		return Score{}, false
	}
	if c.ID != "" && c.ID == incoming.ID {
		return Score{}, false
	}
	age := incoming.StartedAt.Sub(c.StartedAt)
	if age < 0 || age > cfg.Window {
		return Score{}, false
	}
	p := Parts{Time: referenceClamp01(1 - float64(age)/float64(cfg.Window))}
	if referenceSameService(incoming, c) {
		p.SameService = 1
	} else if hops, ok := referenceDistance(g, incoming, c); ok {
		if hops <= 0 {
			p.SameService = 1
		} else {
			p.Dependency = referenceHopScore(hops)
		}
	}
	if referenceSameKey(incoming, c) {
		p.SameKey = 1
	}
	p.Title = referenceTitleScore(incoming, c)
	w := cfg.Weights
	total := w.SameService*p.SameService + w.Dependency*p.Dependency + w.SameKey*p.SameKey +
		w.Title*p.Title + w.Time*p.Time
	return Score{Total: referenceClamp01(total), Parts: p, CandidateID: c.ID}, true
}

func referenceHopScore(hops int) float64 {
	if hops > MaxHops {
		return 0
	}
	return 1 / float64(int(1)<<(hops-1))
}

func referenceClamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

func referenceSameService(a, b Candidate) bool {
	aid, bid := strings.TrimSpace(a.ServiceID), strings.TrimSpace(b.ServiceID)
	if aid != "" && aid == bid && strings.EqualFold(strings.TrimSpace(a.Provider), strings.TrimSpace(b.Provider)) {
		return true
	}
	an, bn := referenceServiceName(a), referenceServiceName(b)
	return an != "" && an == bn
}

func referenceServiceName(c Candidate) string {
	if n := referenceNormalizeServiceName(c.ServiceName); n != "" {
		return n
	}
	return referenceNormalizeServiceName(c.ServiceID)
}

func referenceNormalizeServiceName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

func referenceDistance(g Graph, a, b Candidate) (int, bool) {
	if g == nil {
		return 0, false
	}
	pairs := [][2]string{
		{strings.TrimSpace(a.ServiceID), strings.TrimSpace(b.ServiceID)},
		{strings.TrimSpace(a.ServiceName), strings.TrimSpace(b.ServiceName)},
	}
	for _, p := range pairs {
		if p[0] == "" || p[1] == "" || p[0] == p[1] {
			continue
		}
		if hops, ok := g.Distance(p[0], p[1]); ok && hops <= MaxHops {
			return hops, true
		}
	}
	return 0, false
}

func referenceKeys(c Candidate) []string {
	out := make([]string, 0, 1+len(c.DedupKeys))
	for _, k := range append([]string{c.IncidentKey}, c.DedupKeys...) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func referenceSameKey(a, b Candidate) bool {
	bk := referenceKeys(b)
	for _, x := range referenceKeys(a) {
		for _, y := range bk {
			if x == y {
				return true
			}
		}
	}
	return false
}

var referenceStopwords = map[string]bool{
	"a": true, "an": true, "the": true, "on": true, "in": true, "of": true, "for": true,
	"at": true, "to": true, "is": true, "and": true, "or": true, "with": true, "by": true, "from": true,
}

func referenceTitleTokens(title string) []string {
	fields := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if referenceStopwords[f] || strings.IndexFunc(f, unicode.IsDigit) >= 0 {
			continue
		}
		out = append(out, f)
	}
	return out
}

func referenceTitleSimilarity(a, b string) float64 {
	return referenceTokenSimilarity(referenceTitleTokens(a), referenceTitleTokens(b))
}

func referenceTitleScore(a, b Candidate) float64 {
	ta, tb := referenceTitleTokens(a.Title), referenceTitleTokens(b.Title)
	best := referenceTokenSimilarity(ta, tb)
	names := map[string]bool{}
	for _, c := range []Candidate{a, b} {
		for _, s := range []string{c.ServiceName, c.ServiceID} {
			for _, tok := range referenceTitleTokens(s) {
				names[tok] = true
			}
		}
	}
	strip := func(ts []string) []string {
		var out []string
		for _, t := range ts {
			if !names[t] {
				out = append(out, t)
			}
		}
		return out
	}
	if s := referenceTokenSimilarity(strip(ta), strip(tb)); s > best {
		best = s
	}
	return best
}

func referenceTokenSimilarity(ta, tb []string) float64 {
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	words := referenceJaccard(referenceSet(ta), referenceSet(tb))
	grams := referenceJaccard(referenceTrigrams(ta), referenceTrigrams(tb))
	return referenceClamp01((words + grams) / 2)
}

func referenceSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func referenceTrigrams(tokens []string) map[string]bool {
	r := []rune(" " + strings.Join(tokens, " ") + " ")
	m := map[string]bool{}
	for i := 0; i+3 <= len(r); i++ {
		m[string(r[i:i+3])] = true
	}
	return m
}

func referenceJaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

func referenceRank(cfg Config, g Graph, incoming Candidate, open []Candidate) []Score {
	cfg = cfg.normalised()
	type scored struct {
		s     Score
		start time.Time
	}
	var all []scored
	for _, c := range open {
		if s, in := referenceEvaluate(cfg, g, incoming, c); in {
			all = append(all, scored{s, c.StartedAt})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		return referenceBetter(all[i].s, all[i].start, all[j].s, all[j].start)
	})
	out := make([]Score, len(all))
	for i, x := range all {
		out[i] = x.s
	}
	return out
}

type referenceGraph map[string]map[string]bool

func referenceNewGraph(edges [][2]string) Graph {
	g := referenceGraph{}
	add := func(a, b string) {
		if g[a] == nil {
			g[a] = map[string]bool{}
		}
		g[a][b] = true
	}
	for _, e := range edges {
		a, b := strings.TrimSpace(e[0]), strings.TrimSpace(e[1])
		if a == "" || b == "" || a == b {
			continue
		}
		add(a, b)
		add(b, a)
	}
	return g
}

func (g referenceGraph) Distance(from, to string) (int, bool) {
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if from == "" || to == "" {
		return 0, false
	}
	if from == to {
		return 0, true
	}
	seen := map[string]bool{from: true}
	frontier := []string{from}
	for hops := 1; hops <= MaxHops && len(frontier) > 0; hops++ {
		var next []string
		for _, n := range frontier {
			for m := range g[n] {
				if m == to {
					return hops, true
				}
				if !seen[m] {
					seen[m] = true
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	return 0, false
}
