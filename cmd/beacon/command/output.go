package command

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// columns lays rows out as Consul's tables are (ryanuber/columnize): cells
// trimmed, every column but the last padded to its widest cell, two spaces
// between columns, no trailing newline.
func columns(rows [][]string) string {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(strings.TrimSpace(cell)))
		}
	}
	var b strings.Builder
	for r, row := range rows {
		if r > 0 {
			b.WriteByte('\n')
		}
		for i, cell := range row {
			cell = strings.TrimSpace(cell)
			if i == len(row)-1 {
				b.WriteString(cell)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
		}
	}
	return b.String()
}

// keyValues renders a map as k=v pairs sorted by key, joined by sep.
func keyValues(m map[string]string, sep string) string {
	pairs := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pairs = append(pairs, k+"="+m[k])
	}
	return strings.Join(pairs, sep)
}
