// Package flags holds the flag.Value types Consul-style command lines need:
// repeatable flags such as -retry-join and -config-dir.
package flags

import "strings"

// StringList is a repeatable string flag.
type StringList []string

// String joins the values with commas.
func (s *StringList) String() string {
	if s == nil {
		return ""
	}
	return strings.Join(*s, ",")
}

// Set appends one value.
func (s *StringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
