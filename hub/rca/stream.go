package rca

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/aurora-hub/aurora-hub/hub"
)

// Limits on the thoughts taken from a model's stream.
const (
	minThought = 24  // shorter sentences are joined with the next
	maxThought = 400 // longer ones are cut at a space
	maxStepsIn = 64  // analysis steps read from one answer
)

// streamReader reads a Chat Completions stream (server-sent events, one
// chunk per "data:" event, ending with "data: [DONE]") into the answer's
// content, and turns the model's reasoning into thoughts as it arrives: its
// reasoning deltas (reasoning_content, reasoning), a <think> block at the
// start of its content, and the "analysis_steps" it writes first.
type streamReader struct {
	in    *Input
	redac func(string) string

	content strings.Builder
	said    sentences
	thinkAt int // bytes of a leading <think> block already said
	steps   int // analysis_steps already said
	stepsAt int // where the steps array starts in content, -1 unknown
}

func newStreamReader(in *Input, redact func(string) string) *streamReader {
	s := &streamReader{in: in, redac: redact, stepsAt: -1}
	s.said.emit = func(text string) { in.think(hub.ThoughtAnalysis, "%s", text) }
	return s
}

// chunk is one event of the stream.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			Reasoning        string          `json:"reasoning"`
		} `json:"delta"`
		Text string `json:"text"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

// read consumes the stream; it returns the content, or why there is none.
// err is a transport error (a timeout, a reset), for the caller to name.
func (s *streamReader) read(body io.Reader) (content, reason string, err error) {
	br := bufio.NewReaderSize(body, 32<<10)
	var data [][]byte
	total := 0
	done := false
	dispatch := func() string {
		if len(data) == 0 {
			return ""
		}
		ev := bytes.Join(data, []byte("\n"))
		data = data[:0]
		if string(bytes.TrimSpace(ev)) == "[DONE]" {
			done = true
			return ""
		}
		return s.event(ev)
	}
	for !done {
		line, rerr := br.ReadBytes('\n')
		total += len(line)
		if total > maxResponseBytes {
			return "", "LLM answer was too large", nil
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && rerr == nil:
			if r := dispatch(); r != "" {
				return "", r, nil
			}
		case bytes.HasPrefix(line, []byte(":")):
			// A comment (keep-alive).
		case bytes.HasPrefix(line, []byte("data:")):
			v := line[len("data:"):]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			data = append(data, append([]byte(nil), v...))
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return "", "", rerr
			}
			if r := dispatch(); r != "" {
				return "", r, nil
			}
			break
		}
	}
	s.said.flush()
	if strings.TrimSpace(s.content.String()) == "" {
		if !done {
			return "", "LLM stream ended before an answer", nil
		}
		return "", "LLM answer was empty", nil
	}
	// A stream cut short still parses if the answer is whole.
	return s.content.String(), "", nil
}

// event handles one chunk.
func (s *streamReader) event(ev []byte) string {
	var c chunk
	if json.Unmarshal(ev, &c) != nil {
		return "LLM stream sent a chunk that is not JSON"
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		msg := str(object(c.Error)["message"])
		if msg == "" {
			msg = str(c.Error)
		}
		if msg = s.redac(snippet(msg)); msg != "" {
			return "LLM stream failed: " + msg
		}
		return "LLM stream failed"
	}
	if len(c.Choices) == 0 {
		return "" // e.g. a usage-only chunk
	}
	ch := c.Choices[0]
	if r := ch.Delta.ReasoningContent + ch.Delta.Reasoning; r != "" {
		s.said.add(r)
	}
	var text string
	if len(ch.Delta.Content) > 0 && json.Unmarshal(ch.Delta.Content, &text) != nil {
		text = ""
	}
	if text == "" {
		text = ch.Text
	}
	if text != "" {
		s.content.WriteString(text)
		s.fromContent()
	}
	return ""
}

// fromContent says what the content holds so far: a leading <think> block
// as sentences, then the analysis steps as they complete.
func (s *streamReader) fromContent() {
	c := s.content.String()
	trimmed := strings.TrimLeftFunc(c, unicode.IsSpace)
	if strings.HasPrefix(trimmed, "<think>") {
		start := len(c) - len(trimmed) + len("<think>")
		end := strings.Index(c[start:], "</think>")
		upto := len(c)
		if end >= 0 {
			upto = start + end
		} else {
			// Keep back what could be the start of "</think>".
			upto = max(start, len(c)-len("</think>"))
		}
		if from := start + s.thinkAt; upto > from {
			s.said.add(c[from:upto])
			s.thinkAt = upto - start
		}
		if end < 0 {
			return
		}
		s.said.flush()
	}
	s.analysisSteps(c)
}

// analysisSteps says each complete string of the answer's
// "analysis_steps" array not said yet.
func (s *streamReader) analysisSteps(c string) {
	if s.steps >= maxStepsIn {
		return
	}
	if s.stepsAt < 0 {
		i := strings.Index(c, `"analysis_steps"`)
		if i < 0 {
			return
		}
		j := strings.IndexByte(c[i:], '[')
		if j < 0 {
			return
		}
		s.stepsAt = i + j
	}
	dec := json.NewDecoder(strings.NewReader(c[s.stepsAt:]))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return
	}
	for n := 0; n < maxStepsIn && dec.More(); n++ {
		var v any
		if dec.Decode(&v) != nil {
			return // not complete yet
		}
		if n < s.steps {
			continue
		}
		s.steps++
		if text, ok := v.(string); ok {
			s.said.flush()
			s.in.think(hub.ThoughtAnalysis, "%s", cut(strings.TrimSpace(text), maxThought))
		}
	}
}

// sentences cuts streamed text into sentence-sized thoughts.
type sentences struct {
	buf  strings.Builder
	emit func(string)
}

func (s *sentences) add(text string) {
	s.buf.WriteString(text)
	for {
		b := s.buf.String()
		i := sentenceEnd(b)
		if i < 0 {
			if len(b) > maxThought {
				cutAt := strings.LastIndexByte(b[:maxThought], ' ')
				if cutAt <= 0 {
					cutAt = len(cut(b, maxThought))
				}
				s.say(b[:cutAt])
				s.reset(b[cutAt:])
				continue
			}
			return
		}
		s.say(b[:i])
		s.reset(b[i:])
	}
}

func (s *sentences) reset(rest string) {
	s.buf.Reset()
	s.buf.WriteString(rest)
}

func (s *sentences) say(text string) {
	if text = strings.Join(strings.Fields(text), " "); text != "" && s.emit != nil {
		s.emit(text)
	}
}

func (s *sentences) flush() {
	s.say(s.buf.String())
	s.buf.Reset()
}

// sentenceEnd is where the first sentence of b long enough to be a thought
// ends (after its terminator), or -1: a ".", "!" or "?" followed by white
// space, or a blank line (which ends even a short one).
func sentenceEnd(b string) int {
	for i := 0; i < len(b)-1; i++ {
		switch {
		case b[i] == '\n' && b[i+1] == '\n':
			if strings.TrimSpace(b[:i]) != "" {
				return i + 2 // a paragraph ends a thought, however short
			}
		case (b[i] == '.' || b[i] == '!' || b[i] == '?') && (b[i+1] == ' ' || b[i+1] == '\n'):
			if len(strings.TrimSpace(b[:i+1])) >= minThought {
				return i + 1
			}
		}
	}
	return -1
}
