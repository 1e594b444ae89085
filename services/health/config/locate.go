package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/hcl/ast"
)

// locator remembers the line of every key path in a file, so that errors
// found after decoding (a bad interval in the third check) can still name
// a line. Paths are compared with key spellings folded; since a single
// object and a one-element list are the same thing to the decoder, a "[0]"
// in a looked-up path may be absent from the file's.
type locator struct {
	lines map[string]int
	// loose is keyed by paths with every "[0]" dropped; of several paths
	// that fold together, the one with the most "[0]" (the most specific)
	// wins.
	loose map[string]looseLine
}

type looseLine struct{ line, zeros int }

func (l *locator) add(path string, line int) {
	if l.lines == nil {
		l.lines = map[string]int{}
		l.loose = map[string]looseLine{}
	}
	k := canon(path)
	if _, ok := l.lines[k]; !ok {
		l.lines[k] = line
	}
	zeros := strings.Count(k, "[0]")
	lk := strings.ReplaceAll(k, "[0]", "")
	if old, ok := l.loose[lk]; !ok || zeros > old.zeros {
		l.loose[lk] = looseLine{line, zeros}
	}
}

// line returns the line of path, or of its nearest enclosing key; 0 when
// nothing is known.
func (l *locator) line(path string) int {
	if l == nil {
		return 0
	}
	for p := canon(path); p != ""; p = parentPath(p) {
		for _, v := range zeroVariants(p) {
			if n, ok := l.lines[v]; ok {
				return n
			}
		}
		if ll, ok := l.loose[strings.ReplaceAll(p, "[0]", "")]; ok {
			return ll.line
		}
	}
	return 0
}

// zeroVariants returns p with every subset of its "[0]" dropped, those
// keeping the most first.
func zeroVariants(p string) []string {
	parts := strings.Split(p, "[0]")
	n := len(parts) - 1
	if n > 8 {
		return []string{p}
	}
	masks := make([]int, 0, 1<<n)
	for m := range 1 << n {
		masks = append(masks, m)
	}
	slices.SortStableFunc(masks, func(a, b int) int { return bits.OnesCount(uint(b)) - bits.OnesCount(uint(a)) })
	out := make([]string, 0, len(masks))
	for _, m := range masks {
		var b strings.Builder
		b.WriteString(parts[0])
		for i := 1; i <= n; i++ {
			if m&(1<<(i-1)) != 0 {
				b.WriteString("[0]")
			}
			b.WriteString(parts[i])
		}
		out = append(out, b.String())
	}
	return out
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	if key == "" {
		return prefix
	}
	return prefix + "." + key
}

// locateHCL indexes an HCL1 syntax tree.
func locateHCL(f *ast.File) *locator {
	l := &locator{}
	if list, ok := f.Node.(*ast.ObjectList); ok {
		walkHCL(l, "", list)
	}
	return l
}

func walkHCL(l *locator, prefix string, list *ast.ObjectList) {
	counts := map[string]int{}
	for _, item := range list.Items {
		if len(item.Keys) == 0 {
			continue
		}
		key := unquote(item.Keys[0].Token.Text)
		line := item.Keys[0].Pos().Line
		base := joinPath(prefix, key)
		l.add(base, line)
		switch v := item.Val.(type) {
		case *ast.ObjectType:
			p := fmt.Sprintf("%s[%d]", base, counts[canon(key)])
			counts[canon(key)]++
			l.add(p, line)
			walkHCL(l, p, v.List)
		case *ast.ListType:
			for _, e := range v.List {
				p := fmt.Sprintf("%s[%d]", base, counts[canon(key)])
				counts[canon(key)]++
				l.add(p, e.Pos().Line)
				if o, ok := e.(*ast.ObjectType); ok {
					walkHCL(l, p, o.List)
				}
			}
		}
	}
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// locateJSON indexes a JSON document by walking its tokens.
func locateJSON(data []byte) (*locator, error) {
	l := &locator{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value func(prefix string) error
	value = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				p := joinPath(prefix, key)
				l.add(p, lineAt(data, int(dec.InputOffset())))
				if err := value(p); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				p := fmt.Sprintf("%s[%d]", prefix, i)
				l.add(p, lineAt(data, skipSeparators(data, int(dec.InputOffset()))))
				if err := value(p); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	if err := value(""); err != nil {
		return l, err
	}
	return l, nil
}

// skipSeparators moves off past whitespace, commas and colons to where the
// next JSON value starts.
func skipSeparators(data []byte, off int) int {
	for off < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}
