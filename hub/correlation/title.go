package correlation

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// stopwords carry no meaning in alert titles.
var stopwords = map[string]bool{
	"a": true, "an": true, "the": true, "on": true, "in": true, "of": true, "for": true,
	"at": true, "to": true, "is": true, "and": true, "or": true, "with": true, "by": true, "from": true,
}

// stopwordMaxLen is the length of the longest stop word: a longer token is
// not one.
var stopwordMaxLen = func() int {
	n := 0
	for w := range stopwords {
		n = max(n, len(w))
	}
	return n
}()

// isStopword reports whether a lower-cased token is a stop word.
func isStopword(t []rune) bool {
	var b [8]byte
	if len(t) > stopwordMaxLen || len(t) > len(b) {
		return false
	}
	for i, r := range t {
		if r >= utf8.RuneSelf {
			return false // every stop word is ASCII
		}
		b[i] = byte(r)
	}
	return stopwords[string(b[:len(t)])]
}

// span is a token's runes in a rune buffer.
type span struct{ start, end int }

// appendTokens appends the title tokens of s to runes and their spans to
// spans: the runs of letters and digits of s lower-cased (as
// strings.ToLower does it, rune by rune), without stop words and tokens
// that contain a digit. TitleTokens is this as strings.
func appendTokens(runes []rune, spans []span, s string) ([]rune, []span) {
	start, digit := -1, false
	for i := 0; i < len(s); {
		var r rune
		var class uint8
		if c := s[i]; c < utf8.RuneSelf {
			r, class = rune(asciiLower[c]), asciiClass[c]
			i++
		} else {
			var n int
			r, n = utf8.DecodeRuneInString(s[i:])
			i += n
			switch r = unicode.ToLower(r); {
			case unicode.IsLetter(r):
				class = letterClass
			case unicode.IsDigit(r):
				class = digitClass
			}
		}
		if class == separator {
			if start >= 0 {
				runes, spans = endToken(runes, spans, start, digit)
				start = -1
			}
			continue
		}
		if start < 0 {
			start, digit = len(runes), false
		}
		if class == digitClass {
			digit = true
		}
		runes = append(runes, r)
	}
	if start >= 0 {
		runes, spans = endToken(runes, spans, start, digit)
	}
	return runes, spans
}

// endToken keeps the token runes[start:], or drops it when it has a digit
// or is a stop word.
func endToken(runes []rune, spans []span, start int, digit bool) ([]rune, []span) {
	if digit || isStopword(runes[start:]) {
		return runes[:start], spans
	}
	return runes, append(spans, span{start, len(runes)})
}

// Character classes of appendTokens.
const (
	separator uint8 = iota
	letterClass
	digitClass
)

// asciiLower and asciiClass are unicode.ToLower and the class of the
// lower-cased rune for ASCII.
var asciiLower, asciiClass = func() (lower, class [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		r := unicode.ToLower(rune(c))
		lower[c] = uint8(r)
		switch {
		case unicode.IsLetter(r):
			class[c] = letterClass
		case unicode.IsDigit(r):
			class[c] = digitClass
		}
	}
	return lower, class
}()

// TitleTokens lower-cases a title and splits it into word tokens, dropping
// stop words and every token that contains a digit (numbers, pod and
// request ids, versions), so "High latency on pod-7f9c" is [high latency pod].
func TitleTokens(title string) []string {
	runes, spans := appendTokens(nil, nil, title)
	out := make([]string, len(spans))
	if len(spans) == 0 {
		return out
	}
	// One string holds every token, each token a substring of it.
	var b []byte
	ends := make([]int, len(spans))
	for i, sp := range spans {
		for _, r := range runes[sp.start:sp.end] {
			b = utf8.AppendRune(b, r)
		}
		ends[i] = len(b)
	}
	all, from := string(b), 0
	for i, e := range ends {
		out[i], from = all[from:e], e
	}
	return out
}

// TitleSimilarity is in [0, 1]: the mean of the Jaccard index of the two
// titles' word tokens and of their character trigrams (see TitleTokens).
// Titles without any token are similar to nothing.
func TitleSimilarity(a, b string) float64 {
	var fa, fb title
	fa.parse(a)
	fb.parse(b)
	return similarity(&fa.all, &fb.all)
}

// title is what the title score needs of one incident, computed once per
// incident; its buffers are reused when it parses the next one.
type title struct {
	runes  []rune   // the runes of tokens
	spans  []span   // scratch
	tokens [][]rune // the title's tokens, in order (TitleTokens)
	all    tokenSet // of tokens

	nameRunes []rune
	names     [][]rune  // the tokens of the service name and id, sorted, distinct
	namesOf   [2]string // the service name and id names are of
	hasNames  bool      // names are set
}

// forget drops the strings names were parsed from (a pooled title must not
// keep them alive).
func (t *title) forget() {
	t.hasNames, t.namesOf = false, [2]string{}
}

// parse sets tokens and all from a title.
func (t *title) parse(s string) {
	t.runes, t.spans = appendTokens(t.runes[:0], t.spans[:0], s)
	t.tokens = t.tokens[:0]
	for _, sp := range t.spans {
		t.tokens = append(t.tokens, t.runes[sp.start:sp.end:sp.end])
	}
	t.all.build(t.tokens)
}

// parseNames sets names from a service's name and id, unless they are the
// last ones it parsed (the candidates of a storm share their service).
func (t *title) parseNames(serviceName, serviceID string) {
	if t.hasNames && t.namesOf == [2]string{serviceName, serviceID} {
		return
	}
	t.hasNames, t.namesOf = true, [2]string{serviceName, serviceID}
	t.nameRunes, t.spans = appendTokens(t.nameRunes[:0], t.spans[:0], serviceName)
	t.nameRunes, t.spans = appendTokens(t.nameRunes, t.spans, serviceID)
	t.names = t.names[:0]
	for _, sp := range t.spans {
		t.names = append(t.names, t.nameRunes[sp.start:sp.end:sp.end])
	}
	slices.SortFunc(t.names, slices.Compare[[]rune])
	t.names = slices.CompactFunc(t.names, slices.Equal[[]rune])
}

// has reports whether a token is among sorted, distinct names.
func has(names [][]rune, tok []rune) bool {
	if len(names) > 8 {
		_, ok := slices.BinarySearchFunc(names, tok, slices.Compare[[]rune])
		return ok
	}
	for _, n := range names {
		if slices.Equal(n, tok) {
			return true
		}
	}
	return false
}

// tokenSet is the two sets a similarity compares: the distinct tokens and
// the distinct character trigrams of the tokens joined by single spaces
// and padded with a space, each trigram packed into a uint64 (21 bits a
// rune), both sorted.
type tokenSet struct {
	words [][]rune
	grams []uint64
}

// gramMask keeps the three runes of a packed trigram.
const gramMask = 1<<63 - 1

func (s *tokenSet) build(tokens [][]rune) {
	s.words = append(s.words[:0], tokens...)
	slices.SortFunc(s.words, slices.Compare[[]rune])
	s.words = slices.CompactFunc(s.words, slices.Equal[[]rune])
	s.grams = s.grams[:0]
	if len(tokens) == 0 {
		return
	}
	g, n := uint64(' '), 1
	push := func(r rune) {
		g = (g<<21 | uint64(r)) & gramMask
		if n++; n >= 3 {
			s.grams = append(s.grams, g)
		}
	}
	for _, t := range tokens {
		for _, r := range t {
			push(r)
		}
		push(' ')
	}
	slices.Sort(s.grams)
	s.grams = slices.Compact(s.grams)
}

// similarity is the mean of the Jaccard indexes of the words and of the
// trigrams; 0 when either side has no token.
func similarity(a, b *tokenSet) float64 {
	if len(a.words) == 0 || len(b.words) == 0 {
		return 0
	}
	words := jaccardWords(a.words, b.words)
	grams := jaccardGrams(a.grams, b.grams)
	return Clamp01((words + grams) / 2)
}

func jaccardWords(a, b [][]rune) float64 { return jaccard(a, b, slices.Compare[[]rune]) }

func jaccardGrams(a, b []uint64) float64 { return jaccard(a, b, cmp.Compare[uint64]) }

// jaccard is the Jaccard index of two sorted sets without duplicates (0
// for two empty ones), counting the intersection in one merge.
func jaccard[T any](a, b []T, compare func(T, T) int) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := compare(a[i], b[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			inter++
			i++
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// appendNormalized appends NormalizeServiceName(s) to dst.
func appendNormalized(dst []byte, s string) []byte {
	start, dash := len(dst), false
	for _, r := range strings.TrimSpace(s) {
		r = unicode.ToLower(r)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && len(dst) > start {
				dst = append(dst, '-')
			}
			dash = false
			dst = utf8.AppendRune(dst, r)
			continue
		}
		dash = true
	}
	return dst
}
