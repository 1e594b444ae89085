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

// AddrList is a repeatable flag of addresses that also takes
// comma-separated lists (-catalog a:8502,b:8502). Its first use replaces
// the default it was created with.
type AddrList struct {
	Addrs []string
	set   bool
}

// String joins the addresses with commas.
func (l *AddrList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.Addrs, ",")
}

// Set appends the addresses in v, dropping the default on first use.
func (l *AddrList) Set(v string) error {
	if !l.set {
		l.Addrs, l.set = nil, true
	}
	for a := range strings.SplitSeq(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			l.Addrs = append(l.Addrs, a)
		}
	}
	return nil
}
